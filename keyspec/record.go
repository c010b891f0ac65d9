package keyspec

import (
	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
)

// AccessConditions are the key's conditions as plain data: what the
// webhook checks, delegation compares and the key record carries, so that
// all three read the spec the same way. The result shares no memory with
// the spec.
func AccessConditions(k *keywardv1.APIKey) access.Conditions {
	c := k.Spec.Conditions
	if c == nil {
		return access.Conditions{}
	}
	out := access.Conditions{
		SourceCIDRs:            plainStrings(c.SourceCIDRs),
		Countries:              plainStrings(c.Countries),
		Networks:               plainStrings(c.Networks),
		RequireCompliantDevice: c.RequireCompliantDevice,
	}
	for _, w := range c.TimeWindows {
		out.TimeWindows = append(out.TimeWindows, access.TimeWindow{
			Days: plainStrings(w.Days), Start: w.Start, End: w.End, TimeZone: w.TimeZone,
		})
	}
	return out
}

// RecordRateLimit is spec.rateLimit as the key record carries it.
func RecordRateLimit(k *keywardv1.APIKey) record.RateLimit {
	var out record.RateLimit
	rl := k.Spec.RateLimit
	if rl == nil {
		return out
	}
	for _, l := range rl.Limits {
		rec := record.Limit{Name: l.Name, Strategy: ratelimit.Strategy(l.Strategy), Limit: l.Limit, PeriodSeconds: l.PeriodSeconds, SharedByOwner: l.SharedBy == keywardv1.SharedByOwner}
		if l.Burst != nil {
			rec.Burst = *l.Burst
		}
		out.Limits = append(out.Limits, rec)
	}
	if q := rl.Quota; q != nil {
		out.Quota = &record.Quota{Credits: q.Credits, Refill: ratelimit.Refill(q.Refill), TimeZone: q.TimeZone, SharedByOwner: q.SharedBy == keywardv1.SharedByOwner}
	}
	if c := rl.Costs; c != nil {
		out.Costs = map[string]int64{}
		for name, v := range map[string]*int64{"read": c.Read, "write": c.Write, "delete": c.Delete, "execute": c.Execute, "admin": c.Admin} {
			if v != nil {
				out.Costs[name] = *v
			}
		}
	}
	return out
}

// plainStrings converts a list of a string type; empty lists become nil, so
// that an empty and an omitted list read the same.
func plainStrings[T ~string](in []T) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	return out
}

// ClientCertificate is spec.clientCertificate as the key record carries
// it, nil when the key is bound to no certificate. An omitted credential
// reads as the API's default, so that a key written before the server
// defaulted it means the same.
func ClientCertificate(k *keywardv1.APIKey) *certbind.Binding {
	c := k.Spec.ClientCertificate
	if c == nil {
		return nil
	}
	credential := certbind.Credential(c.Credential)
	if credential == "" {
		credential = certbind.CertificateOnly
	}
	return &certbind.Binding{Thumbprint: c.Thumbprint, Subject: c.Subject, DNSName: c.DNSName, URI: c.URI, Email: c.Email,
		Authority: string(c.Authority), Credential: credential}
}
