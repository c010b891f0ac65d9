package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/keys"
)

// The ConfigMap that carries a replica's activity report (the embedded
// aggregation): one per replica, beside its quota report, cached by the
// manager through record.VerifierReportLabel like the quota report.
const (
	ActivityLabel      = "keyward.dev/activity"
	ActivityDataKey    = "activity.json"
	ActivityNamePrefix = "keyward-activity-"
)

// ActivityMinutes is how many of its latest minutes a report carries per
// key: the manager reads a minute once it is closed, and a report it
// missed is covered by the next one.
const ActivityMinutes = 3

// MaxActivityKeys bounds the keys of one activity report, so that a report
// stays far below the 1 MiB an object may hold whatever the number of keys
// in use: a key's minutes take at most about 600 bytes each with the usual
// denial reasons (verifier's TestActivityReportSizeAtMaxKeys: about 700 KB
// for 400 keys of full minutes), and MaxActivityBytes bounds the rare
// report of more reasons. A replica that saw more keys reports the busiest
// and counts the rest in Omitted; an installation that outgrows this uses
// the Redis aggregation.
const MaxActivityKeys = 400

// MaxActivityBytes bounds an encoded activity report: a verifier leaves
// out its least busy keys (counted in Omitted) until the report fits.
const MaxActivityBytes = 768 << 10

// Latency is a replica's decision latency over its last report interval.
type Latency struct {
	Decisions uint64        `json:"decisions"`
	P50       time.Duration `json:"p50"`
	P99       time.Duration `json:"p99"`
}

// ActivityReport is one replica's recent activity of the keys it saw.
type ActivityReport struct {
	ReportedAt time.Time                     `json:"reportedAt"`
	Keys       map[string][]analytics.Minute `json:"keys"`
	// Omitted counts the keys left out for MaxActivityKeys (or
	// MaxActivityBytes): the report is then an incomplete picture of its
	// minutes (IncompleteMinutes).
	Omitted int     `json:"omitted,omitempty"`
	Latency Latency `json:"latency"`
}

// IncompleteMinutes are the minutes a report left keys out of: all it
// covers, the ActivityMinutes up to ReportedAt's, as a key left out may
// have been used in any of them; none when it left nothing out.
func (r ActivityReport) IncompleteMinutes() []time.Time {
	if r.Omitted == 0 {
		return nil
	}
	last := r.ReportedAt.UTC().Truncate(time.Minute)
	out := make([]time.Time, 0, ActivityMinutes)
	for back := ActivityMinutes - 1; back >= 0; back-- {
		out = append(out, last.Add(-time.Duration(back)*time.Minute))
	}
	return out
}

// ActivityName is the ConfigMap name of a replica's activity report.
func ActivityName(replica string) (string, error) {
	name, err := Name(replica)
	if err != nil {
		return "", err
	}
	return ActivityNamePrefix + name[len(NamePrefix):], nil
}

// EncodeActivity writes a report, refusing one DecodeActivity would.
func EncodeActivity(r ActivityReport) ([]byte, error) {
	r.ReportedAt = seconds(r.ReportedAt)
	if err := validateActivity(r); err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

// DecodeActivity reads a report, refusing one a correct verifier would not
// write.
func DecodeActivity(data []byte) (ActivityReport, error) {
	var r ActivityReport
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return ActivityReport{}, err
	}
	if err := validateActivity(r); err != nil {
		return ActivityReport{}, err
	}
	return r, nil
}

func validateActivity(r ActivityReport) error {
	if r.ReportedAt.IsZero() {
		return errors.New("reportedAt is missing")
	}
	if len(r.Keys) > MaxActivityKeys {
		return fmt.Errorf("report of %d keys exceeds %d", len(r.Keys), MaxActivityKeys)
	}
	if r.Omitted < 0 || r.Latency.P50 < 0 || r.Latency.P99 < 0 {
		return errors.New("negative omitted count or latency")
	}
	for id, minutes := range r.Keys {
		if err := keys.ValidateID(id); err != nil {
			return err
		}
		if len(minutes) == 0 || len(minutes) > ActivityMinutes {
			return fmt.Errorf("key %s: %d minutes, want 1 to %d", id, len(minutes), ActivityMinutes)
		}
		for i, m := range minutes {
			if err := m.Validate(); err != nil {
				return fmt.Errorf("key %s: %w", id, err)
			}
			if i > 0 && !m.Start.After(minutes[i-1].Start) {
				return fmt.Errorf("key %s: minutes out of order", id)
			}
		}
	}
	return nil
}
