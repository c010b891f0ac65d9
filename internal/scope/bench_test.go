package scope

import "testing"

func benchSet() (Set, Resource) {
	set, err := ParseSet([]string{
		"acme/payments/investigations/INV-1:read",
		"acme/payments/investigations/INV-2:read",
		"acme/payments/evidence:read",
		"acme/hr/users:admin",
		"acme/*/reports:read",
		"globex/*/investigations:admin",
		"acme/payments/investigations:write",
		"acme/payments/users/u-7:delete",
	})
	if err != nil {
		panic(err)
	}
	return set, Resource{Org: "acme", Project: "payments", Type: "investigations", ID: "INV-42"}
}

func BenchmarkSetAllows(b *testing.B) {
	set, r := benchSet()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := set.Allows(r, Write); !ok {
			b.Fatal("no match")
		}
	}
}
