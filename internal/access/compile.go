package access

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	// A time zone the webhook accepted must be known to every verifier,
	// whatever zone database its image has or lacks.
	_ "time/tzdata"
)

const minutesPerDay = 24 * 60

// MaxTimeZoneLength bounds a time zone name, as the API does; IANA names
// are far shorter.
const MaxTimeZoneLength = 64

// weekdays are the day names of the API, indexed by time.Weekday.
var weekdays = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

const everyDay = 1<<7 - 1

// Compiled are conditions ready to check, made by Compile. It is immutable
// and safe for concurrent use.
type Compiled struct {
	sources   []netip.Prefix
	networks  []string
	countries []string
	windows   []window
	device    bool
}

// window is a TimeWindow as minutes after midnight. start < end for a
// window within a day; end < start for one that wraps past midnight.
type window struct {
	zone       string
	loc        *time.Location
	days       uint8 // bit d set: opens on time.Weekday(d)
	start, end int
}

// Compile reads conditions once, for many checks. Its error is Problems,
// everything wrong at once.
func Compile(c Conditions) (*Compiled, error) {
	var ps Problems
	out := &Compiled{device: c.RequireCompliantDevice}
	for i, s := range c.SourceCIDRs {
		p, err := parsePrefix(s)
		if err != nil {
			ps.add(fmt.Sprintf("sourceCIDRs[%d]", i), "%v", err)
			continue
		}
		out.sources = append(out.sources, p)
	}
	for i, n := range c.Networks {
		if !validName(n) {
			ps.add(fmt.Sprintf("networks[%d]", i), "network class name %q is not a DNS label: 1 to %d lower-case letters, digits and \"-\", starting and ending with a letter or digit", n, MaxNameLength)
			continue
		}
		out.networks = append(out.networks, n)
	}
	for i, cc := range c.Countries {
		if !validCountry(cc) {
			ps.add(fmt.Sprintf("countries[%d]", i), "%q is not an ISO 3166-1 alpha-2 country code: two upper-case letters, such as \"DE\"", cc)
			continue
		}
		out.countries = append(out.countries, cc)
	}
	for i, tw := range c.TimeWindows {
		w, wps := compileWindow(tw, fmt.Sprintf("timeWindows[%d]", i))
		ps = append(ps, wps...)
		if len(wps) == 0 {
			out.windows = append(out.windows, w)
		}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func compileWindow(tw TimeWindow, field string) (window, Problems) {
	var ps Problems
	w := window{zone: zoneName(tw.TimeZone)}
	for i, d := range tw.Days {
		bit, ok := weekday(d)
		if !ok {
			ps.add(fmt.Sprintf("%s.days[%d]", field, i), "%q is not a weekday: use Mon, Tue, Wed, Thu, Fri, Sat or Sun", d)
		}
		w.days |= bit
	}
	if len(tw.Days) == 0 {
		w.days = everyDay
	}
	start, startOK := clock(tw.Start, false)
	if !startOK {
		ps.add(field+".start", "%q is not a time of day in HH:MM form, 00:00 to 23:59", tw.Start)
	}
	end, endOK := clock(tw.End, true)
	if !endOK {
		ps.add(field+".end", "%q is not a time of day in HH:MM form, 00:00 to 24:00", tw.End)
	}
	if startOK && endOK && start == end {
		ps.add(field+".end", "the window opens and closes at %s: it would be empty; use 00:00 to 24:00 for a whole day", tw.Start)
	}
	w.start, w.end = start, end
	loc, err := loadZone(tw.TimeZone)
	if err != nil {
		ps.add(field+".timeZone", "%v", err)
	}
	w.loc = loc
	return w, ps
}

// loadZone loads an IANA time zone; "" is UTC. "Local" is refused: it is
// whatever zone the machine that reads it runs in.
func loadZone(name string) (*time.Location, error) {
	switch name {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, fmt.Errorf("unknown time zone %q: name an IANA time zone such as \"Europe/Berlin\"", name)
	}
	if len(name) > MaxTimeZoneLength {
		return nil, fmt.Errorf("a time zone name is at most %d bytes", MaxTimeZoneLength)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

func zoneName(name string) string {
	if name == "" {
		return "UTC"
	}
	return name
}

func weekday(s string) (uint8, bool) {
	for d, name := range weekdays {
		if s == name {
			return 1 << d, true
		}
	}
	return 0, false
}

// clock reads "HH:MM" as minutes after midnight; "24:00" only when allowed.
func clock(s string, allow24 bool) (int, bool) {
	if len(s) != 5 || s[2] != ':' || !digit(s[0]) || !digit(s[1]) || !digit(s[3]) || !digit(s[4]) {
		return 0, false
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if allow24 && h == 24 && m == 0 {
		return minutesPerDay, true
	}
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

func digit(b byte) bool { return b >= '0' && b <= '9' }

func validCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

func upper(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}

// Check returns the first condition env does not meet, in the order
// SourceNotAllowed, NetworkNotAllowed, CountryNotAllowed, OutsideTimeWindow,
// DeviceNotCompliant, or Met. classes are the verifier's network classes.
func (c *Compiled) Check(env Environment, classes Classes) Failure {
	addr := normalAddr(env.Address)
	if len(c.sources) > 0 && !c.sourceAllowed(addr) {
		return SourceNotAllowed
	}
	if len(c.networks) > 0 && !c.networkAllowed(addr, env.Network, classes) {
		return NetworkNotAllowed
	}
	if len(c.countries) > 0 && !c.countryAllowed(env.Country) {
		return CountryNotAllowed
	}
	if len(c.windows) > 0 && !c.timeAllowed(env.Time) {
		return OutsideTimeWindow
	}
	if c.device && env.Device != DeviceCompliant {
		return DeviceNotCompliant
	}
	return Met
}

func (c *Compiled) sourceAllowed(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	for _, p := range c.sources {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func (c *Compiled) networkAllowed(addr netip.Addr, asserted string, classes Classes) bool {
	if asserted != "" {
		for _, n := range c.networks {
			if n == asserted {
				return !addr.IsValid() || classes.In(addr, n)
			}
		}
		return false
	}
	if !addr.IsValid() {
		return false
	}
	for _, n := range c.networks {
		if classes.In(addr, n) {
			return true
		}
	}
	return false
}

func (c *Compiled) countryAllowed(country string) bool {
	if len(country) != 2 {
		return false
	}
	a, b := upper(country[0]), upper(country[1])
	for _, cc := range c.countries {
		if cc[0] == a && cc[1] == b {
			return true
		}
	}
	return false
}

func (c *Compiled) timeAllowed(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	for i := range c.windows {
		if c.windows[i].admits(t) {
			return true
		}
	}
	return false
}

func (w *window) admits(t time.Time) bool {
	t = t.In(w.loc)
	h, m, _ := t.Clock()
	now, day := h*60+m, t.Weekday()
	if w.start < w.end {
		return w.opensOn(day) && now >= w.start && now < w.end
	}
	if now >= w.start {
		return w.opensOn(day)
	}
	// Early morning of a window that opened the evening before.
	return now < w.end && w.opensOn((day+6)%7)
}

func (w *window) opensOn(d time.Weekday) bool { return w.days&(1<<d) != 0 }

// String writes a window for messages, e.g. "Mon,Fri 22:00-02:00 Europe/Berlin".
func (w *window) String() string {
	var b strings.Builder
	if w.days == everyDay {
		b.WriteString("every day")
	} else {
		// Monday first, as people write weeks.
		for _, d := range []time.Weekday{1, 2, 3, 4, 5, 6, 0} {
			if w.opensOn(d) {
				if b.Len() > 0 {
					b.WriteByte(',')
				}
				b.WriteString(weekdays[d])
			}
		}
	}
	fmt.Fprintf(&b, " %02d:%02d-%02d:%02d %s", w.start/60, w.start%60, w.end/60, w.end%60, w.zone)
	return b.String()
}
