package scope

// Resource is the concrete target of a request. An empty ID means the
// collection of the type (listing, creating) rather than one member of it.
type Resource struct {
	Org, Project, Type, ID string
}

// String writes the resource as a scope's path, "<org>/<project>/<type>[/<id>]",
// so that a resource and the scope naming exactly it read the same.
func (r Resource) String() string {
	s := r.Org + "/" + r.Project + "/" + r.Type
	if r.ID != "" {
		s += "/" + r.ID
	}
	return s
}

// Allows is on the per-request path, so it only compares strings and never
// allocates.
func (s Scope) Allows(r Resource, a Action) bool {
	return s.action.implies(a) &&
		segmentAllows(s.org, r.Org) &&
		segmentAllows(s.project, r.Project) &&
		segmentAllows(s.typ, r.Type) &&
		(s.id == "" || s.id == r.ID)
}

// segmentAllows refuses empty values even for "*" so that a resource the
// verifier failed to fill in is never authorised by accident.
func segmentAllows(pattern, value string) bool {
	if pattern == wildcard {
		return value != ""
	}
	return pattern == value
}

// Covers decides delegation, so it must agree exactly with Allows: true if and
// only if every (resource, action) that o allows, s allows too. Checking each
// part on its own is exact because the set a scope allows is a product of its
// parts, each of them non-empty: o's "*" stands for unboundedly many values,
// so only "*" covers it; o's missing id includes the collection (ID ""),
// which no specific id allows; and o's admin includes admin itself.
func (s Scope) Covers(o Scope) bool {
	if !o.action.valid() {
		return true // the zero Scope allows nothing, so anything covers it
	}
	return s.action.implies(o.action) &&
		segmentCovers(s.org, o.org) &&
		segmentCovers(s.project, o.project) &&
		segmentCovers(s.typ, o.typ) &&
		(s.id == "" || s.id == o.id)
}

func segmentCovers(s, o string) bool { return s == wildcard || s == o }
