package geoip

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/testutil"
)

func TestCountryOfAddresses(t *testing.T) {
	g := NewWithT(t)
	path := testutil.WriteGeoIPDatabase(t, "", map[string]string{
		"192.0.2.0/24": "DE", "198.51.100.0/24": "JP", "2001:db8:1::/48": "BR",
	})
	db, err := Open(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(db.Country(netip.MustParseAddr("192.0.2.77"))).To(Equal("DE"))
	g.Expect(db.Country(netip.MustParseAddr("::ffff:198.51.100.1"))).To(Equal("JP"), "an IPv4-mapped address is its IPv4 address")
	g.Expect(db.Country(netip.MustParseAddr("2001:db8:1:2::9"))).To(Equal("BR"))
	g.Expect(db.Country(netip.MustParseAddr("203.0.113.1"))).To(BeEmpty(), "an address the database does not know")
	g.Expect(db.Country(netip.Addr{})).To(BeEmpty())
}

// A configuration naming a missing file, a file that is no database, or a
// database without countries is refused at start, naming the file.
func TestOpenRefusesWhatIsNotACountryDatabase(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	_, err := Open(filepath.Join(dir, "nowhere.mmdb"))
	g.Expect(err).To(MatchError(And(ContainSubstring("nowhere.mmdb"), ContainSubstring("no such file"))))

	junk := filepath.Join(dir, "junk.mmdb")
	g.Expect(os.WriteFile(junk, []byte("not a database"), 0o600)).To(Succeed())
	_, err = Open(junk)
	g.Expect(err).To(MatchError(And(ContainSubstring(junk), ContainSubstring("is not a MaxMind database"))))

	asn := testutil.WriteGeoIPDatabaseOfType(t, filepath.Join(dir, "asn.mmdb"), "GeoLite2-ASN", map[string]string{"192.0.2.0/24": "DE"})
	_, err = Open(asn)
	g.Expect(err).To(MatchError(And(ContainSubstring(asn), ContainSubstring(`"GeoLite2-ASN" database`))))

	_, err = Open("")
	g.Expect(err).To(MatchError(ContainSubstring("geoip.databasePath is empty")))
}

// A new file replaces the database; a broken one keeps the one in use and
// is reported once, until it changes again.
func TestReloadSwapsOnlyAGoodDatabase(t *testing.T) {
	g := NewWithT(t)
	path := testutil.WriteGeoIPDatabase(t, "", map[string]string{"192.0.2.0/24": "DE"})
	db, err := Open(path)
	g.Expect(err).NotTo(HaveOccurred())
	addr := netip.MustParseAddr("192.0.2.1")

	changed, err := db.Reload()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeFalse(), "an unchanged file is not read again")

	testutil.WriteGeoIPDatabase(t, path, map[string]string{"192.0.2.0/24": "FR", "198.51.100.0/24": "FR"})
	bumpModTime(t, path)
	changed, err = db.Reload()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeTrue())
	g.Expect(db.Country(addr)).To(Equal("FR"))

	g.Expect(os.WriteFile(path, []byte("half a download"), 0o600)).To(Succeed())
	bumpModTime(t, path)
	_, err = db.Reload()
	g.Expect(err).To(MatchError(ContainSubstring("is not a MaxMind database")))
	g.Expect(db.Country(addr)).To(Equal("FR"), "the database in use stays")
	changed, err = db.Reload()
	g.Expect(err).NotTo(HaveOccurred(), "the same broken file is reported once")
	g.Expect(changed).To(BeFalse())

	g.Expect(os.Remove(path)).To(Succeed())
	_, err = db.Reload()
	g.Expect(err).To(MatchError(ContainSubstring("no such file")))
	_, err = db.Reload()
	g.Expect(err).NotTo(HaveOccurred(), "a missing file is reported once")
	g.Expect(db.Country(addr)).To(Equal("FR"))

	testutil.WriteGeoIPDatabase(t, path, map[string]string{"192.0.2.0/24": "JP"})
	bumpModTime(t, path)
	changed, err = db.Reload()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeTrue())
	g.Expect(db.Country(addr)).To(Equal("JP"))
}

var bumps int

// bumpModTime moves the file's modification time on, so that a rewrite
// within the file system's time resolution is still a change.
func bumpModTime(t *testing.T, path string) {
	t.Helper()
	bumps++
	next := time.Now().Add(time.Duration(bumps) * time.Hour)
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatal(err)
	}
}
