package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// errNotConfirmed: the person did not answer yes; nothing was changed.
var errNotConfirmed = errors.New("not confirmed: nothing changed (pass --yes to skip the question)")

// confirm asks question on stderr and reads the answer from stdin. Only
// "y" or "yes" proceeds; end of input (a script without --yes) does not.
func (r *Root) confirm(yes bool, question string) error {
	if yes {
		return nil
	}
	fmt.Fprintf(r.Streams.ErrOut, "%s [y/N]: ", terminalText(question))
	answer, _ := bufio.NewReader(r.Streams.In).ReadString('\n')
	if !isTerminal(r.Streams.In) {
		// Nobody's typing echoed the answer and its newline.
		fmt.Fprintln(r.Streams.ErrOut)
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return errNotConfirmed
}

func isTerminal(in io.Reader) bool {
	f, ok := in.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
