// Package health answers the probes of load balancers and orchestrators:
// liveness (the process serves requests) and readiness (it decides as a
// fully synced instance would). It knows nothing about Caddy.
package health

import (
	"context"
	"encoding/json"
	"net/http"
)

// Check reports why the instance is not ready, or nil.
type Check func(ctx context.Context) error

// Live answers 200 while the process serves requests. It asks nothing of the
// database, so that an outage never makes an orchestrator restart instances
// that would recover by themselves.
func Live(w http.ResponseWriter, r *http.Request) {
	if !allowed(w, r) {
		return
	}
	write(w, r, http.StatusOK, response{Status: "live"})
}

// Ready answers 200 when check passes, else 503 with Retry-After and the
// reason, so that a load balancer sends no traffic to an instance that could
// let through what a synced one would refuse, or refuse everyone.
func Ready(w http.ResponseWriter, r *http.Request, check Check) {
	if !allowed(w, r) {
		return
	}
	if err := check(r.Context()); err != nil {
		w.Header().Set("Retry-After", "1")
		write(w, r, http.StatusServiceUnavailable, response{Status: "not_ready", Reason: err.Error()})
		return
	}
	write(w, r, http.StatusOK, response{Status: "ready"})
}

type response struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func allowed(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	write(w, r, http.StatusMethodNotAllowed, response{Status: "error", Reason: "use GET or HEAD"})
	return false
}

func write(w http.ResponseWriter, r *http.Request, status int, body response) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store") // a cached "ready" would hide an outage
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(body)
	}
}
