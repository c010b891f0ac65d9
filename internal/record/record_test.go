package record

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/keys"
)

func validRecord(t *testing.T) (Record, keys.Key) {
	t.Helper()
	k, err := keys.Generate("")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := keys.NewHasher(1000, true)
	phc, err := h.Hash(k)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	return Record{
		Schema: Schema, KeyID: k.ID(), Owner: "15a6", State: Active,
		APIKey:     APIKeyRef{UID: "5f0c5e4e-1111-4b39-9f3a-000000000001", Namespace: "payments", Name: "fraud-reporting"},
		Secrets:    []Secret{{Serial: "s1", Hash: phc, NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}},
		Scopes:     []string{"acme/payments/investigations:read"},
		Conditions: Conditions{SourceCIDRs: []string{"10.0.0.0/8"}},
		ExpiresAt:  &exp, Version: 1,
	}, k
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	g := NewWithT(t)
	r, k := validRecord(t)
	b, err := Encode(r)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(b)).NotTo(ContainSubstring(k.Plaintext()))

	again, err := Encode(r)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(Equal(b), "encoding is deterministic")

	got, err := Decode(b)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(SameContent(got, r)).To(BeTrue())
	g.Expect(got.Version).To(Equal(int64(1)))
	cur, ok := got.Current()
	g.Expect(ok).To(BeTrue())
	g.Expect(keys.Verify(k, cur.Hash)).To(BeTrue())
}

