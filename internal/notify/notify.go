// Package notify sends keyward's warnings as CloudEvents 1.0 (structured
// JSON over HTTP POST) to a sink. It never sends secret material: events
// name keys by ID and owner.
package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Event types.
const (
	RotationDueType = "dev.keyward.apikey.rotation.due"
	ExpiryDueType   = "dev.keyward.apikey.expiry.due"
	// LeakedType: a verified leak report named the key (docs/leaks.md).
	LeakedType = "dev.keyward.apikey.leaked"
	// AnomalousType: a detector of the usage analytics flagged the key
	// (docs/analytics.md).
	AnomalousType = "dev.keyward.apikey.anomalous"
)

// Warning is the data of a warning event.
type Warning struct {
	KeyID     string    `json:"keyID"`
	Owner     string    `json:"owner"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	At        time.Time `json:"at"`
	Message   string    `json:"message"`
	// URL, on LeakedType only: where the key was found.
	URL string `json:"url,omitempty"`
	// Action, on LeakedType and AnomalousType: what keyward did (Revoke,
	// Suspend, and on AnomalousType Alert).
	Action string `json:"action,omitempty"`
	// Detector and Reason, on AnomalousType only: the rule that flagged
	// the key and the finding's cause (e.g. NewLocation, NewCountry).
	Detector string `json:"detector,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// EventID, when set, is the CloudEvent's id instead of a random one:
	// a warning sent again (its first sending was not recorded) then
	// carries the same id, and CloudEvents consumers take events with the
	// same source and id for one.
	EventID string `json:"-"`
}

type cloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	Type            string    `json:"type"`
	Source          string    `json:"source"`
	ID              string    `json:"id"`
	Time            time.Time `json:"time"`
	Subject         string    `json:"subject"`
	DataContentType string    `json:"datacontenttype"`
	Data            Warning   `json:"data"`
}

// Sink posts events to one URL.
type Sink struct {
	URL    string
	Client *http.Client
	// Attempts and Backoff bound the retries within one Send; the caller's
	// own retry (the reconciler's requeue with backoff) covers longer
	// outages and restarts.
	Attempts int
	Backoff  time.Duration
	// Now dates the events: the manager's clock, so that a warning is
	// dated by the same present that decided to send it. time.Now when
	// nil.
	Now func() time.Time
}

// NewSink returns a sink with a short per-request timeout.
func NewSink(url string) *Sink {
	return &Sink{URL: url, Client: &http.Client{Timeout: 5 * time.Second}, Attempts: 3, Backoff: 200 * time.Millisecond}
}

// Send posts one event, retrying with exponential backoff when the sink
// cannot be reached or does not answer 2xx.
func (s *Sink) Send(ctx context.Context, eventType string, w Warning) error {
	id := w.EventID
	if id == "" {
		raw := make([]byte, 16)
		if _, err := rand.Read(raw); err != nil {
			return err
		}
		id = hex.EncodeToString(raw)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	body, err := json.Marshal(cloudEvent{
		SpecVersion: "1.0", Type: eventType, Source: "keyward/" + w.Namespace + "/" + w.Name,
		ID: id, Time: now().UTC(), Subject: w.Owner + "/" + w.KeyID,
		DataContentType: "application/json", Data: w,
	})
	if err != nil {
		return err
	}
	backoff := s.Backoff
	var lastErr error
	for attempt := range max(1, s.Attempts) {
		if attempt > 0 {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return ctx.Err()
			}
			backoff *= 2
		}
		if lastErr = s.post(ctx, body); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

func (s *Sink) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notification sink URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	resp, err := s.Client.Do(req)
	if err != nil {
		return fmt.Errorf("posting to the notification sink: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("notification sink answered %s", resp.Status)
	}
	return nil
}
