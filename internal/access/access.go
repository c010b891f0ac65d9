package access

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Conditions are a key's access conditions as the record carries them. A
// request must meet every condition that is set; an empty Conditions allows
// every environment.
type Conditions struct {
	// SourceCIDRs allows only client addresses inside one of these networks.
	SourceCIDRs []string `json:"sourceCIDRs,omitempty"`
	// TimeWindows allows only requests made inside one of these windows.
	TimeWindows []TimeWindow `json:"timeWindows,omitempty"`
	// Countries allows only requests from these ISO 3166-1 alpha-2 countries
	// (upper case), as a trusted header reports them.
	Countries []string `json:"countries,omitempty"`
	// Networks allows only requests from these named network classes, which
	// the verifier's configuration maps to CIDRs.
	Networks []string `json:"networks,omitempty"`
	// RequireCompliantDevice allows only requests a trusted header marks as
	// coming from a compliant device.
	RequireCompliantDevice bool `json:"requireCompliantDevice,omitempty"`
}

// TimeWindow is a daily window of wall-clock time in a time zone.
type TimeWindow struct {
	// Days are the weekdays the window opens on, "Mon" … "Sun"; empty means
	// every day. A window that wraps past midnight belongs to the day it
	// opens on.
	Days []string `json:"days,omitempty"`
	// Start is the opening time, "HH:MM" (24-hour), inclusive.
	Start string `json:"start"`
	// End is the closing time, "HH:MM", exclusive; an End before Start wraps
	// past midnight. "24:00" ends at midnight.
	End string `json:"end"`
	// TimeZone is an IANA time zone name such as "Europe/Berlin"; empty
	// means UTC.
	TimeZone string `json:"timeZone,omitempty"`
}

// Device is what a trusted header says about the client's device.
type Device uint8

const (
	DeviceUnknown Device = iota
	DeviceCompliant
	DeviceNonCompliant
)

// Environment is what is known about a request beyond its credential.
type Environment struct {
	// Address is the client address; the zero Addr when unknown.
	Address netip.Addr
	// Time is when the request was made.
	Time time.Time
	// Country is the ISO 3166-1 alpha-2 code (any case) or "" when unknown.
	Country string
	// Network is a network class name the caller asserts, or "" to derive
	// the classes from Address.
	Network string
	// Device is the device's compliance.
	Device Device
}

// Failure names the condition a request did not meet. The values are the
// verifier's machine-readable deny reasons.
type Failure string

const (
	// Met: every condition is met.
	Met Failure = ""
	// SourceNotAllowed: the client address is unknown or outside every
	// allowed CIDR.
	SourceNotAllowed Failure = "source_not_allowed"
	// OutsideTimeWindow: the request time is outside every window.
	OutsideTimeWindow Failure = "outside_time_window"
	// CountryNotAllowed: the country is unknown or not allowed.
	CountryNotAllowed Failure = "country_not_allowed"
	// NetworkNotAllowed: the request comes from no allowed network class.
	NetworkNotAllowed Failure = "network_not_allowed"
	// DeviceNotCompliant: the device is not known to be compliant.
	DeviceNotCompliant Failure = "device_not_compliant"
)

// IsZero reports whether no condition is set, so that a record without
// conditions encodes without them whether its lists are nil or empty.
func (c Conditions) IsZero() bool {
	return len(c.SourceCIDRs) == 0 && len(c.TimeWindows) == 0 && len(c.Countries) == 0 &&
		len(c.Networks) == 0 && !c.RequireCompliantDevice
}

// Problem is one thing wrong with conditions, at a field relative to the
// Conditions, such as "timeWindows[1].timeZone" or "countries[0]".
type Problem struct {
	Field   string
	Message string
}

func (p Problem) String() string { return p.Field + ": " + p.Message }

// Problems are everything Compile or ParseClasses found wrong, at once.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

func (ps *Problems) add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}
