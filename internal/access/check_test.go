package access

import (
	"net/netip"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func mustCompile(c Conditions) *Compiled {
	compiled, err := Compile(c)
	if err != nil {
		panic(err)
	}
	return compiled
}

func mustClasses(m map[string][]string) Classes {
	c, err := ParseClasses(m)
	if err != nil {
		panic(err)
	}
	return c
}

var testClasses = mustClasses(map[string][]string{
	"corp": {"10.0.0.0/8", "2001:db8:c0::/48"},
	"vpn":  {"172.16.0.0/12"},
})

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func at(layout string, zone string) time.Time {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		panic(err)
	}
	t, err := time.ParseInLocation("2006-01-02 15:04", layout, loc)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCheck(t *testing.T) {
	// 2026-03-27 is a Friday.
	friday := at("2026-03-27 12:00", "UTC")
	cases := map[string]struct {
		cond Conditions
		env  Environment
		want Failure
	}{
		"no conditions, nothing known": {Conditions{}, Environment{}, Met},

		"source inside":           {Conditions{SourceCIDRs: []string{"10.0.0.0/8"}}, Environment{Address: addr("10.1.2.3")}, Met},
		"source outside":          {Conditions{SourceCIDRs: []string{"10.0.0.0/8"}}, Environment{Address: addr("11.0.0.1")}, SourceNotAllowed},
		"source unknown":          {Conditions{SourceCIDRs: []string{"0.0.0.0/0"}}, Environment{}, SourceNotAllowed},
		"source IPv4-mapped":      {Conditions{SourceCIDRs: []string{"10.0.0.0/8"}}, Environment{Address: addr("::ffff:10.1.2.3")}, Met},
		"network IPv4-mapped":     {Conditions{SourceCIDRs: []string{"::ffff:10.0.0.0/104"}}, Environment{Address: addr("10.1.2.3")}, Met},
		"mapped network, outside": {Conditions{SourceCIDRs: []string{"::ffff:10.0.0.0/104"}}, Environment{Address: addr("11.1.2.3")}, SourceNotAllowed},
		"source IPv6":             {Conditions{SourceCIDRs: []string{"2001:db8::/32"}}, Environment{Address: addr("2001:db8:1::7")}, Met},
		"source IPv6 outside":     {Conditions{SourceCIDRs: []string{"2001:db8::/32"}}, Environment{Address: addr("2001:db9::7")}, SourceNotAllowed},
		"source IPv6 with zone":   {Conditions{SourceCIDRs: []string{"fe80::/10"}}, Environment{Address: addr("fe80::1%eth0")}, Met},
		"IPv6 all, IPv4 client":   {Conditions{SourceCIDRs: []string{"::/0"}}, Environment{Address: addr("192.0.2.1")}, SourceNotAllowed},
		"unmasked CIDR":           {Conditions{SourceCIDRs: []string{"10.9.9.9/8"}}, Environment{Address: addr("10.1.2.3")}, Met},
		"second CIDR":             {Conditions{SourceCIDRs: []string{"192.0.2.0/24", "10.0.0.0/8"}}, Environment{Address: addr("10.1.2.3")}, Met},

		"network from address":        {Conditions{Networks: []string{"vpn", "corp"}}, Environment{Address: addr("10.1.2.3")}, Met},
		"network from IPv6 address":   {Conditions{Networks: []string{"corp"}}, Environment{Address: addr("2001:db8:c0::1")}, Met},
		"network from mapped":         {Conditions{Networks: []string{"corp"}}, Environment{Address: addr("::ffff:10.1.2.3")}, Met},
		"address in another class":    {Conditions{Networks: []string{"vpn"}}, Environment{Address: addr("10.1.2.3")}, NetworkNotAllowed},
		"address in no class":         {Conditions{Networks: []string{"corp"}}, Environment{Address: addr("192.0.2.1")}, NetworkNotAllowed},
		"class not configured":        {Conditions{Networks: []string{"lab"}}, Environment{Address: addr("10.1.2.3")}, NetworkNotAllowed},
		"address and network unknown": {Conditions{Networks: []string{"corp"}}, Environment{}, NetworkNotAllowed},
		"asserted, address unknown":   {Conditions{Networks: []string{"corp"}}, Environment{Network: "corp"}, Met},
		"asserted, not the key's":     {Conditions{Networks: []string{"corp"}}, Environment{Network: "vpn"}, NetworkNotAllowed},
		"asserted, address agrees":    {Conditions{Networks: []string{"corp"}}, Environment{Network: "corp", Address: addr("10.1.2.3")}, Met},
		"asserted, address disagrees": {
			Conditions{Networks: []string{"corp", "vpn"}}, Environment{Network: "corp", Address: addr("172.16.0.1")}, NetworkNotAllowed,
		},
		"asserted class the configuration lacks": {
			Conditions{Networks: []string{"lab"}}, Environment{Network: "lab", Address: addr("10.1.2.3")}, NetworkNotAllowed,
		},

		"country allowed":         {Conditions{Countries: []string{"DE", "NL"}}, Environment{Country: "NL"}, Met},
		"country in lower case":   {Conditions{Countries: []string{"DE", "NL"}}, Environment{Country: "de"}, Met},
		"country in mixed case":   {Conditions{Countries: []string{"DE"}}, Environment{Country: "dE"}, Met},
		"country not allowed":     {Conditions{Countries: []string{"DE", "NL"}}, Environment{Country: "FR"}, CountryNotAllowed},
		"country unknown":         {Conditions{Countries: []string{"DE"}}, Environment{}, CountryNotAllowed},
		"country too long":        {Conditions{Countries: []string{"DE"}}, Environment{Country: "DEU"}, CountryNotAllowed},
		"country, Kelvin sign":    {Conditions{Countries: []string{"KE"}}, Environment{Country: "\u212aE"}, CountryNotAllowed},
		"country, non-ASCII case": {Conditions{Countries: []string{"DE"}}, Environment{Country: "D\u0117"}, CountryNotAllowed},

		"device compliant":     {Conditions{RequireCompliantDevice: true}, Environment{Device: DeviceCompliant}, Met},
		"device not compliant": {Conditions{RequireCompliantDevice: true}, Environment{Device: DeviceNonCompliant}, DeviceNotCompliant},
		"device unknown":       {Conditions{RequireCompliantDevice: true}, Environment{}, DeviceNotCompliant},
		"device not required":  {Conditions{}, Environment{Device: DeviceNonCompliant}, Met},

		"inside a window":     {Conditions{TimeWindows: []TimeWindow{{Start: "09:00", End: "18:00"}}}, Environment{Time: friday}, Met},
		"before a window":     {Conditions{TimeWindows: []TimeWindow{{Start: "13:00", End: "18:00"}}}, Environment{Time: friday}, OutsideTimeWindow},
		"time unknown":        {Conditions{TimeWindows: []TimeWindow{{Start: "00:00", End: "24:00"}}}, Environment{}, OutsideTimeWindow},
		"the second window":   {Conditions{TimeWindows: []TimeWindow{{Start: "06:00", End: "07:00"}, {Start: "11:00", End: "13:00"}}}, Environment{Time: friday}, Met},
		"window in its zone":  {Conditions{TimeWindows: []TimeWindow{{Start: "13:00", End: "14:00", TimeZone: "Europe/Berlin"}}}, Environment{Time: friday}, Met},
		"window, wrong day":   {Conditions{TimeWindows: []TimeWindow{{Days: []string{"Sat", "Sun"}, Start: "00:00", End: "24:00"}}}, Environment{Time: friday}, OutsideTimeWindow},
		"day in its own zone": {Conditions{TimeWindows: []TimeWindow{{Days: []string{"Sat"}, Start: "00:00", End: "24:00", TimeZone: "Pacific/Kiritimati"}}}, Environment{Time: friday}, Met},

		"first failure in order": {
			Conditions{
				SourceCIDRs: []string{"10.0.0.0/8"}, Networks: []string{"vpn"}, Countries: []string{"DE"},
				TimeWindows: []TimeWindow{{Start: "00:00", End: "01:00"}}, RequireCompliantDevice: true,
			},
			Environment{Address: addr("10.1.2.3"), Country: "FR", Time: friday},
			NetworkNotAllowed,
		},
		"all met": {
			Conditions{
				SourceCIDRs: []string{"10.0.0.0/8"}, Networks: []string{"corp"}, Countries: []string{"DE"},
				TimeWindows: []TimeWindow{{Days: []string{"Fri"}, Start: "12:00", End: "12:01"}}, RequireCompliantDevice: true,
			},
			Environment{Address: addr("10.1.2.3"), Country: "de", Time: friday, Device: DeviceCompliant},
			Met,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(mustCompile(tc.cond).Check(tc.env, testClasses)).To(Equal(tc.want))
		})
	}
}

