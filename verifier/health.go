package verifier

import (
	"net/http"
)

// HealthHandler serves /healthz (the process answers) and /readyz (records
// and signing keys loaded and known current recently enough to permit).
func (v *Verifier) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case !v.ready():
			http.Error(w, "the key records or the signing keys are not loaded yet", http.StatusServiceUnavailable)
		case v.stale(v.clock.Now()):
			http.Error(w, "the key records have not been known current for longer than the staleness bound: the API server cannot be heard, or the record watch is stalled", http.StatusServiceUnavailable)
		case v.tokens != nil && v.signingStale(v.clock.Now()):
			http.Error(w, "the signing keys have not been known current for longer than the staleness bound: the API server cannot be heard, or the signing-key watch is stalled", http.StatusServiceUnavailable)
		default:
			// A failing shared rate-limit store does not make the replica
			// unready: the fallback policy decides meanwhile. It is told.
			if detail := v.limits.degraded(); detail != "" {
				_, _ = w.Write([]byte("ok; " + detail + "\n"))
				return
			}
			_, _ = w.Write([]byte("ok\n"))
		}
	})
	return mux
}
