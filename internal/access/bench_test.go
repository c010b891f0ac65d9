package access

import (
	"testing"
	"time"
)

// benchConditions sets every condition, with the matching entry last, so a
// check walks every list.
func benchConditions() (*Compiled, Environment) {
	c := mustCompile(Conditions{
		SourceCIDRs: []string{"192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32", "10.0.0.0/8"},
		Networks:    []string{"vpn", "corp"},
		Countries:   []string{"AT", "CH", "NL", "DE"},
		TimeWindows: []TimeWindow{
			{Days: []string{"Sat", "Sun"}, Start: "10:00", End: "12:00", TimeZone: "America/New_York"},
			{Days: []string{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "08:00", End: "20:00", TimeZone: "Europe/Berlin"},
		},
		RequireCompliantDevice: true,
	})
	env := Environment{
		Address: addr("::ffff:10.1.2.3"),
		Time:    time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC),
		Country: "de",
		Device:  DeviceCompliant,
	}
	return c, env
}

func BenchmarkCheck(b *testing.B) {
	c, env := benchConditions()
	b.ReportAllocs()
	for b.Loop() {
		if f := c.Check(env, testClasses); f != Met {
			b.Fatal(f)
		}
	}
}
