package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
)

// errNotConfirmed: the person did not answer yes; nothing was changed.
var errNotConfirmed = errors.New("not confirmed: nothing changed (pass --yes to skip the question)")

// confirm asks question on stderr and reads the answer from stdin. Only
// "y" or "yes" proceeds; end of input (a script without --yes) does not.
func (r *Root) confirm(yes bool, question string) error {
	if yes {
		return nil
	}
	fmt.Fprintf(r.Streams.ErrOut, "%s [y/N]: ", question)
	answer, _ := bufio.NewReader(r.Streams.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return errNotConfirmed
}
