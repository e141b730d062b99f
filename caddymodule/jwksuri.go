package caddymodule

import (
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientassertion"
	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
)

// JWKSURIConfig says how the JWK Sets of private_key_jwt clients registered
// with a jwks_uri are fetched (package safefetch): https only, to public
// addresses only, at most 64 KiB in 5 s, cached for their max-age between 1m
// and 24h, fetched again (at most every 30s per URL) when an assertion names
// a kid the cached set lacks.
type JWKSURIConfig struct {
	// AllowPrivate lets a jwks_uri resolve to loopback, private, link-local
	// and other non-public addresses. Default false. For tests, and for
	// clients whose keys live on internal hosts; never when anyone may
	// register a client.
	AllowPrivate bool `json:"allow_private,omitempty"`
	// AllowedHosts, when set, are the only host names a jwks_uri may name
	// (exact match). Default: any host.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
	// TrustedCAFile is a PEM file of the CA certificates that verify jwks_uri
	// servers, in place of the system's roots (a private PKI). Default: the
	// system's roots.
	TrustedCAFile string `json:"trusted_ca_file,omitempty"`
	// MinRefresh is the least time between two fetches of one jwks_uri that
	// an assertion naming an unknown kid may cause, so that assertions with
	// made-up kids cannot make the gateway hammer a host. Default 30s.
	MinRefresh caddy.Duration `json:"min_refresh,omitempty"`
}

// options is c as safefetch options (c may be nil: the defaults).
func (c *JWKSURIConfig) options() (safefetch.Options, error) {
	o := safefetch.Options{MaxBytes: clientassertion.MaxKeySetSize}
	if c == nil {
		return o, nil
	}
	o.AllowPrivate, o.AllowedHosts, o.MinRefresh = c.AllowPrivate, c.AllowedHosts, time.Duration(c.MinRefresh)
	if c.TrustedCAFile != "" {
		pem, err := os.ReadFile(c.TrustedCAFile)
		if err != nil {
			return o, fmt.Errorf("jwks_uri trusted_ca_file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return o, fmt.Errorf("jwks_uri trusted_ca_file %s: no PEM certificate in it", c.TrustedCAFile)
		}
		o.RootCAs = pool
	}
	return o, o.Validate()
}

// provisionJWKSURI makes the app's fetcher of jwks_uri key sets, counting
// its fetches by outcome on reg (Caddy's registry):
// caddy_blnk_auth_jwks_uri_fetches_total{outcome="ok" or safefetch's reason}
// (address_forbidden is worth an alert: a client points at the inside).
func (a *App) provisionJWKSURI(reg *prometheus.Registry) error {
	o, err := a.JWKSURI.options()
	if err != nil {
		return fmt.Errorf("blnk_auth: %w", err)
	}
	fetches := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "blnk_auth", Name: "jwks_uri_fetches_total",
		Help: "Fetches of private_key_jwt clients' jwks_uri by outcome (ok, or why it failed).",
	}, []string{"outcome"}))
	o.Observe = func(r safefetch.Reason, _ time.Duration) {
		outcome := string(r)
		if r == "" {
			outcome = "ok"
		}
		fetches.WithLabelValues(outcome).Inc()
	}
	if o.AllowPrivate {
		a.logger.Warn("jwks_uri allow_private: private_key_jwt clients' key URLs may point at loopback and private addresses")
	}
	a.jwksFetcher = safefetch.New(o)
	return nil
}

// parseJWKSURI reads a jwks_uri block:
//
//	jwks_uri {
//		allow_private              # default off
//		allowed_hosts <host...>    # default any
//		trusted_ca_file <pem file> # default the system's roots
//		min_refresh <duration>     # default 30s
//	}
func parseJWKSURI(d *caddyfile.Dispenser) (*JWKSURIConfig, error) {
	c := new(JWKSURIConfig)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch key := d.Val(); key {
		case "allow_private":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			c.AllowPrivate = true
		case "allowed_hosts":
			c.AllowedHosts = append(c.AllowedHosts, d.RemainingArgs()...)
			if len(c.AllowedHosts) == 0 {
				return nil, d.ArgErr()
			}
		case "trusted_ca_file":
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			c.TrustedCAFile = d.Val()
			if d.NextArg() {
				return nil, d.ArgErr()
			}
		case "min_refresh":
			if err := oneDuration(d, &c.MinRefresh); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unrecognized jwks_uri option %q", key)
		}
	}
	return c, nil
}
