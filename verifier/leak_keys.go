package verifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
)

// errUnknownSigningKey: no key of the set has the report's identifier,
// even after reading the set again (or it was read too recently to try).
var errUnknownSigningKey = errors.New("no public key of the configured set has this identifier")

// maxKeySetBytes bounds GitHub's key document; it is a few keys.
const maxKeySetBytes = 1 << 20

// reporterKeys is a reporter's set of ECDSA P-256 signing keys, read from
// a URL or a file, refreshed on a schedule and when a report names a key
// the set lacks. A failed read keeps the last good set.
type reporterKeys struct {
	url, file  string
	client     *http.Client
	clock      clock.PassiveClock
	minRefresh time.Duration
	log        logr.Logger

	mu   sync.RWMutex
	keys map[string]*ecdsa.PublicKey
	// reading serialises reads of the set; lastRead is when the last one
	// started, successful or not.
	reading  sync.Mutex
	lastRead time.Time
	failing  bool
	// limitedUntil: the server rate-limited us; no read before then.
	limitedUntil time.Time
}

// lookup returns the key with identifier id, reading the set again when it
// lacks it and the last read is at least minRefresh old.
func (k *reporterKeys) lookup(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	if pub := k.get(id); pub != nil {
		return pub, nil
	}
	k.reading.Lock()
	defer k.reading.Unlock()
	if pub := k.get(id); pub != nil { // read by whoever held the lock
		return pub, nil
	}
	if !k.lastRead.IsZero() {
		// Once the set was read, only an identifier shaped like GitHub's
		// is a reason to ask again: its unauthenticated quota is small
		// and per address.
		if !gitHubKeyIdentifier.MatchString(id) || k.clock.Since(k.lastRead) < k.minRefresh {
			return nil, errUnknownSigningKey
		}
	}
	if err := k.readLocked(ctx); err != nil {
		return nil, fmt.Errorf("%w (reading the set again failed: %v)", errUnknownSigningKey, err)
	}
	if pub := k.get(id); pub != nil {
		return pub, nil
	}
	return nil, errUnknownSigningKey
}

func (k *reporterKeys) get(id string) *ecdsa.PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[id]
}

// refresh reads the set again, keeping the last good one on failure.
func (k *reporterKeys) refresh(ctx context.Context) error {
	k.reading.Lock()
	defer k.reading.Unlock()
	return k.readLocked(ctx)
}

func (k *reporterKeys) readLocked(ctx context.Context) error {
	now := k.clock.Now()
	if now.Before(k.limitedUntil) {
		return fmt.Errorf("the key set's server limits reads until %s", k.limitedUntil.UTC().Format(time.RFC3339))
	}
	k.lastRead = now
	keys, err := k.fetch(ctx)
	if limited, ok := errors.AsType[*rateLimitedError](err); ok {
		k.limitedUntil = limited.until
	}
	if err != nil {
		if !k.failing {
			k.log.Error(err, "reading the leak reporter's public keys failed; the last good set stays in use", "source", k.source())
		}
		k.failing = true
		return err
	}
	if k.failing {
		k.log.Info("reading the leak reporter's public keys again", "source", k.source(), "keys", len(keys))
	}
	k.failing = false
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return nil
}

func (k *reporterKeys) source() string {
	if k.url != "" {
		return k.url
	}
	return k.file
}

// Run refreshes the set every interval until ctx ends, starting now.
func (k *reporterKeys) Run(ctx context.Context, interval time.Duration) {
	_ = k.refresh(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = k.refresh(ctx)
		}
	}
}

func (k *reporterKeys) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	var body []byte
	if k.file != "" {
		b, err := os.ReadFile(k.file)
		if err != nil {
			return nil, err
		}
		body = b
	} else {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := k.client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests {
			return nil, &rateLimitedError{status: resp.Status, until: k.limitEnd(resp)}
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", k.url, resp.Status)
		}
		if body, err = io.ReadAll(io.LimitReader(resp.Body, maxKeySetBytes+1)); err != nil {
			return nil, err
		}
		if len(body) > maxKeySetBytes {
			return nil, fmt.Errorf("GET %s: the key set exceeds %d bytes", k.url, maxKeySetBytes)
		}
	}
	keys, skipped, err := parseReporterKeys(body)
	if len(skipped) > 0 && err == nil {
		k.log.Info("the leak reporter's key set holds keys that are not ECDSA P-256; they are skipped", "source", k.source(), "skipped", skipped)
	}
	return keys, err
}

// rateLimitedError: the key set's server refused the read for its rate
// limit; it is not asked again before until.
type rateLimitedError struct {
	status string
	until  time.Time
}

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("%s: rate limited until %s", e.status, e.until.UTC().Format(time.RFC3339))
}

// maxRateLimitWait bounds how long a server's rate-limit headers can keep
// the set from being read again.
const maxRateLimitWait = time.Hour

// limitEnd is when a rate-limited server may be asked again: Retry-After,
// else GitHub's X-RateLimit-Reset, else minRefresh from now.
func (k *reporterKeys) limitEnd(resp *http.Response) time.Time {
	now := k.clock.Now()
	until := now.Add(k.minRefresh)
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		until = now.Add(time.Duration(s) * time.Second)
	} else if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
		until = time.Unix(reset, 0)
	}
	if limit := now.Add(maxRateLimitWait); until.After(limit) {
		return limit
	}
	return until
}

// gitHubKeyIdentifier is the shape of GitHub's key identifiers (a SHA-256
// in hex); only such an identifier makes the set be read again.
var gitHubKeyIdentifier = regexp.MustCompile(`^[0-9a-f]{64}$`)

// reporterKeySet is GitHub's document of secret scanning's signing keys.
type reporterKeySet struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	} `json:"public_keys"`
}

// parseReporterKeys refuses a whole set with a malformed entry: a set half
// read could drop the key reports are signed with while looking fine. A
// well-formed key of another algorithm (GitHub may publish others beside
// its ECDSA P-256 keys) is skipped and named in skipped.
func parseReporterKeys(b []byte) (out map[string]*ecdsa.PublicKey, skipped []string, err error) {
	var set reporterKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, nil, fmt.Errorf("the key set is not JSON of the form {\"public_keys\":[…]}: %w", err)
	}
	if len(set.PublicKeys) == 0 {
		return nil, nil, errors.New("the key set holds no public_keys")
	}
	out = make(map[string]*ecdsa.PublicKey, len(set.PublicKeys))
	for i, e := range set.PublicKeys {
		if e.KeyIdentifier == "" {
			return nil, nil, fmt.Errorf("public_keys[%d] has no key_identifier", i)
		}
		blk, _ := pem.Decode([]byte(e.Key))
		if blk == nil || blk.Type != "PUBLIC KEY" {
			return nil, nil, fmt.Errorf("public_keys[%d] (%s): key is not a PEM PUBLIC KEY", i, e.KeyIdentifier)
		}
		pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("public_keys[%d] (%s): %w", i, e.KeyIdentifier, err)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			skipped = append(skipped, fmt.Sprintf("%s (%T)", e.KeyIdentifier, pub))
			continue
		}
		out[e.KeyIdentifier] = ec
	}
	if len(out) == 0 {
		return nil, skipped, errors.New("the key set holds no ECDSA P-256 key")
	}
	return out, skipped, nil
}

// httpsOnly refuses a redirect away from https: the key set decides which
// reports are believed, and must not be read in the clear.
func httpsOnly(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("refusing the redirect to %s: the key set is read over https only", req.URL.Redacted())
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}
