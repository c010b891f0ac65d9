package access

import (
	"net/netip"
	"testing"
	"time"
)

func FuzzCompile(f *testing.F) {
	f.Add("10.0.0.0/8", "Mon", "09:00", "18:00", "Europe/Berlin", "DE", "corp", "10.1.2.3", "de", "", int64(1774612800), uint8(1))
	f.Add("::ffff:10.0.0.0/104", "Fri", "22:00", "02:00", "", "NL", "vpn", "::ffff:172.16.0.1", "", "vpn", int64(0), uint8(0))
	f.Add("2001:db8::/32", "Sun", "00:00", "24:00", "UTC", "FR", "lab", "fe80::1%eth0", "fr", "lab", int64(-62135596800), uint8(2))
	f.Add("x", "monday", "24:00", "9:00", "Mars/Base", "fr", "Corp", "", "\u212aE", "Corp", int64(1<<62), uint8(255))
	f.Fuzz(func(t *testing.T, cidr, day, start, end, zone, country, network, address, envCountry, envNetwork string, unix int64, device uint8) {
		c := Conditions{
			SourceCIDRs:            []string{cidr},
			TimeWindows:            []TimeWindow{{Days: []string{day}, Start: start, End: end, TimeZone: zone}},
			Countries:              []string{country},
			Networks:               []string{network},
			RequireCompliantDevice: device%2 == 1,
		}
		compiled, err := Compile(c)
		if err != nil {
			if _, ok := err.(Problems); !ok {
				t.Fatalf("Compile error is %T, want Problems", err)
			}
			if compiled != nil {
				t.Fatal("Compile returned conditions with an error")
			}
			return
		}
		if ps := AtLeastAsStrict(c, c, "self"); len(ps) != 0 {
			t.Fatalf("conditions are not as strict as themselves: %v", ps)
		}
		a, _ := netip.ParseAddr(address)
		env := Environment{Address: a, Time: time.Unix(unix, 0), Country: envCountry, Network: envNetwork, Device: Device(device % 4)}
		classes, _ := ParseClasses(map[string][]string{network: {cidr}})
		switch f := compiled.Check(env, classes); f {
		case Met, SourceNotAllowed, NetworkNotAllowed, CountryNotAllowed, OutsideTimeWindow, DeviceNotCompliant:
		default:
			t.Fatalf("unknown failure %q", f)
		}
	})
}

// FuzzAtLeastAsStrictWindows checks that a child window AtLeastAsStrict
// accepts never admits a time its parent's windows refuse.
func FuzzAtLeastAsStrictWindows(f *testing.F) {
	f.Add("23:00", "03:00", uint8(1<<6), "22:00", "04:00", uint8(1<<5|1<<6), "09:00", "10:00", uint8(0), int64(1774648800), uint8(0))
	f.Add("22:00", "02:00", uint8(1<<0), "00:00", "24:00", uint8(1<<0|1<<1), "00:00", "24:00", uint8(1<<0), int64(1774821600), uint8(1))
	f.Add("09:00", "13:00", uint8(0), "08:00", "11:00", uint8(0), "11:00", "14:00", uint8(0), int64(1774602000), uint8(2))
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Pacific/Kiritimati"}
	f.Fuzz(func(t *testing.T, cs, ce string, cd uint8, p1s, p1e string, p1d uint8, p2s, p2e string, p2d uint8, unix int64, zone uint8) {
		z := zones[int(zone)%len(zones)]
		child := Conditions{TimeWindows: []TimeWindow{{Days: dayNames(cd), Start: cs, End: ce, TimeZone: z}}}
		parent := Conditions{TimeWindows: []TimeWindow{
			{Days: dayNames(p1d), Start: p1s, End: p1e, TimeZone: z},
			{Days: dayNames(p2d), Start: p2s, End: p2e, TimeZone: z},
		}}
		cc, err := Compile(child)
		if err != nil {
			return
		}
		pc, err := Compile(parent)
		if err != nil || len(AtLeastAsStrict(child, parent, "p")) != 0 {
			return
		}
		// Around the fuzzed instant, minute by minute over a day and a bit.
		base := time.Unix(unix%(1<<40), 0)
		for m := range 26 * 60 {
			env := Environment{Time: base.Add(time.Duration(m) * time.Minute)}
			if cc.Check(env, Classes{}) == Met && pc.Check(env, Classes{}) != Met {
				t.Fatalf("child %v admits %s, parent %v does not", child, env.Time.In(cc.windows[0].loc), parent)
			}
		}
	})
}

func dayNames(bits uint8) []string {
	var out []string
	for d, name := range weekdays {
		if bits&(1<<d) != 0 {
			out = append(out, name)
		}
	}
	return out
}
