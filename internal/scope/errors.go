package scope

import "fmt"

// ParseError keeps the input and the reason apart so the webhook can report
// the reason against the offending field without repeating the value.
type ParseError struct {
	Input  string
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("scope %q: %s", clip(e.Input), e.Reason)
}

// clipAt bounds how much of an over-long input is echoed back, so a huge
// rejected value cannot blow up logs or API responses.
const clipAt = 64

func clip(s string) string {
	if len(s) <= MaxLength {
		return s
	}
	return s[:clipAt] + "..."
}
