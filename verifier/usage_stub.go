package verifier

// QuotaUsage lists the quota usage of the keys this replica counts, most
// recently used first. Placeholder until the rate limiter reports it.
func (v *Verifier) QuotaUsage() []QuotaUsage { return nil }