func TestCheckOrder(t *testing.T) {
	all := Conditions{
		SourceCIDRs: []string{"10.0.0.0/8"}, Networks: []string{"corp"}, Countries: []string{"DE"},
		TimeWindows: []TimeWindow{{Start: "09:00", End: "10:00"}}, RequireCompliantDevice: true,
	}
	good := Environment{Address: addr("10.1.2.3"), Country: "DE", Time: at("2026-03-27 09:30", "UTC"), Device: DeviceCompliant}
	// Each step breaks one more condition, from the last in order to the
	// first: the reported failure is always the earliest broken.
	steps := []struct {
		breakIt func(*Environment)
		want    Failure
	}{
		{func(e *Environment) {}, Met},
		{func(e *Environment) { e.Device = DeviceNonCompliant }, DeviceNotCompliant},
		{func(e *Environment) { e.Time = e.Time.Add(time.Hour) }, OutsideTimeWindow},
		{func(e *Environment) { e.Country = "FR" }, CountryNotAllowed},
		{func(e *Environment) { e.Network = "vpn" }, NetworkNotAllowed},
		{func(e *Environment) { e.Address = addr("192.0.2.1") }, SourceNotAllowed},
	}
	g := NewWithT(t)
	c := mustCompile(all)
	env := good
	for _, s := range steps {
		s.breakIt(&env)
		g.Expect(c.Check(env, testClasses)).To(Equal(s.want))
	}
}

