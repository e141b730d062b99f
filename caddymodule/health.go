package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/blnkfinance/blnk-auth-gateway/internal/health"
)

func init() {
	caddy.RegisterModule(Health{})
}

// Health is the "blnk_health" handler, for load balancers and Kubernetes
// probes; it needs no credential. "ready" answers 200 only while the store
// answers, the change feed is connected with the token denylist loaded, and
// a signing key is loaded, else 503 with Retry-After and the reason: an
// instance that is not ready may refuse everyone, or (on a feed outage past
// the cache's trust) be unable to learn of revocations. "live" answers 200
// while the process serves requests and asks nothing of the database, so
// that an outage never restarts instances that recover by themselves.
//
//	blnk_health /readyz ready
//	blnk_health /livez live
//
// It runs before blnk_oauth and blnk_auth in a site's order, so the probe
// paths need no credential.
type Health struct {
	// Probe is "ready" or "live". Default "ready".
	Probe string `json:"probe,omitempty"`

	app *App
}

// CaddyModule returns the Caddy module information.
func (Health) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.blnk_health",
		New: func() caddy.Module { return new(Health) },
	}
}

// Provision finds the app whose readiness the probe reports.
func (h *Health) Provision(ctx caddy.Context) error {
	if h.Probe == "" {
		h.Probe = "ready"
	}
	if err := h.Validate(); err != nil {
		return err
	}
	a, err := app(ctx)
	if err != nil {
		return err
	}
	h.app = a
	return nil
}

// Validate checks the probe name.
func (h *Health) Validate() error {
	if h.Probe != "" && h.Probe != "ready" && h.Probe != "live" {
		return fmt.Errorf("blnk_health: probe %q: use ready or live", h.Probe)
	}
	return nil
}

// errNoSigningKey: no key to sign tokens with (every key was revoked
// elsewhere a moment ago, and the reload has not made a new one yet).
var errNoSigningKey = errors.New("no signing key is loaded")

// ready is the app's readiness: the backend's, and a signing key.
func (a *App) ready(ctx context.Context) error {
	if err := a.backend.Ready(ctx); err != nil {
		return err
	}
	if a.keyring == nil || a.keyring.Signing(time.Now()) == nil {
		return errNoSigningKey
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler; it always answers.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if h.Probe == "live" {
		health.Live(w, r)
	} else {
		health.Ready(w, r, h.app.ready)
	}
	return nil
}

// parseHealth: blnk_health [ready|live]
func parseHealth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	hh := new(Health)
	h.Next()
	if h.NextArg() {
		hh.Probe = h.Val()
		if h.NextArg() {
			return nil, h.ArgErr()
		}
	}
	if h.NextBlock(0) {
		return nil, h.Err("blnk_health takes no block")
	}
	if err := hh.Validate(); err != nil {
		return nil, h.Err(err.Error())
	}
	return hh, nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Health)(nil)
	_ caddy.Validator             = (*Health)(nil)
	_ caddyhttp.MiddlewareHandler = (*Health)(nil)
)
