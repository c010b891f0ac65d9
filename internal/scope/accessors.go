package scope

// Org is the scope's organisation segment ("*" for any).
func (s Scope) Org() string { return s.org }

// Project is the scope's project segment ("*" for any).
func (s Scope) Project() string { return s.project }

// Grants reports whether the scope permits action a on something: its own
// action, or admin, which implies every other.
func (s Scope) Grants(a Action) bool { return s.action.implies(a) }