func TestValidateRefusesHalfFormedRecords(t *testing.T) {
	cases := map[string]struct {
		mutate func(*Record)
		want   string
	}{
		"unknown schema":          {func(r *Record) { r.Schema = "keyward.dev/record/v9" }, "schema"},
		"bad key ID":              {func(r *Record) { r.KeyID = "UPPER" }, "key ID"},
		"no owner":                {func(r *Record) { r.Owner = "" }, "owner is empty"},
		"no APIKey":               {func(r *Record) { r.APIKey.UID = "" }, "apiKey needs uid"},
		"active without secret":   {func(r *Record) { r.Secrets = nil }, "at least one secret"},
		"revoked keeping secrets": {func(r *Record) { r.State = Revoked; r.RevokedAt = r.ExpiresAt }, "keeps no secrets"},
		"revoked without time":    {func(r *Record) { r.State = Revoked; r.Secrets = nil }, "revokedAt"},
		"secrets out of order": {func(r *Record) {
			later := r.Secrets[0]
			later.Serial, later.NotBefore = "s2", later.NotBefore.Add(time.Hour)
			r.Secrets = []Secret{later, r.Secrets[0]}
		}, "oldest first"},
		"unknown state": {func(r *Record) { r.State = "paused" }, "unknown state"},
		"bad hash":      {func(r *Record) { r.Secrets[0].Hash = "plain" }, "PHC"},
		"no serial":     {func(r *Record) { r.Secrets[0].Serial = "" }, "serial is empty"},
		"bad scope":     {func(r *Record) { r.Scopes = []string{"acme:read"} }, "scopes[0]"},
		"zero version":  {func(r *Record) { r.Version = 0 }, "version"},
		"a CIDR that does not parse": {func(r *Record) { r.Conditions.SourceCIDRs = []string{"10.0.0.300/8"} },
			`conditions: sourceCIDRs[0]: "10.0.0.300/8" is not a network`},
		"an unknown time zone": {func(r *Record) {
			r.Conditions.TimeWindows = []access.TimeWindow{{Start: "09:00", End: "18:00", TimeZone: "Mars/Base"}}
		}, `conditions: timeWindows[0].timeZone: unknown time zone "Mars/Base"`},
		"a lower-case country":        {func(r *Record) { r.Conditions.Countries = []string{"de"} }, "conditions: countries[0]"},
		"an unknown auth method":      {func(r *Record) { r.AuthMethods = []string{"Password"} }, `authMethods[0]: unknown method "Password"`},
		"an auth method listed twice": {func(r *Record) { r.AuthMethods = []string{AuthAPIKey, AuthAPIKey} }, `authMethods[1]: "APIKey" is listed twice`},
		"a malformed fingerprint":     {func(r *Record) { r.Secrets[0].Fingerprint = "hmac-sha256:k1:short" }, "fingerprint is malformed"},
		"a malformed lookup ID":       {func(r *Record) { r.Secrets[0].LookupID = "IYOPHNOT4ILT5ZVX" }, "lookupID is malformed"},
		"a ledger naming no secret":   {func(r *Record) { r.Ledger = &Ledger{Current: "s9"} }, `ledger.current: no secret has serial "s9"`},
		"a previous without end": {func(r *Record) { r.Ledger = &Ledger{Current: "s1", Previous: "s1"} },
			"the previous secret needs notAfter"},
		"a reveal without cause": {func(r *Record) {
			r.Ledger = &Ledger{Current: "s1", Generation: 1, Revealed: &Reveal{Generation: 1, At: time.Now()}}
		}, `ledger.revealed needs a generation, a time and a cause ("read" or "deadline")`},
		"a reveal of generation 0": {func(r *Record) {
			r.Ledger = &Ledger{Current: "s1", Generation: 1, Revealed: &Reveal{At: time.Now(), Cause: RevealRead}}
		}, "ledger.revealed needs a generation"},
		"a staged secret without fingerprint": {func(r *Record) {
			r.Ledger = &Ledger{Current: "s1", Staged: &Secret{Serial: "s2", Hash: r.Secrets[0].Hash}, StagedFor: StagedForNext}
		}, "ledger.staged needs a serial, a hash and a fingerprint"},
		"a staged secret that verifies already": {func(r *Record) {
			st := r.Secrets[0]
			st.Fingerprint = testFingerprint
			r.Ledger = &Ledger{Current: "s1", Staged: &st, StagedFor: StagedForNext}
		}, `serial "s1" already verifies`},
		"a staged secret going nowhere": {func(r *Record) {
			r.Ledger = &Ledger{Current: "s1", Staged: &Secret{Serial: "s2", Hash: r.Secrets[0].Hash, Fingerprint: testFingerprint}}
		}, "ledger.stagedFor"},
		"MutualTLS without a binding": {func(r *Record) { r.AuthMethods = []string{AuthMutualTLS} },
			"clientCertificate is set exactly when authMethods has MutualTLS"},
		"a binding without MutualTLS": {func(r *Record) { r.ClientCertificate = &certbind.Binding{Thumbprint: strings.Repeat("A", 43)} },
			"clientCertificate is set exactly when authMethods has MutualTLS"},
		"a name bound without its authority": {func(r *Record) {
			r.AuthMethods, r.ClientCertificate = []string{AuthMutualTLS}, &certbind.Binding{DNSName: "reporter.example"}
		}, "clientCertificate: authority: required"},
		"issuing with a valid secret": {func(r *Record) { r.State = Issuing }, "an issuing key has a staged secret and none that verifies"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r, _ := validRecord(t)
			tc.mutate(&r)
			_, err := Encode(r)
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

// testFingerprint has the form of a fingerprint; records never check
// what it matches.
const testFingerprint = "hmac-sha256:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

func TestAnIssuingRecordHoldsOnlyAStagedSecret(t *testing.T) {
	g := NewWithT(t)
	r, _ := validRecord(t)
	staged := r.Secrets[0]
	staged.Fingerprint = testFingerprint
	r.State, r.Secrets = Issuing, nil
	r.Ledger = &Ledger{Staged: &staged, StagedFor: StagedForKey, Generation: 1}
	b, err := Encode(r)
	g.Expect(err).NotTo(HaveOccurred())
	back, err := Decode(b)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(back.Ledger.Staged.Serial).To(Equal(staged.Serial))
	_, ok := back.Current()
	g.Expect(ok).To(BeFalse(), "nothing verifies while issuing")
}

func TestSameContentIgnoresOnlyVersion(t *testing.T) {
	g := NewWithT(t)
	a, _ := validRecord(t)
	b := a
	b.Version = 7
	g.Expect(SameContent(a, b)).To(BeTrue())
	b.Scopes = []string{"acme/payments/investigations:write"}
	g.Expect(SameContent(a, b)).To(BeFalse())
}

func TestAccessConditionsTravelWhole(t *testing.T) {
	g := NewWithT(t)
	r, _ := validRecord(t)
	r.Conditions = access.Conditions{
		SourceCIDRs:            []string{"10.0.0.0/8"},
		TimeWindows:            []access.TimeWindow{{Days: []string{"Mon", "Fri"}, Start: "22:00", End: "02:00", TimeZone: "Europe/Berlin"}},
		Countries:              []string{"DE", "NL"},
		Networks:               []string{"corp"},
		RequireCompliantDevice: true,
	}
	b, err := Encode(r)
	g.Expect(err).NotTo(HaveOccurred())
	// The field names are the contract with verifiers of other versions.
	g.Expect(string(b)).To(ContainSubstring(`"conditions":{"sourceCIDRs":["10.0.0.0/8"],` +
		`"timeWindows":[{"days":["Mon","Fri"],"start":"22:00","end":"02:00","timeZone":"Europe/Berlin"}],` +
		`"countries":["DE","NL"],"networks":["corp"],"requireCompliantDevice":true}`))
	got, err := Decode(b)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.Conditions).To(Equal(r.Conditions))
}

func TestARecordWithoutAccessConditionsCarriesNone(t *testing.T) {
	for name, c := range map[string]access.Conditions{
		"zero":        {},
		"empty lists": {SourceCIDRs: []string{}, TimeWindows: []access.TimeWindow{}, Countries: []string{}, Networks: []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r, _ := validRecord(t)
			r.Conditions = c
			b, err := Encode(r)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(b)).NotTo(ContainSubstring(`"conditions"`))
		})
	}
}

