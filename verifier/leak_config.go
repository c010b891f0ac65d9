package verifier

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// LeakReportsConfig turns on the leaked-key report endpoints on the public
// port. Off unless configured.
type LeakReportsConfig struct {
	// GitHub receives GitHub secret scanning's partner reports at
	// GitHubLeaksPath.
	GitHub *GitHubLeaksConfig `json:"github,omitempty"`
}

// GitHubLeaksConfig is where GitHub's signing keys come from and how much
// one report may hold.
type GitHubLeaksConfig struct {
	// PublicKeysURL serves GitHub's signing keys, as
	// {"public_keys":[{"key_identifier","key","is_current"}]} (https;
	// GitHub's is https://api.github.com/meta/public_keys/secret_scanning).
	// Exactly one of PublicKeysURL and PublicKeysFile.
	PublicKeysURL string `json:"publicKeysURL,omitempty"`
	// PublicKeysFile holds the same document, e.g. from a ConfigMap.
	PublicKeysFile string `json:"publicKeysFile,omitempty"`
	// RefreshIntervalSeconds is how often the keys are read again
	// (default 3600). A report signed by a key not in the set also reads
	// them again, at most once every MinRefreshIntervalSeconds (default
	// 900), and only when the identifier has the shape of GitHub's (64
	// hex digits), so that random identifiers cannot spend GitHub's
	// unauthenticated quota (60 reads an hour per address). A 403 or 429
	// stops all reads until its Retry-After or X-RateLimit-Reset (at most
	// an hour). When reading fails, the last good set stays in use.
	RefreshIntervalSeconds    int `json:"refreshIntervalSeconds,omitempty"`
	MinRefreshIntervalSeconds int `json:"minRefreshIntervalSeconds,omitempty"`
	// MaxBodyBytes bounds a report's body (default 256 KiB, at most
	// 10 MiB); a longer one is refused with 413. At most four bodies are
	// read at once; a fifth report is answered 503 with Retry-After.
	MaxBodyBytes int64 `json:"maxBodyBytes,omitempty"`
	// MaxTokens bounds the tokens of one report (default 100, at most
	// 1000); more are refused with 413. A token whose key ID is known
	// and that this replica has not decided before costs a PBKDF2
	// computation, run on one hashing slot at most and only while no
	// request waits for one, within a budget per key ID.
	MaxTokens int `json:"maxTokens,omitempty"`
	// DecideTimeoutSeconds bounds the time spent deciding one report's
	// tokens (default 5); a report not decided in time is answered 503,
	// and GitHub sends it again. Tokens decided before stay decided.
	DecideTimeoutSeconds int `json:"decideTimeoutSeconds,omitempty"`
}

// githubLeakSettings is a GitHubLeaksConfig checked, with defaults.
type githubLeakSettings struct {
	url, file           string
	refresh, minRefresh time.Duration
	maxBody             int64
	maxTokens           int
	decideTimeout       time.Duration
}

const (
	defaultLeakMaxBody   = 256 << 10
	maxLeakMaxBody       = 10 << 20
	defaultLeakMaxTokens = 100
	maxLeakMaxTokens     = 1000
)

func (c GitHubLeaksConfig) compile() (githubLeakSettings, error) {
	s := githubLeakSettings{
		url: c.PublicKeysURL, file: c.PublicKeysFile,
		refresh:       secondsOr(c.RefreshIntervalSeconds, 3600),
		minRefresh:    secondsOr(c.MinRefreshIntervalSeconds, 900),
		maxBody:       c.MaxBodyBytes,
		maxTokens:     c.MaxTokens,
		decideTimeout: secondsOr(c.DecideTimeoutSeconds, 5),
	}
	switch {
	case (s.url == "") == (s.file == ""):
		return s, errors.New("leakReports.github: set exactly one of publicKeysURL and publicKeysFile")
	case s.url != "":
		u, err := url.Parse(s.url)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return s, fmt.Errorf("leakReports.github.publicKeysURL %q is not an https URL", s.url)
		}
	}
	for name, v := range map[string]int{
		"refreshIntervalSeconds": c.RefreshIntervalSeconds, "minRefreshIntervalSeconds": c.MinRefreshIntervalSeconds,
		"decideTimeoutSeconds": c.DecideTimeoutSeconds, "maxTokens": c.MaxTokens,
	} {
		if v < 0 {
			return s, fmt.Errorf("leakReports.github.%s must not be negative", name)
		}
	}
	if s.minRefresh > s.refresh {
		return s, fmt.Errorf("leakReports.github.minRefreshIntervalSeconds (%s) exceeds refreshIntervalSeconds (%s)", s.minRefresh, s.refresh)
	}
	if s.decideTimeout > 8*time.Second {
		// The public port's server writes for at most 10s.
		return s, fmt.Errorf("leakReports.github.decideTimeoutSeconds %d exceeds 8", c.DecideTimeoutSeconds)
	}
	switch {
	case s.maxBody == 0:
		s.maxBody = defaultLeakMaxBody
	case s.maxBody < 0 || s.maxBody > maxLeakMaxBody:
		return s, fmt.Errorf("leakReports.github.maxBodyBytes %d is not between 1 and %d", s.maxBody, maxLeakMaxBody)
	}
	switch {
	case s.maxTokens == 0:
		s.maxTokens = defaultLeakMaxTokens
	case s.maxTokens > maxLeakMaxTokens:
		return s, fmt.Errorf("leakReports.github.maxTokens %d exceeds %d", s.maxTokens, maxLeakMaxTokens)
	}
	return s, nil
}
