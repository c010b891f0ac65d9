package testutil

// ErrorText is an error's message, "" for none: what a test should compare
// when the error carries live objects (an oauth2 token error holds the
// *http.Response it came with, which gomega would walk field by field to
// describe while the transport may still be writing to it).
func ErrorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
