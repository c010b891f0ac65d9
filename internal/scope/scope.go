package scope

import (
	"fmt"
	"strings"
	"unicode"
)

// MaxLength bounds a scope in bytes. Pattern cannot express it, so CRDs must
// pair Pattern with a MaxLength marker of the same value.
const MaxLength = 256

// Pattern accepts exactly what Parse accepts, length aside. It uses "[*]"
// rather than "\*" so it survives being pasted into markers, YAML and JSON
// without any escaping, and uses only syntax shared by RE2 and ECMA-262.
const Pattern = "^" + labelRE + "/" + labelRE + "/" + labelRE + "(/" + idRE + ")?" +
	":(read|write|delete|execute|admin)$"

const (
	labelRE = "([*]|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)"
	idRE    = "([*]|[A-Za-z0-9][A-Za-z0-9._-]{0,127})"

	maxLabel = 63
	maxID    = 128
	wildcard = "*"
	wantForm = "expected <org>/<project>/<type>[/<id>]:<action>"
)

// Scope is a parsed scope. Its fields are unexported so that every Scope is
// either the zero value, which allows nothing, or the result of Parse; the
// matcher can then rely on the grammar without re-checking it per request.
type Scope struct {
	org, project, typ string
	// id is "" for "every resource of the type"; Parse folds "*" into "" so
	// that equal scopes compare equal with ==.
	id     string
	action Action
}

// Parse reports errors as *ParseError, whose message quotes only the input.
func Parse(s string) (Scope, error) {
	fail := func(format string, args ...any) (Scope, error) {
		return Scope{}, &ParseError{Input: s, Reason: fmt.Sprintf(format, args...)}
	}
	if len(s) > MaxLength {
		return fail("is %d bytes, longer than the maximum of %d", len(s), MaxLength)
	}
	// Checked up front because a stray space or newline is the most common
	// copy-paste mistake and otherwise surfaces as a baffling segment error.
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return fail("must not contain whitespace")
	}
	path, act, ok := strings.Cut(s, ":")
	if !ok {
		return fail(`missing ":<action>"; %s`, wantForm)
	}
	segs := strings.Split(path, "/")
	if len(segs) != 3 && len(segs) != 4 {
		return fail(wantForm)
	}
	for i, name := range [...]string{"org", "project", "type"} {
		if why := labelProblem(segs[i]); why != "" {
			return fail("%s %q %s", name, segs[i], why)
		}
	}
	var id string
	if len(segs) == 4 {
		if why := idProblem(segs[3]); why != "" {
			return fail("id %q %s", segs[3], why)
		}
		if segs[3] != wildcard {
			id = segs[3]
		}
	}
	switch act {
	case "":
		return fail(`missing action after ":" (want one of %s)`, actionList)
	case wildcard:
		return fail(`there is no "*" action; use admin, which implies all the others`)
	}
	a, err := ParseAction(act)
	if err != nil {
		return fail("%s", err)
	}
	return Scope{org: segs[0], project: segs[1], typ: segs[2], id: id, action: a}, nil
}

// MustParse is for scopes fixed in code, where a bad one is a programming
// error.
func MustParse(s string) Scope {
	sc, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sc
}

// String is the canonical form: Parse(s.String()) == s. The zero Scope, which
// Parse never returns, is "".
func (s Scope) String() string {
	if !s.action.valid() {
		return ""
	}
	id := ""
	if s.id != "" {
		id = "/" + s.id
	}
	return s.org + "/" + s.project + "/" + s.typ + id + ":" + s.action.String()
}

// labelProblem returns "" for a valid org, project or type segment, else why
// it is invalid, phrased to follow the quoted segment.
func labelProblem(seg string) string {
	switch {
	case seg == wildcard:
		return ""
	case seg == "":
		return "is empty"
	case strings.Contains(seg, wildcard):
		return `uses "*" inside a segment; "*" must be the whole segment`
	case len(seg) > maxLabel:
		return fmt.Sprintf("is longer than %d characters", maxLabel)
	case strings.ContainsFunc(seg, func(r rune) bool { return 'A' <= r && r <= 'Z' }):
		return "must be lowercase"
	}
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if isLowerAlnum(c) || (c == '-' && i > 0 && i < len(seg)-1) {
			continue
		}
		return `must be "*" or a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit`
	}
	return ""
}

// idProblem is labelProblem for the id segment.
func idProblem(seg string) string {
	switch {
	case seg == wildcard:
		return ""
	case seg == "":
		return "is empty"
	case strings.Contains(seg, wildcard):
		return `uses "*" inside a segment; "*" must be the whole segment`
	case len(seg) > maxID:
		return fmt.Sprintf("is longer than %d characters", maxID)
	}
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if isAlnum(c) || (i > 0 && (c == '.' || c == '_' || c == '-')) {
			continue
		}
		return `must be "*" or letters, digits, ".", "_" and "-", starting with a letter or digit`
	}
	return ""
}

func isLowerAlnum(c byte) bool { return ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') }

func isAlnum(c byte) bool { return isLowerAlnum(c) || ('A' <= c && c <= 'Z') }
