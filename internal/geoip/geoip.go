// Package geoip tells the country of an IP address from a MaxMind-format
// database (GeoLite2 or GeoIP2 Country or City, or any database with their
// country records), and reloads the database when its file changes.
package geoip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/keyward-dev/keyward/internal/analytics"
)

// DefaultReloadInterval is how often Run looks at the file: databases are
// updated weekly at most, and a minute's delay costs nothing.
const DefaultReloadInterval = time.Minute

// DB is a country database read from a file. Lookups never wait: a reload
// swaps the whole database at once.
type DB struct {
	path string
	cur  atomic.Pointer[maxminddb.Reader]
	// mu serialises reloads; loaded is the stamp of the file in use and
	// refused the stamp of the last file that would not load, so that a
	// broken file is reported once, not at every look.
	mu              sync.Mutex
	loaded, refused stamp
}

// stamp tells one version of a file from another without reading it.
type stamp struct {
	size    int64
	modTime time.Time
}

// missing is the stamp of a file that is not there.
var missing = stamp{size: -1}

// Open reads the database at path, refusing a file that is not one.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("geoip.databasePath is empty")
	}
	d := &DB{path: path}
	if _, err := d.Reload(); err != nil {
		return nil, err
	}
	return d, nil
}

// Path is the database's file.
func (d *DB) Path() string { return d.path }

// Country is the ISO 3166-1 alpha-2 code of the country the database puts
// the address in (its registered country when it knows no other), or ""
// when it knows none.
func (d *DB) Country(a netip.Addr) string {
	if d == nil || !a.IsValid() {
		return ""
	}
	r := d.cur.Load().Lookup(a.Unmap())
	if !r.Found() {
		return ""
	}
	var iso string
	if r.DecodePath(&iso, "country", "iso_code") != nil || iso == "" {
		if r.DecodePath(&iso, "registered_country", "iso_code") != nil {
			return ""
		}
	}
	if !analytics.ValidCountry(iso) {
		return ""
	}
	return iso
}

// Reload reads the file again if it changed since it was read, reporting
// whether the database was replaced. On any error the database in use
// stays: a half-copied file must not take every country away. A file that
// failed is not tried again, nor reported again, until it changes.
func (d *DB) Reload() (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	info, err := os.Stat(d.path)
	if err != nil {
		if d.cur.Load() != nil && d.refused == missing {
			return false, nil
		}
		d.refused = missing
		return false, fmt.Errorf("geoip database %s: %w", d.path, err)
	}
	s := stamp{size: info.Size(), modTime: info.ModTime()}
	if d.cur.Load() != nil && (s == d.loaded || s == d.refused) {
		return false, nil
	}
	r, err := load(d.path)
	if err != nil {
		d.refused = s
		return false, err
	}
	d.cur.Store(r)
	d.loaded, d.refused = s, stamp{}
	return true, nil
}

// load reads the whole file into memory rather than mapping it: a reader
// swapped out may still be in use by a lookup, and the garbage collector,
// unlike munmap, waits for it.
func load(path string) (*maxminddb.Reader, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s is not a MaxMind database: %w", path, err)
	}
	if t := r.Metadata.DatabaseType; !hasCountries(t) {
		return nil, fmt.Errorf("geoip database %s is a %q database; a Country or City database (GeoLite2 or GeoIP2) is needed", path, t)
	}
	return r, nil
}

// hasCountries: MaxMind's country-bearing databases are the Country, City
// and Enterprise editions; the ASN, ISP and other editions carry none.
func hasCountries(databaseType string) bool {
	for _, kind := range []string{"Country", "City", "Enterprise"} {
		if strings.Contains(databaseType, kind) {
			return true
		}
	}
	return false
}

// Run reloads the database whenever its file changes, looking every
// interval until ctx ends; a file that fails to load is logged once and the
// database in use kept.
func (d *DB) Run(ctx context.Context, interval time.Duration, log logr.Logger) {
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			switch changed, err := d.Reload(); {
			case err != nil:
				log.Error(err, "the new GeoIP database was not loaded; the previous one stays in use")
			case changed:
				log.Info("reloaded the GeoIP database", "path", d.path)
			}
		}
	}
}
