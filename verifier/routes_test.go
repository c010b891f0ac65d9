package verifier

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestDefaultRoutes(t *testing.T) {
	rt, err := compileRoutes(DefaultRoutes)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		want         string // scope form of the request, "" for no route
	}{
		{"GET", "/acme/payments/investigations", "acme/payments/investigations:read"},
		{"GET", "/acme/payments/investigations/", "acme/payments/investigations:read"},
		{"HEAD", "/acme/payments/investigations/INV-7", "acme/payments/investigations/INV-7:read"},
		{"POST", "/acme/payments/investigations", "acme/payments/investigations:write"},
		{"PUT", "/acme/payments/investigations/INV-7", "acme/payments/investigations/INV-7:write"},
		{"PATCH", "/acme/payments/investigations/INV-7", "acme/payments/investigations/INV-7:write"},
		{"DELETE", "/acme/payments/investigations/INV-7", "acme/payments/investigations/INV-7:delete"},
		{"OPTIONS", "/acme/payments/investigations", ""},
		{"GET", "/acme/payments", ""},
		{"GET", "/acme/payments/investigations/INV-7/notes", ""},
		{"GET", "/acme/payments/../hr/users", ""},
		{"GET", "/acme/payments/./investigations", ""},
		{"GET", "/acme//payments/investigations", ""},
		{"GET", "/acme/payments%2fhr/users", ""},
		{"GET", "/acme/payments/%2e%2e/users", ""},
		{"GET", "acme/payments/investigations", ""},
		{"GET", "/acme/payments/investigations\\x", ""},
	}
	for _, tc := range tests {
		g := NewWithT(t)
		res, act, ok := rt.match(tc.method, tc.path)
		if tc.want == "" {
			g.Expect(ok).To(BeFalse(), "%s %s", tc.method, tc.path)
			continue
		}
		g.Expect(ok).To(BeTrue(), "%s %s", tc.method, tc.path)
		g.Expect(requiredScope(res, act)).To(Equal(tc.want))
	}
}

func TestConfiguredRoutes(t *testing.T) {
	g := NewWithT(t)
	rt, err := compileRoutes([]Route{
		{Path: "/v1/invoices/{id?}", Org: "acme", Project: "billing", Type: "invoices"},
		{Path: "/api/{org}/{project}/jobs/{id}/run", Methods: []string{"post"}, Action: "execute", Type: "jobs"},
		{Path: "/api/{org}/{project}/{type}/**"},
	})
	g.Expect(err).NotTo(HaveOccurred())
	for path, want := range map[string]string{
		"POST /v1/invoices":                "acme/billing/invoices:write",
		"GET /v1/invoices/I-1":             "acme/billing/invoices/I-1:read",
		"POST /api/acme/ops/jobs/J-1/run":  "acme/ops/jobs/J-1:execute",
		"GET /api/acme/ops/jobs/J-1/run":   "acme/ops/jobs:read",
		"GET /api/acme/ops/reports/a/b/c":  "acme/ops/reports:read",
		"DELETE /api/acme/ops/reports":     "acme/ops/reports:delete",
		"GET /v2/invoices":                 "",
		"GET /api/acme/ops/reports/../../": "",
	} {
		method, p, _ := strings.Cut(path, " ")
		res, act, ok := rt.match(method, p)
		if want == "" {
			g.Expect(ok).To(BeFalse(), path)
			continue
		}
		g.Expect(ok).To(BeTrue(), path)
		g.Expect(requiredScope(res, act)).To(Equal(want), path)
	}
}

func TestRouteErrors(t *testing.T) {
	for _, r := range []Route{
		{Path: "acme/{project}/{type}", Org: "acme"},
		{Path: "/{org}/{project}"},
		{Path: "/{org}/{project}/{type}", Org: "acme"},
		{Path: "/{org}/{project}/{type}/{id?}/x"},
		{Path: "/{org}/**/{project}/{type}"},
		{Path: "/{org}/{project}/{type}/{id}/{id}"},
		{Path: "/{org}/{project}/{type}/inv*"},
		{Path: "/{org}/{project}/{type}", Action: "all"},
	} {
		_, err := compileRoutes([]Route{r})
		NewWithT(t).Expect(err).To(HaveOccurred(), r.Path)
	}
}

func TestCleanPath(t *testing.T) {
	g := NewWithT(t)
	for p, want := range map[string]bool{
		"/":                 true,
		"/a/b/c":            true,
		"/a/b/c/":           true,
		"/a/b%20c/d":        true,
		"/a/%41/b":          true,
		"/a/%2F/b":          false,
		"/a/%2f":            false,
		"/a/%2E%2e/b":       false,
		"/a/%5C":            false,
		"/a/%00":            false,
		"/a/%":              true, // not an escape the upstream could decode into a separator
		"/a//b":             false,
		"/a/./b":            false,
		"/a/../b":           false,
		"a/b":               false,
		"/a/b?c":            false,
		"/a\\b":             false,
		"/a/b/%2":           true,
		"/%2e%2e/secret":    false,
		"/acme/pay%2Fments": false,
		// Path parameters, which servlet containers strip before they
		// resolve dot segments: "/a/..;/b" is "/b" to them.
		"/a/..;/b":          false,
		"/a/..;x=1/b":       false,
		"/a/b;jsessionid=1": false,
		"/a/b/..%3B/c":      false,
		"/a/b/..%3b/c":      false,
		"/a/b%253B":         false,
		"/a/%252e%252e/b":   false,
		"/a/b%25":           false,
		"/a/b%3":            true,
	} {
		g.Expect(cleanPath(p)).To(Equal(want), p)
	}
}
