package main

import (
	"strings"

	"k8s.io/cli-runtime/pkg/printers"
)

// Every string read from an object is written by someone (often a tenant)
// and reaches an administrator's terminal: escape sequences in it could
// rewrite the screen or set the clipboard (OSC 52), and a newline or a tab
// could forge a line or a column that looks like keyward's. So nothing from
// an object is printed except through these functions.

// terminalText is s with the terminal's control characters escaped, as
// kubectl escapes them (ESC becomes "^[", CR "\r"), and tabs made spaces
// so that s cannot open a column of a tabwriter.
func terminalText(s string) string {
	return strings.ReplaceAll(printers.EscapeTerminal(s), "\t", " ")
}

// terminalCell is s as one table cell, as kubectl's table printer writes
// it: the first line only, marked "..." when more was cut, escaped.
func terminalCell(s string) string {
	first, _, cut := strings.Cut(s, "\n")
	if i := strings.IndexAny(first, "\f\r"); i >= 0 {
		first, cut = first[:i], true
	}
	first = terminalText(first)
	if cut {
		first += "..."
	}
	return first
}

// terminalValue is a multi-line value for a tabwriter row, escaped, with
// every line after the first starting with continuation (the tabs and
// spaces that put it under the value's column), as kubectl describe
// indents continuation lines: a line of the value can never start at the
// left margin and pass for a field of its own.
func terminalValue(s, continuation string) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(s, "\f", "\n"), "\n"), "\n")
	for i, line := range lines {
		lines[i] = terminalText(line)
	}
	return strings.Join(lines, "\n"+continuation)
}
