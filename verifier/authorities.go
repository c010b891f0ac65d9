package verifier

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/pemcerts"
)

// CertificateAuthority is a CA that client-certificate bindings may name:
// a binding by subject or SAN holds only for certificates it issued.
type CertificateAuthority struct {
	// Name is what bindings call it in clientCertificate.authority.
	Name string `json:"name"`
	// CAFile is a PEM bundle of its certificates (roots, or the
	// intermediates that issue client certificates).
	CAFile string `json:"caFile"`
}

// maxAuthorities bounds the configuration; a handful is usual.
const maxAuthorities = 64

// Authorities are the configured CAs by name, read from their files at
// start and again by Reload (cert-manager renews CA bundles in place).
type Authorities struct {
	list []CertificateAuthority
	mu   sync.RWMutex
	// pools by name; replaced whole on reload.
	pools map[string]*x509.CertPool
	// loaded is the fingerprint of the files the pools were read from:
	// taken when they are read, not when watching starts, so that a file
	// changed in between is still noticed.
	loaded [sha256.Size]byte
	// generation changes on every reload, so cached verifications made
	// against an older bundle are not reused.
	generation atomic.Int64
}

// LoadAuthorities reads every CA bundle, reporting every problem at once.
func LoadAuthorities(list []CertificateAuthority) (*Authorities, error) {
	a := &Authorities{list: list}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload rereads the bundles. On any error the authorities in use stay as
// they were: a half-written file must not revoke every certificate.
func (a *Authorities) Reload() error {
	// Taken before reading: a file written in between is read again at
	// the next check rather than missed.
	fingerprint := a.fingerprint()
	pools, err := loadPools(a.list)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.pools, a.loaded = pools, fingerprint
	a.mu.Unlock()
	a.generation.Add(1)
	return nil
}

func loadPools(list []CertificateAuthority) (map[string]*x509.CertPool, error) {
	if len(list) > maxAuthorities {
		return nil, fmt.Errorf("clientCertificates.authorities: %d authorities, at most %d", len(list), maxAuthorities)
	}
	pools := make(map[string]*x509.CertPool, len(list))
	var errs []error
	for i, ca := range list {
		field := fmt.Sprintf("clientCertificates.authorities[%d]", i)
		if err := certbind.ValidateAuthority(ca.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s.name: %w", field, err))
			continue
		}
		if _, dup := pools[ca.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is configured twice", field, ca.Name))
			continue
		}
		if ca.CAFile == "" {
			errs = append(errs, fmt.Errorf("%s.caFile: required", field))
			continue
		}
		pool, err := readBundle(ca.CAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", field, ca.Name, err))
			continue
		}
		pools[ca.Name] = pool
	}
	return pools, errors.Join(errs...)
}

// readBundle reads a CA bundle as every keyward listener and client does
// (pemcerts.Pool): certificates and nothing else.
func readBundle(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := pemcerts.Pool(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pool, nil
}

// pool returns the CA pool of a name and the generation it belongs to.
func (a *Authorities) pool(name string) (*x509.CertPool, int64, bool) {
	if a == nil {
		return nil, 0, false
	}
	gen := a.generation.Load()
	a.mu.RLock()
	p, ok := a.pools[name]
	a.mu.RUnlock()
	return p, gen, ok
}

// AuthoritiesReloadInterval is how often Run looks at the CA files.
const AuthoritiesReloadInterval = 10 * time.Second

// Run reloads the bundles whenever a file's content changes, until ctx
// ends. A mounted Secret or ConfigMap changes by a symlink swap, which
// no watch on the old file sees, so this reads the files; they are small.
// A bundle that fails to load is logged and the authorities stay as they
// were until it is fixed.
func (a *Authorities) Run(ctx context.Context, every time.Duration, log logr.Logger) {
	// failed is the content that did not load, logged once rather than
	// at every check until someone fixes it.
	var failed [sha256.Size]byte
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := a.fingerprint()
		a.mu.RLock()
		loaded := a.loaded
		a.mu.RUnlock()
		if now == loaded || now == failed {
			continue
		}
		if err := a.Reload(); err != nil {
			failed = now
			log.Error(err, "the client-certificate authorities changed on disk and do not load; keeping the previous ones")
			continue
		}
		log.Info("reloaded the client-certificate authorities")
	}
}

// fingerprint is a digest of every CA file's content (or its error).
func (a *Authorities) fingerprint() [sha256.Size]byte {
	h := sha256.New()
	for _, ca := range a.list {
		b, err := os.ReadFile(ca.CAFile)
		if err != nil {
			b = []byte("error: " + err.Error())
		}
		fmt.Fprintf(h, "%s %d\n", ca.Name, len(b))
		h.Write(b)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
