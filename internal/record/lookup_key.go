package record

// The lookup key lets the verifier find the record of a foreign key
// (docs/import.md), whose credential holds no key ID: the manager
// generates it once and keeps it in this Secret of the verifier's
// namespace, which tenants cannot read. It carries RecordLabel with its
// own value, so the verifier's record watch sees it and nothing else
// takes it for a record.
const (
	LookupKeySecretName = "keyward-lookup-key"
	LookupKeyLabelValue = "lookup-key"
	// LookupKeyDataKey holds the key's 32 bytes.
	LookupKeyDataKey = "key"
	// LookupIDLabel carries, on the record Secret of a key imported in a
	// foreign format, its lookup ID for the record's whole life, the
	// tombstone's included: the manager finds by it whether a foreign key
	// is already keyward's, live or revoked.
	LookupIDLabel = "keyward.dev/lookup-id"
)
