package webhook

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/internal/scope"
)

type scopeT = scope.Scope

// toFieldError turns a policy violation into a field error on the path it
// names.
func toFieldError(v policy.Violation) *field.Error {
	return field.Forbidden(parsePath(v.Field), v.Message)
}

// parsePath reads "spec.a.b[2]" into a field.Path.
func parsePath(s string) *field.Path {
	var p *field.Path
	for _, part := range strings.Split(s, ".") {
		name, index, hasIndex := strings.Cut(part, "[")
		if p == nil {
			p = field.NewPath(name)
		} else {
			p = p.Child(name)
		}
		if hasIndex {
			i, _ := strconv.Atoi(strings.TrimSuffix(index, "]"))
			p = p.Index(i)
		}
	}
	return p
}
