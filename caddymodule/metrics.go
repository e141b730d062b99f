package caddymodule

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/keyring"
	"github.com/blnkfinance/blnk-auth-gateway/internal/resourceserver"
)

// metrics are registered once per config on Caddy's registry, so they appear
// at Caddy's /metrics endpoint beside its own.
type metrics struct {
	tokens    *prometheus.CounterVec // by grant and outcome: issued or the RFC 6749 error code
	decisions *prometheus.CounterVec // by route kind and outcome: allowed or the RFC 6750 error code

	throttles *prometheus.CounterVec // by endpoint: refused unjudged for failing too often
	limits    *prometheus.CounterVec // by endpoint: refused over a rate limit

	throttledBy, limitedBy map[string]prometheus.Counter
	tokenBy                map[string]map[string]prometheus.Counter // grant → outcome
	decisionBy             map[string]map[string]prometheus.Counter // kind → outcome
}

// Endpoints that count throttled and rate-limited requests.
var endpoints = []string{"token", "authorize", "introspect", "revoke", "blnk_auth", "admin", "dashboard"}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "blnk_auth", Name: "token_requests_total",
			Help: "Token endpoint requests by grant type (client_credentials, authorization_code, refresh_token, other) and outcome (issued, or the OAuth error code).",
		}, []string{"grant", "outcome"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "blnk_auth", Name: "requests_total",
			Help: "Requests checked by blnk_auth by route kind (plain, mcp, blnk_api) and outcome (allowed, or the error code).",
		}, []string{"route_kind", "outcome"}),
	}
	m.throttles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "blnk_auth", Name: "throttled_requests_total",
		Help: "Requests refused (429) without judging their credential, because their address or client ID failed authentication too often, by endpoint.",
	}, []string{"endpoint"})
	m.limits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "blnk_auth", Name: "rate_limited_requests_total",
		Help: "Requests refused (429) over a client's or a route's rate limit, by endpoint.",
	}, []string{"endpoint"})
	m.tokens = register(reg, m.tokens)
	m.decisions = register(reg, m.decisions)
	m.throttles = register(reg, m.throttles)
	m.limits = register(reg, m.limits)
	m.throttledBy, m.limitedBy = map[string]prometheus.Counter{}, map[string]prometheus.Counter{}
	for _, e := range endpoints {
		m.throttledBy[e] = m.throttles.WithLabelValues(e)
		m.limitedBy[e] = m.limits.WithLabelValues(e)
	}
	// Bind every label value up front: the request path then only increments.
	m.tokenBy = map[string]map[string]prometheus.Counter{}
	for _, g := range authserver.Grants {
		m.tokenBy[g] = map[string]prometheus.Counter{}
		for _, o := range []string{"issued", "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_scope", "invalid_target", "temporarily_unavailable", "server_error"} {
			m.tokenBy[g][o] = m.tokens.WithLabelValues(g, o)
		}
	}
	m.decisionBy = map[string]map[string]prometheus.Counter{}
	for _, k := range []string{resourceserver.KindPlain, resourceserver.KindMCP, resourceserver.KindBlnk} {
		m.decisionBy[k] = map[string]prometheus.Counter{}
		for _, o := range []string{"allowed", "unauthenticated", "invalid_request", "invalid_token", "insufficient_scope", "temporarily_unavailable", "unknown_session", "rate_limited", "throttled"} {
			m.decisionBy[k][o] = m.decisions.WithLabelValues(k, o)
		}
	}
	return m
}

func (m *metrics) token(grant, outcome string) {
	if c, ok := m.tokenBy[grant][outcome]; ok {
		c.Inc()
	}
}

func (m *metrics) decision(kind, outcome string) {
	if c, ok := m.decisionBy[kind][outcome]; ok {
		c.Inc()
	}
}

func (m *metrics) throttled(endpoint string) {
	if c, ok := m.throttledBy[endpoint]; ok {
		c.Inc()
	}
}

func (m *metrics) rateLimited(endpoint string) {
	if c, ok := m.limitedBy[endpoint]; ok {
		c.Inc()
	}
}

// watchBackend exposes what the backend holds, read when scraped: the client
// cache's hits and misses (their ratio is the hit ratio) and size,
// change-feed connections lost, revoked tokens held and requests in flight;
// and what the backend measures: store latency by operation, change-feed lag
// and reconnections.
func watchBackend(reg *prometheus.Registry, b *backend.Backend) {
	if reg == nil {
		return
	}
	counters := []struct {
		name, help string
		pick       func() float64
	}{
		{"client_cache_hits_total", "Client lookups answered from memory.", func() float64 { h, _ := b.Clients.Stats(); return float64(h) }},
		{"client_cache_misses_total", "Client lookups that read the database.", func() float64 { _, m := b.Clients.Stats(); return float64(m) }},
		{"change_feed_losses_total", "Times the change feed lost its database connection (revocations made elsewhere arrive late until it is back).", func() float64 { return float64(b.FeedLosses()) }},
	}
	for _, c := range counters {
		_ = reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "blnk_auth", Name: c.name, Help: c.help,
		}, c.pick))
	}
	gauges := []struct {
		name, help string
		pick       func() float64
	}{
		{"revoked_tokens", "Revoked access tokens held in the denylist until they expire.", func() float64 { return float64(b.Revoked.Len()) }},
		{"client_cache_entries", "Entries in the client cache (clients and remembered unknown client IDs, those past their TTL included until re-read or evicted).", func() float64 { return float64(b.Clients.Len()) }},
		{"requests_in_flight", "Requests let through and not yet finished, each ended if its authority ends.", func() float64 { return float64(b.Flights.Len()) }},
		{"change_feed_synced", "1 while the change feed is connected and the denylist loaded, else 0.", func() float64 {
			if b.FeedSynced() {
				return 1
			}
			return 0
		}},
	}
	for _, g := range gauges {
		_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "caddy", Subsystem: "blnk_auth", Name: g.name, Help: g.help,
		}, g.pick))
	}
	// The backend's own (store latency, change-feed lag and reconnections)
	// outlive a reload with it; a config reloaded onto the same registry
	// finds them there already.
	for _, c := range b.Metrics.Collectors() {
		_ = reg.Register(c)
	}
}

// register reuses a collector already registered under the same name.
func register(reg *prometheus.Registry, c *prometheus.CounterVec) *prometheus.CounterVec {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return c
}

// keyrings holds, per registry, the keyring of the config loaded last: the
// gauge registered once reads whichever config is current after a reload.
var keyrings sync.Map // *prometheus.Registry → *atomic.Pointer[keyring.Live]

// watchKeys exposes the age of the key signing now, read when scraped: an
// alert on it catches a rotation that stopped happening.
func watchKeys(reg *prometheus.Registry, k *keyring.Live) {
	if reg == nil {
		return
	}
	v, loaded := keyrings.LoadOrStore(reg, new(atomic.Pointer[keyring.Live]))
	cur := v.(*atomic.Pointer[keyring.Live])
	cur.Store(k)
	if loaded {
		return
	}
	_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "blnk_auth", Name: "signing_key_age_seconds",
		Help: "Seconds since the signing key in use activated (signing_key_rotation bounds it while rotation is on).",
	}, func() float64 {
		now := time.Now()
		since := cur.Load().ActiveSince(now)
		if since.IsZero() {
			return 0
		}
		return max(now.Sub(since), 0).Seconds() // a key made to sign at once by an instance whose clock is ahead
	}))
}
