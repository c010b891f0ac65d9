package argocdhealth

import (
	"encoding/json"

	lua "github.com/yuin/gopher-lua"
)

// toLua builds the obj global from a decoded object as Argo CD's
// decodeValue (util/lua/lua.go) does: a json.Number is passed as a
// string, int, int32 and int64 (what its cluster cache holds) as numbers,
// and a value of a type it does not know as nil. The script's result goes
// back through gopher-json's Encode, the encoder Argo CD uses.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case json.Number:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	case int32:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, item := range x {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, item := range x {
			t.RawSetString(k, toLua(L, item))
		}
		return t
	}
	return lua.LNil
}
