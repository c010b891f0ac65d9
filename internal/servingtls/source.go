package servingtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// DefaultReloadInterval is how often the files are read again. A renewed
// certificate is served this long after the files change at most; reading
// three small files is cheap, and polling sees a symlink swapped under a
// watched directory as plainly as a file rewritten in place.
const DefaultReloadInterval = 10 * time.Second

// Source holds a listener's current TLS material and reads it again when
// the files change.
type Source struct {
	files   Files
	current atomic.Pointer[snapshot]
}

// snapshot is one reading of the files and the configuration the
// handshakes made with it use.
type snapshot struct {
	*material
	config *tls.Config
}

// Load checks the files and reads them; a listener must not start without
// valid material.
func Load(f Files) (*Source, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	f.ClientAuth = f.mode()
	s := &Source{files: f}
	m, err := f.read()
	if err != nil {
		return nil, err
	}
	s.current.Store(s.snapshot(m))
	return s, nil
}

// Reload reads the files again and serves what they hold from the next
// handshake on. It reports whether anything changed; on an error the
// material already served stays.
func (s *Source) Reload() (changed bool, err error) {
	m, err := s.files.read()
	if err != nil {
		return false, err
	}
	if m.digest == s.current.Load().digest {
		return false, nil
	}
	s.current.Store(s.snapshot(m))
	return true, nil
}

// Run reloads every interval until ctx ends. A file that cannot be read
// or does not check (caught half-written, or replaced by something wrong)
// is logged and the previous material kept.
func (s *Source) Run(ctx context.Context, interval time.Duration, log logr.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := s.Reload()
		switch {
		case err != nil:
			log.Error(err, "TLS files not reloaded; the previous certificate stays in use")
		case changed:
			leaf := s.Leaf()
			log.Info("TLS files reloaded", "certFile", s.files.CertFile, "subject", leaf.Subject.String(), "notAfter", leaf.NotAfter)
		}
	}
}

// Leaf is the serving certificate now in use.
func (s *Source) Leaf() *x509.Certificate { return s.current.Load().pair.Leaf }
