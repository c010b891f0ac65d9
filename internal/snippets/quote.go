package snippets

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Each language's string literal. The values were checked by printable
// (no control characters, valid UTF-8); the quoting still escapes
// everything the language treats specially, so a value is only ever text.

// sh is a POSIX shell word in single quotes, where nothing is special but
// the quote itself.
func sh(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// goString is a Go interpreted string literal.
func goString(s string) string { return strconv.Quote(s) }

// pyString is a Python string literal: Go's ASCII quoting uses only
// escapes Python reads the same way (\", \\, \xNN below 0x80, \uNNNN,
// \UNNNNNNNN).
func pyString(s string) string { return strconv.QuoteToASCII(s) }

// jsString is a JavaScript string literal: JSON's, with <, > and & escaped
// as well.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// yamlString is a YAML double-quoted scalar; JSON's escapes are YAML's.
func yamlString(s string) string { return jsString(s) }
