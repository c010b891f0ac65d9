package testutil

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// WriteGeoIPDatabase writes a GeoLite2-Country-shaped database that puts
// each network (CIDR) in a country (ISO code) at path, replacing the file
// at once, as an updater does, and returns path. An empty path writes into
// a new temporary directory.
func WriteGeoIPDatabase(t testing.TB, path string, countries map[string]string) string {
	return WriteGeoIPDatabaseOfType(t, path, "GeoLite2-Country", countries)
}

// WriteGeoIPDatabaseOfType is WriteGeoIPDatabase with another database
// type in the metadata.
func WriteGeoIPDatabaseOfType(t testing.TB, path, databaseType string, countries map[string]string) string {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	}
	if err := WriteGeoIPFile(path, databaseType, countries); err != nil {
		t.Fatal(err)
	}
	return path
}

// WriteGeoIPFile is WriteGeoIPDatabaseOfType for a TestMain, which has no
// testing.TB: a database shared by a package's tests.
func WriteGeoIPFile(path, databaseType string, countries map[string]string) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: databaseType, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		return err
	}
	for cidr, iso := range countries {
		_, network, err := net.ParseCIDR(cidr)
		if err != nil {
			return err
		}
		if err := tree.Insert(network, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(iso)}}); err != nil {
			return err
		}
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
