package backend

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// Metrics are what a backend measures of its store and change feed. They
// live with the backend, which outlives config reloads, so a reload does not
// reset them; each config registers the same collectors on its registry.
type Metrics struct {
	// StoreSeconds is the time of every store call by operation (the Store
	// method's name in snake_case), failed calls included.
	StoreSeconds *prometheus.HistogramVec
	// FeedLag is, for each change the feed applies, how long after the
	// change was written to the change log this instance applied it to its
	// cache or denylist (see lagMeter).
	FeedLag prometheus.Histogram
	// FeedReconnects counts the times the change feed was synced again after
	// losing its connection.
	FeedReconnects prometheus.Counter

	storeBy map[string]prometheus.Observer
}

// Store operations, the values of StoreSeconds' "operation" label.
var storeOps = []string{
	"create_client", "get_client", "list_clients", "revoke_client", "update_client", "roll_secret", "delete_client",
	"list_audit", "revoke_token", "revoked_tokens", "token_revoked", "touch_last_used", "keyring", "update_keyring",
	"create_session", "get_session", "touch_session", "delete_session", "prune_sessions", "ping", "change_times",
}

func newMetrics() *Metrics {
	m := &Metrics{
		StoreSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "caddy", Subsystem: "blnk_auth", Name: "store_duration_seconds",
			Help: "Time of database calls by operation, failed ones included (cache misses, revocations, the admin API).",
			// 0.25 ms to about 4 s.
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 15),
		}, []string{"operation"}),
		FeedLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "caddy", Subsystem: "blnk_auth", Name: "change_feed_lag_seconds",
			Help: "Time from a change's entry in the change log (a client changed, a token revoked) to this instance applying it.",
			// 0.5 ms to about 16 s: a replay after an outage shows its length.
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		FeedReconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "blnk_auth", Name: "change_feed_reconnects_total",
			Help: "Times the change feed was connected and synced again after losing its connection.",
		}),
		storeBy: map[string]prometheus.Observer{},
	}
	// Bound up front: a store call then only looks its observer up.
	for _, op := range storeOps {
		m.storeBy[op] = m.StoreSeconds.WithLabelValues(op)
	}
	return m
}

// Collectors are the metrics to register, e.g. on Caddy's registry.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.StoreSeconds, m.FeedLag, m.FeedReconnects}
}

func (m *Metrics) observe(op string, start time.Time) {
	m.storeBy[op].Observe(time.Since(start).Seconds())
}

// timedStore times every store call but Follow and Close. Methods the Store
// interface gains pass through untimed until they are added here.
type timedStore struct {
	store.Store
	m *Metrics
}

func (s timedStore) CreateClient(ctx context.Context, c *store.Client, a store.Audit) error {
	defer s.m.observe("create_client", time.Now())
	return s.Store.CreateClient(ctx, c, a)
}

func (s timedStore) GetClient(ctx context.Context, id string) (*store.Client, error) {
	defer s.m.observe("get_client", time.Now())
	return s.Store.GetClient(ctx, id)
}

func (s timedStore) ListClients(ctx context.Context, f store.ListFilter, now time.Time) ([]*store.Client, error) {
	defer s.m.observe("list_clients", time.Now())
	return s.Store.ListClients(ctx, f, now)
}

func (s timedStore) RevokeClient(ctx context.Context, id string, at time.Time, a store.Audit, g store.Guard) (*store.Client, error) {
	defer s.m.observe("revoke_client", time.Now())
	return s.Store.RevokeClient(ctx, id, at, a, g)
}

func (s timedStore) UpdateClient(ctx context.Context, id string, u store.ClientUpdate, a store.Audit, g store.Guard) (*store.Client, error) {
	defer s.m.observe("update_client", time.Now())
	return s.Store.UpdateClient(ctx, id, u, a, g)
}

func (s timedStore) RollSecret(ctx context.Context, id string, r store.SecretRoll, a store.Audit, g store.Guard) (*store.Client, error) {
	defer s.m.observe("roll_secret", time.Now())
	return s.Store.RollSecret(ctx, id, r, a, g)
}

func (s timedStore) DeleteClient(ctx context.Context, id string, a store.Audit, g store.Guard) error {
	defer s.m.observe("delete_client", time.Now())
	return s.Store.DeleteClient(ctx, id, a, g)
}

func (s timedStore) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	defer s.m.observe("list_audit", time.Now())
	return s.Store.ListAudit(ctx, f)
}

func (s timedStore) RevokeToken(ctx context.Context, t store.RevokedToken) error {
	defer s.m.observe("revoke_token", time.Now())
	return s.Store.RevokeToken(ctx, t)
}

func (s timedStore) RevokedTokens(ctx context.Context, now time.Time) ([]store.RevokedToken, error) {
	defer s.m.observe("revoked_tokens", time.Now())
	return s.Store.RevokedTokens(ctx, now)
}

func (s timedStore) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	defer s.m.observe("token_revoked", time.Now())
	return s.Store.TokenRevoked(ctx, jti)
}

func (s timedStore) TouchLastUsed(ctx context.Context, used map[string]time.Time) error {
	defer s.m.observe("touch_last_used", time.Now())
	return s.Store.TouchLastUsed(ctx, used)
}

func (s timedStore) Keyring(ctx context.Context) (store.Keyring, error) {
	defer s.m.observe("keyring", time.Now())
	return s.Store.Keyring(ctx)
}

func (s timedStore) UpdateKeyring(ctx context.Context, decide func(store.Keyring) (store.KeyringUpdate, error)) (store.Keyring, error) {
	defer s.m.observe("update_keyring", time.Now())
	return s.Store.UpdateKeyring(ctx, decide)
}

func (s timedStore) CreateSession(ctx context.Context, se *store.Session) error {
	defer s.m.observe("create_session", time.Now())
	return s.Store.CreateSession(ctx, se)
}

func (s timedStore) GetSession(ctx context.Context, tokenHash credential.Hash) (*store.Session, error) {
	defer s.m.observe("get_session", time.Now())
	return s.Store.GetSession(ctx, tokenHash)
}

func (s timedStore) TouchSession(ctx context.Context, tokenHash credential.Hash, at time.Time) error {
	defer s.m.observe("touch_session", time.Now())
	return s.Store.TouchSession(ctx, tokenHash, at)
}

func (s timedStore) DeleteSession(ctx context.Context, tokenHash credential.Hash) error {
	defer s.m.observe("delete_session", time.Now())
	return s.Store.DeleteSession(ctx, tokenHash)
}

func (s timedStore) PruneSessions(ctx context.Context, now, idleSince time.Time) error {
	defer s.m.observe("prune_sessions", time.Now())
	return s.Store.PruneSessions(ctx, now, idleSince)
}

func (s timedStore) ChangeTimes(ctx context.Context, ids []int64) (map[int64]time.Time, error) {
	defer s.m.observe("change_times", time.Now())
	return s.Store.ChangeTimes(ctx, ids)
}

func (s timedStore) Ping(ctx context.Context) error {
	defer s.m.observe("ping", time.Now())
	return s.Store.Ping(ctx)
}

// Interface guards
var _ store.Store = timedStore{}
