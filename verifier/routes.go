package verifier

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward-dev/keyward/internal/scope"
)

// Route maps forwarded requests to the resource and action they touch.
type Route struct {
	// Path is a template of "/"-separated segments: a literal, "{org}",
	// "{project}", "{type}", "{id}" (captures), "{id?}" (an optional last
	// capture), "{*}" (any one segment) or a final "**" (any remaining
	// segments, including none).
	Path string `json:"path"`
	// Methods limits the route to these HTTP methods; empty means any.
	Methods []string `json:"methods,omitempty"`
	// Action overrides the action derived from the method (GET and HEAD
	// read; POST, PUT and PATCH write; DELETE delete).
	Action string `json:"action,omitempty"`
	// Org, Project and Type fix parts of the resource the path does not
	// capture, e.g. a route "/v1/invoices/{id}" with org "acme", project
	// "billing" and type "invoices".
	Org     string `json:"org,omitempty"`
	Project string `json:"project,omitempty"`
	Type    string `json:"type,omitempty"`
	// Cost, when set, is what a request on this route spends from the
	// key's rate limits and quota, instead of its action's cost in the
	// key's spec.rateLimit.costs (e.g. 10 for an expensive export).
	Cost *int64 `json:"cost,omitempty"`
}

// DefaultRoutes map "/<org>/<project>/<type>[/<id>]" one to one onto scopes.
var DefaultRoutes = []Route{{Path: "/{org}/{project}/{type}/{id?}"}}

type segKind uint8

const (
	segLiteral segKind = iota
	segOrg
	segProject
	segType
	segID
	segOptionalID
	segAny
	segRest
)

type compiledRoute struct {
	segs    []segment
	methods []string
	action  scope.Action
	fixed   scope.Resource
	cost    *int64
}

type segment struct {
	kind    segKind
	literal string
}

// router holds compiled routes; the first matching route wins.
type router struct{ routes []compiledRoute }

func compileRoutes(rs []Route) (router, error) {
	var out router
	for i, r := range rs {
		cr, err := compileRoute(r)
		if err != nil {
			return router{}, fmt.Errorf("routes[%d] (%q): %w", i, r.Path, err)
		}
		out.routes = append(out.routes, cr)
	}
	return out, nil
}

func compileRoute(r Route) (compiledRoute, error) {
	if !strings.HasPrefix(r.Path, "/") {
		return compiledRoute{}, fmt.Errorf(`path must start with "/"`)
	}
	cr := compiledRoute{fixed: scope.Resource{Org: r.Org, Project: r.Project, Type: r.Type}, cost: r.Cost}
	if r.Cost != nil && (*r.Cost < 0 || *r.Cost > 1_000_000) {
		return compiledRoute{}, fmt.Errorf("cost %d is not between 0 and 1000000", *r.Cost)
	}
	for _, m := range r.Methods {
		cr.methods = append(cr.methods, strings.ToUpper(m))
	}
	if r.Action != "" {
		a, err := scope.ParseAction(r.Action)
		if err != nil {
			return compiledRoute{}, err
		}
		cr.action = a
	}
	parts := strings.Split(strings.TrimPrefix(r.Path, "/"), "/")
	captured := map[segKind]bool{}
	for i, p := range parts {
		last := i == len(parts)-1
		var s segment
		switch p {
		case "{org}":
			s.kind = segOrg
		case "{project}":
			s.kind = segProject
		case "{type}":
			s.kind = segType
		case "{id}":
			s.kind = segID
		case "{id?}":
			if !last {
				return compiledRoute{}, fmt.Errorf(`"{id?}" must be the last segment`)
			}
			s.kind = segOptionalID
		case "{*}":
			s.kind = segAny
		case "**":
			if !last {
				return compiledRoute{}, fmt.Errorf(`"**" must be the last segment`)
			}
			s.kind = segRest
		default:
			if p == "" || strings.ContainsAny(p, "{}*") {
				return compiledRoute{}, fmt.Errorf("segment %q is neither a literal nor one of {org}, {project}, {type}, {id}, {id?}, {*}, **", p)
			}
			s = segment{kind: segLiteral, literal: p}
		}
		if s.kind >= segOrg && s.kind <= segOptionalID {
			k := s.kind
			if k == segOptionalID {
				k = segID
			}
			if captured[k] {
				return compiledRoute{}, fmt.Errorf("segment %q captures twice", p)
			}
			captured[k] = true
		}
		cr.segs = append(cr.segs, s)
	}
	for _, part := range []struct {
		kind        segKind
		name, fixed string
	}{{segOrg, "org", r.Org}, {segProject, "project", r.Project}, {segType, "type", r.Type}} {
		switch {
		case !captured[part.kind] && part.fixed == "":
			return compiledRoute{}, fmt.Errorf("the route neither captures {%s} nor fixes %s", part.name, part.name)
		case captured[part.kind] && part.fixed != "":
			return compiledRoute{}, fmt.Errorf("the route both captures {%s} and fixes %s", part.name, part.name)
		}
	}
	return cr, nil
}

