package access

import (
	"errors"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestCompileAcceptsValidConditions(t *testing.T) {
	cases := map[string]Conditions{
		"nothing":           {},
		"empty lists":       {SourceCIDRs: []string{}, Countries: []string{}, TimeWindows: []TimeWindow{}},
		"IPv4 and IPv6":     {SourceCIDRs: []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"}},
		"unmasked CIDR":     {SourceCIDRs: []string{"10.1.2.3/8"}},
		"IPv4-mapped CIDR":  {SourceCIDRs: []string{"::ffff:10.0.0.0/104"}},
		"countries":         {Countries: []string{"DE", "NL"}},
		"networks":          {Networks: []string{"corp", "vpn-eu-1"}},
		"device":            {RequireCompliantDevice: true},
		"office hours":      {TimeWindows: []TimeWindow{{Days: []string{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "09:00", End: "18:00", TimeZone: "Europe/Berlin"}}},
		"whole day in UTC":  {TimeWindows: []TimeWindow{{Start: "00:00", End: "24:00", TimeZone: "UTC"}}},
		"wrapping":          {TimeWindows: []TimeWindow{{Days: []string{"Fri"}, Start: "22:00", End: "02:00"}}},
		"last minute":       {TimeWindows: []TimeWindow{{Start: "23:59", End: "24:00"}}},
		"a zone with a '+'": {TimeWindows: []TimeWindow{{Start: "08:00", End: "09:00", TimeZone: "Etc/GMT+5"}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			compiled, err := Compile(c)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(compiled).NotTo(BeNil())
		})
	}
}

func TestCompileReportsEveryProblemWithItsField(t *testing.T) {
	cases := map[string]struct {
		in   Conditions
		want []string
	}{
		"bad CIDRs": {
			Conditions{SourceCIDRs: []string{"10.0.0.0/8", "10.0.0.300/8", "10.0.0.0", ""}},
			[]string{
				`sourceCIDRs[1]: "10.0.0.300/8" is not a network in CIDR notation`,
				`sourceCIDRs[2]: "10.0.0.0" is not a network in CIDR notation`,
				`sourceCIDRs[3]: "" is not a network in CIDR notation`,
			},
		},
		"a zoned CIDR": {Conditions{SourceCIDRs: []string{"fe80::%eth0/64"}}, []string{`sourceCIDRs[0]: "fe80::%eth0/64" is not a network`}},
		"bad countries": {
			Conditions{Countries: []string{"DE", "de", "DEU", "", "Ü1"}},
			[]string{
				`countries[1]: "de" is not an ISO 3166-1 alpha-2 country code`,
				`countries[2]: "DEU" is not`,
				`countries[3]: "" is not`,
				`countries[4]: "Ü1" is not`,
			},
		},
		"bad networks": {
			Conditions{Networks: []string{"corp", "Corp", "-vpn", "vpn-", "", "a_b"}},
			[]string{
				`networks[1]: network class name "Corp" is not a DNS label`,
				`networks[2]: network class name "-vpn"`,
				`networks[3]: network class name "vpn-"`,
				`networks[4]: network class name ""`,
				`networks[5]: network class name "a_b"`,
			},
		},
		"bad times": {
			Conditions{TimeWindows: []TimeWindow{
				{Start: "24:00", End: "01:00"},
				{Start: "9:00", End: "10:00"},
				{Start: "09:60", End: "25:00"},
				{Start: "09:00", End: "24:01"},
				{Start: "0900", End: "10:00 "},
			}},
			[]string{
				`timeWindows[0].start: "24:00" is not a time of day in HH:MM form, 00:00 to 23:59`,
				`timeWindows[1].start: "9:00" is not`,
				`timeWindows[2].start: "09:60" is not`,
				`timeWindows[2].end: "25:00" is not a time of day in HH:MM form, 00:00 to 24:00`,
				`timeWindows[3].end: "24:01" is not`,
				`timeWindows[4].start: "0900" is not`,
				`timeWindows[4].end: "10:00 " is not`,
			},
		},
		"an empty window": {
			Conditions{TimeWindows: []TimeWindow{{Start: "00:00", End: "24:00"}, {Start: "09:00", End: "09:00"}}},
			[]string{`timeWindows[1].end: the window opens and closes at 09:00: it would be empty`},
		},
		"bad days": {
			Conditions{TimeWindows: []TimeWindow{{Days: []string{"Mon", "mon", "Monday", ""}, Start: "09:00", End: "10:00"}}},
			[]string{
				`timeWindows[0].days[1]: "mon" is not a weekday: use Mon, Tue, Wed, Thu, Fri, Sat or Sun`,
				`timeWindows[0].days[2]: "Monday" is not a weekday`,
				`timeWindows[0].days[3]: "" is not a weekday`,
			},
		},
		"bad zones": {
			Conditions{TimeWindows: []TimeWindow{
				{Start: "09:00", End: "10:00", TimeZone: "Europe/Berlin"},
				{Start: "09:00", End: "10:00", TimeZone: "Mars/Base"},
				{Start: "09:00", End: "10:00", TimeZone: "Local"},
				{Start: "09:00", End: "10:00", TimeZone: "../../etc/passwd"},
				{Start: "09:00", End: "10:00", TimeZone: "Europe"},
				{Start: "09:00", End: "10:00", TimeZone: "America/" + strings.Repeat("x", 57)},
			}},
			[]string{
				`timeWindows[1].timeZone: unknown time zone "Mars/Base"`,
				`timeWindows[2].timeZone: unknown time zone "Local"`,
				`timeWindows[3].timeZone: unknown time zone "../../etc/passwd"`,
				`timeWindows[4].timeZone: unknown time zone "Europe"`,
				`timeWindows[5].timeZone: a time zone name is at most 64 bytes`,
			},
		},
		"everything at once, in field order": {
			Conditions{
				SourceCIDRs: []string{"x"},
				TimeWindows: []TimeWindow{{Start: "09:00", End: "10:00", TimeZone: "Mars/Base"}},
				Countries:   []string{"fr"},
				Networks:    []string{"Corp"},
			},
			[]string{"sourceCIDRs[0]:", "networks[0]:", "countries[0]:", "timeWindows[0].timeZone:"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			compiled, err := Compile(tc.in)
			g.Expect(compiled).To(BeNil())
			var ps Problems
			g.Expect(errors.As(err, &ps)).To(BeTrue(), "%v", err)
			g.Expect(ps).To(HaveLen(len(tc.want)), "%v", err)
			for i, w := range tc.want {
				g.Expect(ps[i].String()).To(HavePrefix(w))
			}
			g.Expect(err.Error()).To(HavePrefix(ps[0].String()))
		})
	}
}

func TestIsZero(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Conditions{}.IsZero()).To(BeTrue())
	g.Expect(Conditions{SourceCIDRs: []string{}, Countries: []string{}}.IsZero()).To(BeTrue())
	for _, c := range []Conditions{
		{SourceCIDRs: []string{"10.0.0.0/8"}},
		{TimeWindows: []TimeWindow{{Start: "09:00", End: "10:00"}}},
		{Countries: []string{"DE"}},
		{Networks: []string{"corp"}},
		{RequireCompliantDevice: true},
	} {
		g.Expect(c.IsZero()).To(BeFalse(), "%+v", c)
	}
}
