package analytics

// maxInterned bounds the reason codes a store tells apart in its top
// lists: a verifier has a few dozen, and a flood of made-up codes from a
// bad report must not grow the store. Codes beyond it still count in the
// totals, not in the top lists.
const maxInterned = 1024

// reasonTable gives each denial reason code a small id, so that a key's
// top lists hold two bytes per reason instead of a string.
type reasonTable struct {
	ids   map[string]uint16
	names []string // names[id-1]
}

// id is the reason's id, 0 when the table is full.
func (t *reasonTable) id(name string) uint16 {
	if id, ok := t.ids[name]; ok {
		return id
	}
	if len(t.names) >= maxInterned {
		return 0
	}
	if t.ids == nil {
		t.ids = map[string]uint16{}
	}
	t.names = append(t.names, name)
	t.ids[name] = uint16(len(t.names))
	return uint16(len(t.names))
}

func (t *reasonTable) name(id uint16) string { return t.names[id-1] }