func TestSameContentSeesEveryAccessCondition(t *testing.T) {
	changes := map[string]func(*access.Conditions){
		"source":  func(c *access.Conditions) { c.SourceCIDRs = []string{"10.1.0.0/16"} },
		"window":  func(c *access.Conditions) { c.TimeWindows[0].End = "17:00" },
		"zone":    func(c *access.Conditions) { c.TimeWindows[0].TimeZone = "Europe/Paris" },
		"days":    func(c *access.Conditions) { c.TimeWindows[0].Days = []string{"Mon"} },
		"country": func(c *access.Conditions) { c.Countries = []string{"NL"} },
		"network": func(c *access.Conditions) { c.Networks = []string{"vpn"} },
		"device":  func(c *access.Conditions) { c.RequireCompliantDevice = false },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			a, _ := validRecord(t)
			a.Conditions = access.Conditions{
				SourceCIDRs:            []string{"10.0.0.0/8"},
				TimeWindows:            []access.TimeWindow{{Start: "09:00", End: "18:00", TimeZone: "Europe/Berlin"}},
				Countries:              []string{"DE"},
				Networks:               []string{"corp"},
				RequireCompliantDevice: true,
			}
			b := a
			b.Conditions.TimeWindows = []access.TimeWindow{a.Conditions.TimeWindows[0]}
			change(&b.Conditions)
			g.Expect(SameContent(a, b)).To(BeFalse())
		})
	}
}

func TestCurrentIsTheNewestSecret(t *testing.T) {
	g := NewWithT(t)
	r, _ := validRecord(t)
	older := r.Secrets[0]
	newer := older
	newer.Serial = "s2"
	newer.NotBefore = older.NotBefore.Add(time.Hour)
	r.Secrets = []Secret{newer, older}
	SortSecrets(r.Secrets)
	cur, ok := r.Current()
	g.Expect(ok).To(BeTrue())
	g.Expect(cur.Serial).To(Equal("s2"))
}

func FuzzDecode(f *testing.F) {
	r, _ := validRecord(&testing.T{})
	b, _ := Encode(r)
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(strings.Repeat("[", 100)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode: Decode never hands out a record
		// that Encode would refuse, except one written before records named
		// their APIKey, which the manager rewrites with its APIKey.
		if r.APIKey == (APIKeyRef{}) {
			r.APIKey = APIKeyRef{UID: "uid-1", Namespace: "fraud", Name: "key-1"}
		}
		if _, err := Encode(r); err != nil {
			t.Fatalf("decoded record does not re-encode: %v", err)
		}
	})
}

func TestAllowsDefaultsToTheKeyItself(t *testing.T) {
	g := NewWithT(t)
	r, _ := validRecord(t)
	g.Expect(r.Allows(AuthAPIKey)).To(BeTrue(), "a record without authMethods predates them: the key itself")
	g.Expect(r.Allows(AuthClientCredentials)).To(BeFalse())
	r.AuthMethods = []string{AuthClientCredentials}
	g.Expect(r.Allows(AuthAPIKey)).To(BeFalse())
	g.Expect(r.Allows(AuthClientCredentials)).To(BeTrue())
}

func TestARevealTravelsInTheLedger(t *testing.T) {
	g := NewWithT(t)
	r, _ := validRecord(t)
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	r.Ledger = &Ledger{Current: "s1", Generation: 1, Revealed: &Reveal{Generation: 1, At: at, Cause: RevealDeadline}}
	b, err := Encode(r)
	g.Expect(err).NotTo(HaveOccurred())
	got, err := Decode(b)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.Ledger.Revealed).To(Equal(&Reveal{Generation: 1, At: at, Cause: RevealDeadline}))
	unrevealed := got
	l := *got.Ledger
	l.Revealed = nil
	unrevealed.Ledger = &l
	g.Expect(SameContent(got, unrevealed)).To(BeFalse(), "a reveal is a change of content")
}

func TestCloneSharesNothingTheManagerChanges(t *testing.T) {
	g := NewWithT(t)
	orig := Record{
		Secrets: []Secret{{Serial: "a"}},
		Ledger:  &Ledger{Current: "a", Staged: &Secret{Serial: "b"}, Revealed: &Reveal{Generation: 1}},
	}
	c := orig.Clone()
	c.Secrets[0].Serial = "changed"
	c.Ledger.Current = "changed"
	c.Ledger.Staged.Serial = "changed"
	c.Ledger.Revealed.Generation = 2
	g.Expect(orig.Secrets[0].Serial).To(Equal("a"))
	g.Expect(orig.Ledger.Current).To(Equal("a"))
	g.Expect(orig.Ledger.Staged.Serial).To(Equal("b"))
	g.Expect(orig.Ledger.Revealed.Generation).To(Equal(int64(1)))
}
