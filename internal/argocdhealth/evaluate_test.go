package argocdhealth

import (
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestAValidStatusIsReturnedAsTheScriptSaysIt(t *testing.T) {
	g := NewWithT(t)
	for _, code := range []Code{Healthy, Progressing, Degraded, Suspended, Missing, Unknown} {
		got, err := Evaluate(`return {status = "`+string(code)+`", message = "as said"}`, nil)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(Equal(Status{Status: code, Message: "as said"}))
	}
}

func TestAStatusArgoCDDoesNotKnowMeansUnknown(t *testing.T) {
	g := NewWithT(t)
	for _, script := range []string{
		`return {status = "Ready", message = "not a health code"}`,
		`return {status = "healthy"}`,
		`return {message = "no status at all"}`,
	} {
		got, err := Evaluate(script, nil)
		g.Expect(err).NotTo(HaveOccurred(), script)
		g.Expect(got).To(Equal(Status{Status: Unknown, Message: InvalidStatusMessage}), script)
	}
}

func TestAScriptThatFailsIsAnError(t *testing.T) {
	g := NewWithT(t)
	for script, says := range map[string]string{
		`return {status = `:                       "running the health script",
		`error("no conditions")`:                  "no conditions",
		`return obj.status.conditions[1].type`:    "attempt to index",
		`return "Healthy"`:                        "returned a string",
		`return {status = "Healthy", f = print}`:  "cannot encode function to JSON",
		`local t = {}; t.self = t; return t`:      "cannot encode recursively nested tables",
		`return {status = "Healthy", [true] = 1}`: "cannot encode mixed or invalid key types",
		// gopher-json decides array or object by the first key: a
		// table with both kinds of keys has no JSON form.
		`return {"Healthy", status = "Healthy"}`: "cannot encode mixed or invalid key types",
		`return {status = "Healthy", [2] = 1}`:   "cannot encode sparse array",
	} {
		_, err := Evaluate(script, map[string]any{"status": map[string]any{}})
		g.Expect(err).To(MatchError(ContainSubstring(says)), script)
	}
}

// TestWhatArgoCDReadsAsNoHealthIsTheEmptyStatus: nil, nothing, an empty
// table (encoded as []) and a table JSON cannot put into the status
// struct are no error in Argo CD but an empty health status.
func TestWhatArgoCDReadsAsNoHealthIsTheEmptyStatus(t *testing.T) {
	g := NewWithT(t)
	for _, script := range []string{
		`return nil`,
		`local nothing = 1`,
		`return`,
		`return {}`,
		`return {status = 3}`,
		`return {status = "Healthy", message = 5}`,
		`return {"Healthy", "fine"}`,
	} {
		got, err := Evaluate(script, nil)
		g.Expect(err).NotTo(HaveOccurred(), script)
		g.Expect(got).To(Equal(Status{}), script)
	}
}

func TestAScriptThatRunsForeverIsStoppedAfterOneSecond(t *testing.T) {
	g := NewWithT(t)
	start := time.Now()
	_, err := Evaluate(`while true do end`, nil)
	g.Expect(err).To(MatchError(ContainSubstring("context deadline exceeded")))
	g.Expect(time.Since(start)).To(BeNumerically("<", 5*Timeout))
}

// TestTheObjectIsTheGlobalObjDecodedAsArgoCDDecodesIt pins Argo CD's
// decodeValue: int, int32, int64 and float64 are numbers (unlike
// gopher-json's DecodeValue, which knows only float64), a json.Number a
// string, and any other type (uint, a struct) nil.
func TestTheObjectIsTheGlobalObjDecodedAsArgoCDDecodesIt(t *testing.T) {
	g := NewWithT(t)
	obj := map[string]any{
		"metadata": map[string]any{"name": "payments", "generation": int64(3)},
		"status": map[string]any{
			"observedGeneration": float64(2),
			"selectedKeys":       int32(4),
			"violatingKeys":      5,
			"unsigned":           uint(6),
			"count":              json.Number("7"),
			"conditions":         []any{map[string]any{"type": "Ready", "status": "True"}},
			"odd":                struct{}{},
		},
	}
	got, err := Evaluate(`
		local s = obj.status
		local ok = obj.metadata.generation == 3 and s.observedGeneration == 2 and s.selectedKeys == 4
			and s.violatingKeys == 5 and s.unsigned == nil and s.count == "7" and s.odd == nil and #s.conditions == 1 and s.conditions[1].type == "Ready"
		if ok then return {status = "Healthy", message = obj.metadata.name} end
		return {status = "Degraded"}`, obj)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(Status{Status: Healthy, Message: "payments"}))
}

