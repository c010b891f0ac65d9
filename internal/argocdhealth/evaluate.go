// Package argocdhealth runs an Argo CD health script (health.lua) the way
// Argo CD runs one from argocd-cm: gopher-lua without the standard
// libraries, then only package, base, table and a safe subset of os; the
// object in the global obj; one second to finish; and a returned status
// that is not one of Argo CD's health codes read as Unknown.
//
// argocd-cm scripts get no other library unless the user opts in
// (resource.customizations.useOpenLibs); built-in scripts get all of them
// (EvaluateBuiltIn).
package argocdhealth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
)

// Code is an Argo CD health status code.
type Code string

// The health codes Argo CD accepts from a script.
const (
	Healthy     Code = "Healthy"
	Progressing Code = "Progressing"
	Degraded    Code = "Degraded"
	Suspended   Code = "Suspended"
	Missing     Code = "Missing"
	Unknown     Code = "Unknown"
)

// Status is what a health script returns, in the shape Argo CD decodes it
// into (and health_test.yaml spells it). The zero Status is Argo CD's
// empty health: the resource shows no health and does not count towards
// the application's.
type Status struct {
	Status  Code   `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// Timeout is how long Argo CD lets a script run.
const Timeout = time.Second

// InvalidStatusMessage is the message Argo CD shows when a script returns
// a status that is not a health code.
const InvalidStatusMessage = "Lua returned an invalid health status"

func valid(c Code) bool {
	switch c {
	case Healthy, Progressing, Degraded, Suspended, Missing, Unknown:
		return true
	}
	return false
}

// Evaluate runs script on obj (an object as the API server serves it,
// decoded into maps) and returns the health it reports. An error means
// Argo CD would show the resource's health as Unknown with the error as
// message: the script did not compile, raised an error, ran out of time,
// returned something other than a table or nil, or a table gopher-json
// cannot encode.
func Evaluate(script string, obj map[string]any) (Status, error) {
	return evaluate(script, obj, false)
}

// EvaluateBuiltIn runs script as Argo CD runs its built-in health checks
// (resource_customizations compiled into Argo CD), which get every
// standard library on top of the ones Evaluate opens.
func EvaluateBuiltIn(script string, obj map[string]any) (Status, error) {
	return evaluate(script, obj, true)
}

func evaluate(script string, obj map[string]any, openLibs bool) (Status, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer L.Close()
	if err := openLibraries(L); err != nil {
		return Status{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return Status{}, fmt.Errorf("running the health script: %w", err)
	}
	return decodeStatus(L.Get(-1))
}

// openLibraries opens exactly the libraries Argo CD opens for a script
// from argocd-cm, and lets `require("os")` load the safe os.
func openLibraries(L *lua.LState) error {
	libs := []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOS},
	}
	for _, lib := range libs {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), Protect: true}, lua.LString(lib.name)); err != nil {
			return fmt.Errorf("opening the Lua library %q: %w", lib.name, err)
		}
	}
	L.PreloadModule(lua.OsLibName, loadSafeOS)
	return nil
}

// decodeStatus reads the script's result as Argo CD's ExecuteHealthLua
// does. A table goes through gopher-json into the status struct; a status
// that is not a health code means Unknown. A script that returns nil (or
// nothing), an empty table (which gopher-json encodes as []), or a table
// whose fields JSON cannot put into the struct (a number for status, an
// array) yields the empty status: no error, no status, no message.
func decodeStatus(ret lua.LValue) (Status, error) {
	if ret.Type() == lua.LTNil {
		return Status{}, nil
	}
	table, ok := ret.(*lua.LTable)
	if !ok {
		return Status{}, fmt.Errorf("the health script returned a %s; it must return a table such as {status = \"Healthy\", message = \"...\"}", ret.Type())
	}
	raw, err := luajson.Encode(table)
	if err != nil {
		return Status{}, fmt.Errorf("the health script's result has no JSON form: %w", err)
	}
	var s Status
	if err := json.Unmarshal(raw, &s); err != nil {
		if errors.As(err, new(*json.UnmarshalTypeError)) {
			return Status{}, nil
		}
		return Status{}, fmt.Errorf("the health script returned %s, which is not a status table: %w", raw, err)
	}
	if !valid(s.Status) {
		return Status{Status: Unknown, Message: InvalidStatusMessage}, nil
	}
	return s, nil
}
