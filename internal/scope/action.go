package scope

import (
	"fmt"
	"strconv"
)

// Action is what a scope permits doing to a resource.
//
// The zero Action is deliberately invalid so that a zero Scope, or an Action
// left unset by a caller, can never authorise anything.
type Action uint8

const (
	Read Action = iota + 1
	Write
	Delete
	Execute
	Admin
)

var actionNames = [...]string{
	Read:    "read",
	Write:   "write",
	Delete:  "delete",
	Execute: "execute",
	Admin:   "admin",
}

// actionList is spelled out once so every error lists the same choices in the
// same order.
const actionList = "read, write, delete, execute, admin"

func (a Action) String() string {
	if !a.valid() {
		return "Action(" + strconv.Itoa(int(a)) + ")"
	}
	return actionNames[a]
}

// ParseAction accepts only the lowercase names, matching the scope grammar.
func ParseAction(s string) (Action, error) {
	for a := Read; a <= Admin; a++ {
		if actionNames[a] == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown action %q (want one of %s)", clip(s), actionList)
}

func (a Action) valid() bool { return a >= Read && a <= Admin }

// implies checks validity of want so that an out-of-range Action from a
// caller is refused rather than matched against an equally invalid one.
func (a Action) implies(want Action) bool {
	return want.valid() && (a == want || a == Admin)
}