func TestTimeWindows(t *testing.T) {
	berlin := func(days ...string) func(start, end string) Conditions {
		return func(start, end string) Conditions {
			return Conditions{TimeWindows: []TimeWindow{{Days: days, Start: start, End: end, TimeZone: "Europe/Berlin"}}}
		}
	}
	everyDay, fri := berlin(), berlin("Fri")
	cases := map[string]struct {
		cond Conditions
		at   time.Time
		want bool
	}{
		// 2026-03-27 is a Friday; Europe/Berlin is UTC+1 until 2026-03-29
		// 02:00, then UTC+2.
		"opening minute":       {everyDay("09:00", "18:00"), at("2026-03-27 09:00", "Europe/Berlin"), true},
		"closing minute":       {everyDay("09:00", "18:00"), at("2026-03-27 18:00", "Europe/Berlin"), false},
		"last second":          {everyDay("09:00", "18:00"), at("2026-03-27 17:59", "Europe/Berlin").Add(59*time.Second + 999*time.Millisecond), true},
		"end 24:00, late":      {everyDay("20:00", "24:00"), at("2026-03-27 23:59", "Europe/Berlin"), true},
		"end 24:00, midnight":  {everyDay("20:00", "24:00"), at("2026-03-28 00:00", "Europe/Berlin"), false},
		"whole day":            {everyDay("00:00", "24:00"), at("2026-03-28 00:00", "Europe/Berlin"), true},
		"the zone, not UTC":    {everyDay("09:00", "10:00"), at("2026-03-27 08:30", "UTC"), true},
		"UTC is not the zone":  {everyDay("09:00", "10:00"), at("2026-03-27 09:30", "UTC"), false},
		"Friday 09:00":         {fri("09:00", "10:00"), at("2026-03-27 09:00", "Europe/Berlin"), true},
		"Saturday 09:00":       {fri("09:00", "10:00"), at("2026-03-28 09:00", "Europe/Berlin"), false},
		"day in the zone's":    {fri("00:00", "01:00"), at("2026-03-26 23:30", "UTC"), true},
		"wrap: Fri 23:00":      {fri("22:00", "02:00"), at("2026-03-27 23:00", "Europe/Berlin"), true},
		"wrap: Sat 01:00":      {fri("22:00", "02:00"), at("2026-03-28 01:00", "Europe/Berlin"), true},
		"wrap: Sat 02:00":      {fri("22:00", "02:00"), at("2026-03-28 02:00", "Europe/Berlin"), false},
		"wrap: Fri 01:00":      {fri("22:00", "02:00"), at("2026-03-27 01:00", "Europe/Berlin"), false},
		"wrap: Sat 23:00":      {fri("22:00", "02:00"), at("2026-03-28 23:00", "Europe/Berlin"), false},
		"wrap: Fri 21:59":      {fri("22:00", "02:00"), at("2026-03-27 21:59", "Europe/Berlin"), false},
		"wrap Sun into Mon":    {berlin("Sun")("23:00", "01:00"), at("2026-03-30 00:30", "Europe/Berlin"), true},
		"wrap Sun, not Sun":    {berlin("Sun")("23:00", "01:00"), at("2026-03-29 00:30", "Europe/Berlin"), false},
		"wrap Sat into Sun":    {berlin("Sat")("23:00", "01:00"), at("2026-03-29 00:30", "Europe/Berlin"), true},
		"wrap, 00:00 end":      {everyDay("23:00", "00:00"), at("2026-03-27 23:59", "Europe/Berlin"), true},
		"wrap, 00:00 end, mid": {everyDay("23:00", "00:00"), at("2026-03-28 00:00", "Europe/Berlin"), false},

		// Spring forward: 2026-03-29 02:00 CET becomes 03:00 CEST.
		"DST: same wall clock before": {everyDay("09:00", "10:00"), at("2026-03-28 08:30", "UTC"), true},
		"DST: same wall clock after":  {everyDay("09:00", "10:00"), at("2026-03-30 07:30", "UTC"), true},
		"DST: old offset after":       {everyDay("09:00", "10:00"), at("2026-03-30 08:30", "UTC"), false},
		"DST: skipped hour never":     {everyDay("02:00", "03:00"), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), false},
		"DST: just before the gap":    {everyDay("01:00", "04:00"), time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC), true},
		"DST: just after the gap":     {everyDay("01:00", "04:00"), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), true},
		"DST: gap, short window":      {everyDay("01:30", "03:00"), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), false},
		// Fall back: 2026-10-25 03:00 CEST becomes 02:00 CET; the hour
		// from 02:00 happens twice and is inside the window both times.
		"DST: repeated hour, first":  {everyDay("02:00", "03:00"), time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), true},
		"DST: repeated hour, second": {everyDay("02:00", "03:00"), time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), true},
		"DST: after the repeat":      {everyDay("02:00", "03:00"), time.Date(2026, 10, 25, 2, 0, 0, 0, time.UTC), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			want := OutsideTimeWindow
			if tc.want {
				want = Met
			}
			g.Expect(mustCompile(tc.cond).Check(Environment{Time: tc.at}, Classes{})).To(Equal(want))
		})
	}
}

