package verifier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/apimachinery/pkg/watch"
)

// How the verifier knows its records and its signing keys are current.
// Both come from a watch of Secrets (a feed), and both are held to this
// rule the same way; "the records" below stands for either.
//
// Hearing the API server is not enough: a watch can stall (a proxy or load
// balancer that keeps the connection open but forwards nothing) while every
// new request succeeds, and the verifier would then go on permitting keys
// revoked since, or tokens of a signing key withdrawn since. So every
// heartbeat asks the API server what changed since the last resource
// version the watch delivered: a second, short watch from that version,
// which the API server ends itself after HeartbeatProbeWindow.
//
//   - Nothing changed: the records were current when the heartbeat began;
//     that moment is the contact the staleness bound counts from.
//   - Something changed: the records are current once the watch delivers
//     that change, and the contact is then the moment the heartbeat began.
//     If it has not delivered it by the next heartbeat (a healthy watch
//     takes milliseconds, and had the probe's window at least), the watch
//     is stalled: it is ended, so that the informer watches again from
//     what it delivered (or lists again when that is too old), and the
//     contact stays where it was until the watch catches up.
//   - The API server does not answer, or ends the probe early: no contact.
//
// So the contact only moves when the watch itself holds what the API server
// had, and a watch that stalls while requests succeed runs into
// --max-staleness like an API server that cannot be heard at all. Resource
// versions of one resource are compared as the integers etcd makes them
// (resourceversion.CompareResourceVersion).
//
// While the records keep changing, each heartbeat's sighting is confirmed
// by the next one: the contact is then up to two heartbeats and a probe
// window old, which --max-staleness must exceed.
const HeartbeatProbeWindow = time.Second

// behind is the newest change a heartbeat saw that the watch had not
// delivered then, and when that heartbeat began.
type behind struct {
	version string
	since   time.Time
}

func (f *feed) heartbeat(ctx context.Context) {
	began := f.clock.Now()
	delivered := f.informer.LastSyncResourceVersion()
	if f.behind.version != "" {
		if atLeast(delivered, f.behind.version) {
			f.touchAt(f.behind.since)
			f.behind = behind{}
		} else {
			f.log.Info("the watch has not delivered a change the API server reported a heartbeat ago; watching again",
				"watch", f.name, "delivered", delivered, "changed", f.behind.version)
			f.streams.restart()
		}
	}
	latest, err := f.changesSince(ctx, delivered)
	switch {
	case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
		// The API server no longer holds history that far back (it
		// restarted, or the watch is far behind): only a new list helps.
		f.log.Info("the watch is too far behind the API server; watching again", "watch", f.name, "delivered", delivered)
		f.streams.restart()
	case err != nil:
		f.log.Info("the API server cannot be heard", "watch", f.name, "error", err.Error())
	case latest == "":
		f.touchAt(began)
		f.behind = behind{}
	case f.behind.version == "":
		// An older sighting is kept until it is delivered, so that a busy
		// namespace cannot keep postponing the stall check.
		f.behind = behind{version: latest, since: began}
	}
}

// changesSince watches the Secrets from resource version from for
// HeartbeatProbeWindow and returns the newest resource version of a change
// it reports ("" when nothing changed). It fails unless the API server
// itself ended the watch at its timeout: a stream cut or stalled before
// then may have held back changes.
func (f *feed) changesSince(ctx context.Context, from string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, HeartbeatProbeWindow+5*time.Second)
	defer cancel()
	seconds := int64(HeartbeatProbeWindow / time.Second)
	// Real time, not the injected clock: it is compared with the API
	// server's own timeout.
	start := time.Now()
	stream, err := f.client.CoreV1().Secrets(f.ns).Watch(ctx, metav1.ListOptions{
		LabelSelector: f.selector, ResourceVersion: from, TimeoutSeconds: &seconds,
	})
	if err != nil {
		return "", err
	}
	defer stream.Stop()
	latest := ""
	for ev := range stream.ResultChan() {
		if ev.Type == watch.Error {
			return "", apierrors.FromObject(ev.Object)
		}
		m, err := meta.Accessor(ev.Object)
		if err != nil {
			return "", fmt.Errorf("a change without metadata: %w", err)
		}
		if rv := m.GetResourceVersion(); latest == "" || atLeast(rv, latest) {
			latest = rv
		}
	}
	if ctx.Err() != nil || time.Since(start) < HeartbeatProbeWindow {
		return "", errors.New("the watch of changes ended before the API server's timeout")
	}
	return latest, nil
}

// atLeast reports whether resource version a is b or newer; a version that
// is not an integer is newer than nothing, so the watch is restarted
// rather than trusted.
func atLeast(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && c >= 0
}

// restartable holds the informer's current watch so that a stalled one can
// be ended; the informer's reflector then watches again.
type restartable struct {
	mu      sync.Mutex
	current watch.Interface
}

func (r *restartable) track(w watch.Interface, err error) (watch.Interface, error) {
	if err == nil {
		r.mu.Lock()
		r.current = w
		r.mu.Unlock()
	}
	return w, err
}

func (r *restartable) restart() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current != nil {
		r.current.Stop()
		r.current = nil
	}
}
