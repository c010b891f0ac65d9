package argocdhealth

import (
	"encoding/json"
	"fmt"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// toLua builds the obj global from a decoded object. Argo CD passes a
// json.Number as a string, and a value of a type it does not know as nil;
// so does this.
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

// fromLua turns a script's result into what encoding/json can marshal,
// with the rules of the Lua JSON encoder Argo CD uses: a table whose keys
// run 1, 2, 3, … is an array (an empty table too), any other table an
// object with its keys as strings.
func fromLua(v lua.LValue, seen map[*lua.LTable]bool) (any, error) {
	switch x := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(x), nil
	case lua.LNumber:
		return float64(x), nil
	case lua.LString:
		return string(x), nil
	case *lua.LTable:
		if seen[x] {
			return nil, fmt.Errorf("the health script returned a table that contains itself")
		}
		seen[x] = true
		defer delete(seen, x)
		return tableFromLua(x, seen)
	}
	return nil, fmt.Errorf("the health script returned a %s, which has no JSON form", v.Type())
}

func tableFromLua(t *lua.LTable, seen map[*lua.LTable]bool) (any, error) {
	array := []any{}
	var object map[string]any
	var err error
	t.ForEach(func(k, v lua.LValue) {
		if err != nil {
			return
		}
		value, e := fromLua(v, seen)
		if e != nil {
			err = e
			return
		}
		if n, isNumber := k.(lua.LNumber); isNumber && object == nil && int(n) == len(array)+1 {
			array = append(array, value)
			return
		}
		if object == nil {
			object = make(map[string]any, len(array)+1)
			for i, item := range array {
				object[strconv.Itoa(i+1)] = item
			}
		}
		switch k.(type) {
		case lua.LString, lua.LNumber:
			object[k.String()] = value
		default:
			err = fmt.Errorf("the health script returned a table with a %s key, which has no JSON form", k.Type())
		}
	})
	if err != nil {
		return nil, err
	}
	if object != nil {
		return object, nil
	}
	return array, nil
}