func TestTestDatesAreTheDaysTheyClaim(t *testing.T) {
	g := NewWithT(t)
	g.Expect(at("2026-03-27 12:00", "UTC").Weekday()).To(Equal(time.Friday))
	berlin, _ := time.LoadLocation("Europe/Berlin")
	_, before := time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC).In(berlin).Zone()
	_, after := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC).In(berlin).Zone()
	g.Expect([]int{before, after}).To(Equal([]int{3600, 7200}))
	_, before = time.Date(2026, 10, 25, 0, 59, 0, 0, time.UTC).In(berlin).Zone()
	_, after = time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC).In(berlin).Zone()
	g.Expect([]int{before, after}).To(Equal([]int{7200, 3600}))
}

func TestCheckDoesNotAllocate(t *testing.T) {
	g := NewWithT(t)
	c, env := benchConditions()
	g.Expect(c.Check(env, testClasses)).To(Equal(Met))
	g.Expect(testing.AllocsPerRun(100, func() { c.Check(env, testClasses) })).To(BeZero())
	env.Network = "corp"
	g.Expect(testing.AllocsPerRun(100, func() { c.Check(env, testClasses) })).To(BeZero())
	env.Address = netip.Addr{}
	g.Expect(testing.AllocsPerRun(100, func() { c.Check(env, testClasses) })).To(BeZero())
}
