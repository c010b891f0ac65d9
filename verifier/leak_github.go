package verifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward-dev/keyward/internal/leak"
)

// GitHub's partner headers.
const (
	HeaderGitHubKeyID     = "Github-Public-Key-Identifier"
	HeaderGitHubSignature = "Github-Public-Key-Signature"
)

// Feedback labels of GitHub's partner format.
const (
	LabelTruePositive  = "true_positive"
	LabelFalsePositive = "false_positive"
)

// reportedToken is one match of GitHub's report.
type reportedToken struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// tokenFeedback is one token's answer.
type tokenFeedback struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

type leakError struct {
	Error string `json:"error"`
}

// githubLeaks answers a report: it changes nothing unless the body's
// signature verifies with a key of the configured set, and then acts only
// on tokens whose secret verifies against their key's record.
func (h *handler) githubLeaks(w http.ResponseWriter, r *http.Request) {
	h.answerGitHubLeaks(&leakAnswer{ResponseWriter: w, metrics: h.v.metrics}, r)
}

// leakAnswer counts the answers to leak reports.
type leakAnswer struct {
	http.ResponseWriter
	metrics *Metrics
}

func (a *leakAnswer) WriteHeader(code int) {
	a.metrics.leakReports.WithLabelValues("github", strconv.Itoa(code)).Inc()
	a.ResponseWriter.WriteHeader(code)
}

func (h *handler) answerGitHubLeaks(w http.ResponseWriter, r *http.Request) {
	gl := h.v.leaks.github
	// Everything that needs no body is checked before the body is read:
	// the endpoint is public, and an unsigned body must cost nothing.
	pub, sig, msg := h.githubSigner(r)
	if msg != "" {
		writeJSON(w, http.StatusUnauthorized, leakError{msg})
		return
	}
	body, status, msg := gl.readSigned(w, r, pub, sig)
	if status != 0 {
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		writeJSON(w, status, leakError{msg})
		return
	}
	var tokens []reportedToken
	if err := json.Unmarshal(body, &tokens); err != nil {
		writeJSON(w, http.StatusBadRequest, leakError{"the report is not a JSON array of {token, type, url, source}"})
		return
	}
	if len(tokens) > gl.settings.maxTokens {
		writeJSON(w, http.StatusRequestEntityTooLarge, leakError{fmt.Sprintf("the report holds %d tokens, more than %d", len(tokens), gl.settings.maxTokens)})
		return
	}
	if !h.v.ready() || h.v.stale(h.v.clock.Now()) {
		// A replica that may lack records would label real keys false
		// positives, and GitHub would not ask again.
		w.Header().Set("Retry-After", "30")
		writeJSON(w, http.StatusServiceUnavailable, leakError{"the verifier's key records are not in sync yet; send the report again"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), gl.settings.decideTimeout)
	defer cancel()
	labels, undecided := h.v.judgeLeaks(ctx, tokens)
	if undecided > 0 {
		w.Header().Set("Retry-After", "30")
		writeJSON(w, http.StatusServiceUnavailable, leakError{fmt.Sprintf("%d of %d tokens could not be decided in time or handed on; send the report again", undecided, len(tokens))})
		return
	}
	out := make([]tokenFeedback, 0, len(tokens))
	for i, t := range tokens {
		h.v.metrics.leakTokens.WithLabelValues("github", labels[i]).Inc()
		out = append(out, tokenFeedback{TokenHash: tokenSHA256(t.Token), TokenType: t.Type, Label: labels[i]})
	}
	writeJSON(w, http.StatusOK, out)
}

// judgeLeaks labels a report's tokens: first every one that costs no
// hashing, then the others, so that a report's known tokens are decided
// (and its known leaks acted on) even when hashing the rest runs out of
// time. A token not decided is counted and left "".
func (v *Verifier) judgeLeaks(ctx context.Context, tokens []reportedToken) ([]string, int) {
	labels := make([]string, len(tokens))
	var later []int
	undecided := 0
	var firstErr error
	fail := func(err error) {
		undecided++
		if firstErr == nil {
			firstErr = err
		}
	}
	for i, t := range tokens {
		label, err := v.judgeLeak(ctx, t, false)
		switch {
		case errors.Is(err, errNeedsHashing):
			later = append(later, i)
		case err != nil:
			fail(err)
		default:
			labels[i] = label
		}
	}
	for _, i := range later {
		label, err := v.judgeLeak(ctx, tokens[i], true)
		if err != nil {
			fail(err)
			continue
		}
		labels[i] = label
	}
	if firstErr != nil {
		v.log.Error(firstErr, "tokens of a leaked-key report could not be decided; the reporter is asked to send it again", "undecided", undecided)
	}
	return labels, undecided
}

// githubSigner returns the key the report's identifier names and the
// decoded signature, or what is wrong with the headers.
func (h *handler) githubSigner(r *http.Request) (*ecdsa.PublicKey, []byte, string) {
	id := r.Header.Get(HeaderGitHubKeyID)
	sig64 := r.Header.Get(HeaderGitHubSignature)
	switch {
	case id == "":
		return nil, nil, "the " + HeaderGitHubKeyID + " header is missing"
	case sig64 == "":
		return nil, nil, "the " + HeaderGitHubSignature + " header is missing"
	case len(id) > 256:
		return nil, nil, "the " + HeaderGitHubKeyID + " header is too long"
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil {
		return nil, nil, "the " + HeaderGitHubSignature + " header is not base64"
	}
	pub, err := h.v.leaks.github.keys.lookup(r.Context(), id)
	if err != nil {
		return nil, nil, "the " + HeaderGitHubKeyID + " names no key of the configured public key set"
	}
	return pub, sig, ""
}

// readSigned reads the body, at most maxBodiesInFlight at once, and checks
// its signature; a non-zero status says why it was refused. The bodies in
// flight are bounded because a known identifier is public: anyone can
// send one with a large body that is only refused once it is read.
func (gl *githubLeaks) readSigned(w http.ResponseWriter, r *http.Request, pub *ecdsa.PublicKey, sig []byte) ([]byte, int, string) {
	select {
	case gl.bodies <- struct{}{}:
		defer func() { <-gl.bodies }()
	default:
		return nil, http.StatusServiceUnavailable, "too many reports are being read; send the report again"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, gl.settings.maxBody))
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("the report exceeds %d bytes", gl.settings.maxBody)
		}
		return nil, http.StatusBadRequest, "the report's body could not be read"
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return nil, http.StatusUnauthorized, "the " + HeaderGitHubSignature + " does not verify over the body with the key " + HeaderGitHubKeyID + " names"
	}
	return body, 0, ""
}

func tokenSHA256(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// bounded cuts what a reporter says about a token to what a status may
// hold: a URL that is not one is dropped rather than the leak ignored.
func (t reportedToken) bounded() (url, source, typ string) {
	url = t.URL
	if leak.CheckURL(url) != nil {
		url = ""
	}
	return url, cutUTF8(t.Source, leak.MaxSourceLength), cutUTF8(t.Type, leak.MaxTypeLength)
}

func cutUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