func TestOnlyArgoCDsLibrariesAreOpen(t *testing.T) {
	g := NewWithT(t)
	got, err := Evaluate(`
		local open = {}
		for _, name in ipairs({"string", "math", "io", "debug", "coroutine", "channel"}) do
			if _G[name] ~= nil then table.insert(open, name) end
		end
		if #open > 0 then return {status = "Degraded", message = table.concat(open, ",")} end
		if type(package) ~= "table" or type(table.insert) ~= "function" or type(tostring) ~= "function" then
			return {status = "Degraded", message = "package, table or base missing"}
		end
		return {status = "Healthy"}`, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(Status{Status: Healthy}))
}

func TestBuiltInChecksGetEveryLibrary(t *testing.T) {
	g := NewWithT(t)
	script := `if string ~= nil and math ~= nil and os.time ~= nil then return {status = "Healthy"} end
		return {status = "Degraded"}`
	got, err := EvaluateBuiltIn(script, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.Status).To(Equal(Healthy))
	got, err = Evaluate(script, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.Status).To(Equal(Degraded))
}

func TestOsOffersOnlyTimeAndDate(t *testing.T) {
	g := NewWithT(t)
	got, err := Evaluate(`
		local required = require("os")
		local names = {}
		for _, lib in ipairs({os, required}) do
			for name in pairs(lib) do table.insert(names, name) end
		end
		table.sort(names)
		return {status = "Healthy", message = table.concat(names, ",")}`, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.Message).To(Equal("date,date,time,time"))

	for _, script := range []string{`os.exit(1)`, `return os.getenv("HOME")`, `os.execute("true")`, `os.remove("x")`} {
		_, err := Evaluate(script, nil)
		g.Expect(err).To(MatchError(ContainSubstring("attempt to call a non-function")), script)
	}
}

func TestOsTimeAndDate(t *testing.T) {
	g := NewWithT(t)
	got, err := Evaluate(`
		local d = os.date("*t", os.time({year = 1971, month = 1, day = 1, hour = 1, min = 1}))
		local parts = {
			os.date("!%Y-%m-%dT%H:%M:%S %b %%"),
			tostring(os.time() > 1700000000),
			tostring(d.year) .. "/" .. tostring(d.month) .. "/" .. tostring(d.day) .. " " .. tostring(d.hour) .. ":" .. tostring(d.min),
			tostring(os.time({year = 2026, month = 12, day = 6}) == os.time({year = 2026, month = 12, day = 6, hour = 12})),
			os.date("%q", 0),
		}
		return {status = "Healthy", message = table.concat(parts, " | ")}`, nil)
	g.Expect(err).NotTo(HaveOccurred())
	now := time.Now().UTC()
	g.Expect(got.Message).To(HavePrefix(now.Format("2006-01-02T")))
	g.Expect(got.Message).To(HaveSuffix(" " + now.Format("Jan") + " % | true | 1971/1/1 1:1 | true | %q"))
}

// TestOsDateFormatsAsArgoCDDoes pins the conversions where Argo CD's
// os.date differs from C: a script must read here what it reads there.
func TestOsDateFormatsAsArgoCDDoes(t *testing.T) {
	g := NewWithT(t)
	at := time.Date(2026, 12, 6, 18, 4, 5, 0, time.UTC)
	g.Expect(strftime(at, "%a %A %x %X %F %P %w %%")).To(Equal("mon Sunday 18/04/05 18:04:05 2026-12-06 pm 0 %"))
}