// methodAction is the default mapping of HTTP methods to actions.
func methodAction(method string) (scope.Action, bool) {
	switch method {
	case http.MethodGet, http.MethodHead:
		return scope.Read, true
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return scope.Write, true
	case http.MethodDelete:
		return scope.Delete, true
	}
	return 0, false
}

// match maps a method and an escaped request path to a resource and action.
// ok is false when no route applies; the caller then answers NotApplicable.
func (rt router) match(method, path string) (scope.Resource, scope.Action, bool) {
	res, act, _, ok := rt.matchCost(method, path)
	return res, act, ok
}

// matchCost also returns the matching route's cost, nil when it sets none.
func (rt router) matchCost(method, path string) (scope.Resource, scope.Action, *int64, bool) {
	if !cleanPath(path) {
		return scope.Resource{}, 0, nil, false
	}
	for i := range rt.routes {
		if res, act, ok := rt.routes[i].match(method, path); ok {
			return res, act, rt.routes[i].cost, true
		}
	}
	return scope.Resource{}, 0, nil, false
}

func (cr *compiledRoute) match(method, path string) (scope.Resource, scope.Action, bool) {
	if len(cr.methods) > 0 && !slices.Contains(cr.methods, method) {
		return scope.Resource{}, 0, false
	}
	act := cr.action
	if act == 0 {
		var ok bool
		if act, ok = methodAction(method); !ok {
			return scope.Resource{}, 0, false
		}
	}
	res := cr.fixed
	rest := strings.TrimPrefix(path, "/")
	for i, s := range cr.segs {
		if s.kind == segRest {
			return res, act, true
		}
		if rest == "" {
			if s.kind == segOptionalID && i == len(cr.segs)-1 {
				return res, act, true
			}
			return scope.Resource{}, 0, false
		}
		seg, after, _ := strings.Cut(rest, "/")
		rest = after
		switch s.kind {
		case segLiteral:
			if seg != s.literal {
				return scope.Resource{}, 0, false
			}
		case segOrg:
			res.Org = seg
		case segProject:
			res.Project = seg
		case segType:
			res.Type = seg
		case segID, segOptionalID:
			res.ID = seg
		}
	}
	if rest != "" {
		return scope.Resource{}, 0, false
	}
	return res, act, true
}

// cleanPath refuses paths an upstream might resolve differently from the
// verifier: empty or dot segments; segments with parameters (";", as in
// "..;" or ";jsessionid=", which servlet containers and some frameworks
// strip before resolving dot segments, so that "/a/..;/b" reaches them as
// "/b"); and percent-encoded "/", "\", ".", ";" or NUL, or an encoded "%"
// (which a hop that decodes twice turns into any of those). Such requests
// are never mapped to a resource.
func cleanPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	// One pass for both the raw and the percent-encoded separators: this
	// runs on every request.
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\', '?', '#', ';':
			return false
		case '%':
			if i+2 < len(p) && encodedSeparator(p[i+1], p[i+2]) {
				return false
			}
		}
	}
	if p == "/" {
		return true
	}
	for seg := range strings.SplitSeq(strings.TrimSuffix(p[1:], "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// encodedSeparator reports whether %XY encodes "/", "\\", ".", ";", "%" or
// NUL.
func encodedSeparator(x, y byte) bool {
	y |= 0x20 // lower-cases a letter; leaves a digit as it is
	return (x == '2' && (y == 'f' || y == 'e' || y == '5')) || (x == '5' && y == 'c') ||
		(x == '3' && y == 'b') || (x == '0' && y == '0')
}
