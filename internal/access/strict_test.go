package access

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestAtLeastAsStrict(t *testing.T) {
	office := TimeWindow{Days: []string{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "08:00", End: "20:00", TimeZone: "Europe/Berlin"}
	nights := TimeWindow{Days: []string{"Fri", "Sat"}, Start: "22:00", End: "04:00", TimeZone: "Europe/Berlin"}
	cases := map[string]struct {
		child, parent Conditions
		want          []string // problems, in order, by prefix
	}{
		"no parent conditions":       {Conditions{}, Conditions{}, nil},
		"child adds conditions":      {Conditions{Countries: []string{"DE"}, RequireCompliantDevice: true}, Conditions{}, nil},
		"equal":                      {fullParent(), fullParent(), nil},
		"narrower in every way":      {narrowChild(), fullParent(), nil},
		"child without any":          {Conditions{}, fullParent(), []string{"sourceCIDRs: parent key \"org-key\" is limited to 10.0.0.0/8, 2001:db8::/32", "countries: parent key \"org-key\" is limited to the countries DE, NL", "networks: parent key \"org-key\" is limited to the network classes corp, vpn", "timeWindows: parent key \"org-key\" is limited to the time windows Mon,Tue,Wed,Thu,Fri 08:00-20:00 Europe/Berlin", "requireCompliantDevice: parent key \"org-key\" requires a compliant device"}},
		"a wider network":            {Conditions{SourceCIDRs: []string{"10.1.0.0/16", "0.0.0.0/0"}}, Conditions{SourceCIDRs: []string{"10.0.0.0/8"}}, []string{`sourceCIDRs[1]: network 0.0.0.0/0 is not inside the networks of parent key "org-key" (10.0.0.0/8)`}},
		"a network beside":           {Conditions{SourceCIDRs: []string{"192.168.0.0/16"}}, Conditions{SourceCIDRs: []string{"10.0.0.0/8"}}, []string{`sourceCIDRs[0]: network 192.168.0.0/16 is not inside`}},
		"IPv6 inside":                {Conditions{SourceCIDRs: []string{"2001:db8:1::/48"}}, Conditions{SourceCIDRs: []string{"2001:db8::/32"}}, nil},
		"IPv4 under an IPv6 parent":  {Conditions{SourceCIDRs: []string{"10.0.0.0/8"}}, Conditions{SourceCIDRs: []string{"::/0"}}, []string{`sourceCIDRs[0]: network 10.0.0.0/8 is not inside`}},
		"mapped inside IPv4":         {Conditions{SourceCIDRs: []string{"::ffff:10.1.0.0/112"}}, Conditions{SourceCIDRs: []string{"10.0.0.0/8"}}, nil},
		"unparsable child CIDR":      {Conditions{SourceCIDRs: []string{"x"}}, Conditions{SourceCIDRs: []string{"0.0.0.0/0"}}, []string{`sourceCIDRs[0]: network x is not inside`}},
		"unparsable parent CIDR":     {Conditions{SourceCIDRs: []string{"10.0.0.0/8"}}, Conditions{SourceCIDRs: []string{"x"}}, []string{`sourceCIDRs[0]: network 10.0.0.0/8 is not inside`}},
		"a broader country":          {Conditions{Countries: []string{"DE", "FR"}}, Conditions{Countries: []string{"DE", "NL"}}, []string{`countries[1]: country "FR" is not allowed by parent key "org-key" (parent allows: DE, NL)`}},
		"a broader network class":    {Conditions{Networks: []string{"wifi"}}, Conditions{Networks: []string{"corp"}}, []string{`networks[0]: network class "wifi" is not allowed by parent key "org-key" (parent allows: corp)`}},
		"no compliant device":        {Conditions{}, Conditions{RequireCompliantDevice: true}, []string{`requireCompliantDevice: parent key "org-key" requires a compliant device; a delegated key must require one too`}},
		"a window inside":            {win(TimeWindow{Days: []string{"Wed"}, Start: "09:00", End: "17:00", TimeZone: "Europe/Berlin"}), win(office), nil},
		"the same window":            {win(office), win(office), nil},
		"a window on another day":    {win(TimeWindow{Days: []string{"Sat"}, Start: "09:00", End: "17:00", TimeZone: "Europe/Berlin"}), win(office), []string{`timeWindows[0]: time window Sat 09:00-17:00 Europe/Berlin is not inside the time windows of parent key "org-key" (Mon,Tue,Wed,Thu,Fri 08:00-20:00 Europe/Berlin)`}},
		"every day under weekdays":   {win(TimeWindow{Start: "09:00", End: "17:00", TimeZone: "Europe/Berlin"}), win(office), []string{`timeWindows[0]: time window every day 09:00-17:00`}},
		"a window starting earlier":  {win(TimeWindow{Days: []string{"Mon"}, Start: "07:59", End: "17:00", TimeZone: "Europe/Berlin"}), win(office), []string{`timeWindows[0]: time window Mon 07:59-17:00`}},
		"a window ending later":      {win(TimeWindow{Days: []string{"Mon"}, Start: "09:00", End: "20:01", TimeZone: "Europe/Berlin"}), win(office), []string{`timeWindows[0]:`}},
		"another zone":               {win(TimeWindow{Days: []string{"Mon"}, Start: "09:00", End: "10:00", TimeZone: "Europe/Paris"}), win(office), []string{`timeWindows[0]: time window Mon 09:00-10:00 Europe/Paris is in time zone Europe/Paris, but the time windows of parent key "org-key" are not`}},
		"UTC spelled two ways":       {win(TimeWindow{Start: "09:00", End: "10:00"}), win(TimeWindow{Start: "08:00", End: "11:00", TimeZone: "UTC"}), nil},
		"inside a wrapping window":   {win(TimeWindow{Days: []string{"Sat"}, Start: "23:00", End: "03:00", TimeZone: "Europe/Berlin"}), win(nights), nil},
		"after midnight of one":      {win(TimeWindow{Days: []string{"Sun"}, Start: "00:00", End: "04:00", TimeZone: "Europe/Berlin"}), win(nights), nil},
		"the morning it opens":       {win(TimeWindow{Days: []string{"Fri"}, Start: "00:00", End: "04:00", TimeZone: "Europe/Berlin"}), win(nights), []string{`timeWindows[0]: time window Fri 00:00-04:00`}},
		"wrapping past the parent's": {win(TimeWindow{Days: []string{"Sat"}, Start: "23:00", End: "05:00", TimeZone: "Europe/Berlin"}), win(nights), []string{`timeWindows[0]: time window Sat 23:00-05:00`}},
		"wrapping, parent daytime":   {win(TimeWindow{Days: []string{"Mon"}, Start: "19:00", End: "09:00", TimeZone: "Europe/Berlin"}), win(office), []string{`timeWindows[0]:`}},
		"across two whole days":      {win(TimeWindow{Days: []string{"Mon"}, Start: "22:00", End: "02:00"}), win(TimeWindow{Days: []string{"Mon", "Tue"}, Start: "00:00", End: "24:00"}), nil},
		"Sunday night into Monday":   {win(TimeWindow{Days: []string{"Sun"}, Start: "22:00", End: "02:00"}), win(TimeWindow{Days: []string{"Sun", "Mon"}, Start: "00:00", End: "24:00"}), nil},
		"Sunday night, no Monday":    {win(TimeWindow{Days: []string{"Sun"}, Start: "22:00", End: "02:00"}), win(TimeWindow{Days: []string{"Sun"}, Start: "00:00", End: "24:00"}), []string{`timeWindows[0]: time window Sun 22:00-02:00 UTC`}},
		"inside the union of two":    {win(TimeWindow{Start: "09:00", End: "13:00"}), win(TimeWindow{Start: "08:00", End: "11:00"}, TimeWindow{Start: "11:00", End: "14:00"}), nil},
		"across a gap of two":        {win(TimeWindow{Start: "09:00", End: "13:00"}), win(TimeWindow{Start: "08:00", End: "11:00"}, TimeWindow{Start: "11:01", End: "14:00"}), []string{`timeWindows[0]:`}},
		"an invalid child window":    {win(TimeWindow{Start: "09:00", End: "10:00", TimeZone: "Mars/Base"}), win(office), []string{`timeWindows[0]: time window 09:00-10:00 Mars/Base is not valid`}},
		"second child window wider":  {win(TimeWindow{Days: []string{"Mon"}, Start: "09:00", End: "10:00", TimeZone: "Europe/Berlin"}, TimeWindow{Days: []string{"Sun"}, Start: "09:00", End: "10:00", TimeZone: "Europe/Berlin"}), win(office), []string{`timeWindows[1]:`}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ps := AtLeastAsStrict(tc.child, tc.parent, "org-key")
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			g.Expect(got).To(HaveLen(len(tc.want)), "%v", got)
			for i, w := range tc.want {
				g.Expect(got[i]).To(HavePrefix(w))
			}
		})
	}
}

func fullParent() Conditions {
	return Conditions{
		SourceCIDRs:            []string{"10.0.0.0/8", "2001:db8::/32"},
		TimeWindows:            []TimeWindow{{Days: []string{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "08:00", End: "20:00", TimeZone: "Europe/Berlin"}},
		Countries:              []string{"DE", "NL"},
		Networks:               []string{"corp", "vpn"},
		RequireCompliantDevice: true,
	}
}

func narrowChild() Conditions {
	return Conditions{
		SourceCIDRs:            []string{"10.1.0.0/16", "2001:db8:5::/48"},
		TimeWindows:            []TimeWindow{{Days: []string{"Tue", "Thu"}, Start: "09:00", End: "12:00", TimeZone: "Europe/Berlin"}},
		Countries:              []string{"NL"},
		Networks:               []string{"corp"},
		RequireCompliantDevice: true,
	}
}

func win(ws ...TimeWindow) Conditions { return Conditions{TimeWindows: ws} }
