package backend

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// TestFeedMetrics: a change made by another process has its lag measured
// once (within lagInterval), a store read is timed under its operation, and
// a change-feed connection killed in PostgreSQL counts one loss and, once
// the feed is back, one reconnection.
func TestFeedMetrics(t *testing.T) {
	dsn := testdb.New(t)
	ctx := context.Background()
	open := func() *postgres.Store {
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	other := open()
	defer other.Close()
	st := open()
	b, err := New(st, clientcache.Config{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitFor(t, 10*time.Second, "the first sync", b.FeedSynced)

	if err := other.RevokeToken(ctx, newRevocation()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*lagInterval, "the revocation's lag is measured", func() bool { return histogramCount(t, b, "caddy_blnk_auth_change_feed_lag_seconds", "") == 1 })
	if _, err := b.Clients.Get(ctx, "blnk_cid_unknown"); err != store.ErrNotFound {
		t.Fatalf("Get(unknown) = %v", err)
	}
	if n := histogramCount(t, b, "caddy_blnk_auth_store_duration_seconds", "get_client"); n != 1 {
		t.Errorf("%d get_client calls timed, want 1", n)
	}

	admin, err := pgx.Connect(ctx, testdb.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`,
		st.Pool().Config().ConnConfig.Database, st.ListenerName).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners (%v), want 1", killed, err)
	}
	waitFor(t, 10*time.Second, "the feed reconnects", func() bool { return histogramCount(t, b, "caddy_blnk_auth_change_feed_reconnects_total", "") == 1 })
	if b.FeedLosses() != 1 || !b.FeedSynced() {
		t.Errorf("losses %d, synced %v after one lost connection", b.FeedLosses(), b.FeedSynced())
	}
	// The replay after reconnecting re-reads the revocation: measured once.
	time.Sleep(lagInterval + 200*time.Millisecond)
	if n := histogramCount(t, b, "caddy_blnk_auth_change_feed_lag_seconds", ""); n != 1 {
		t.Errorf("%d changes measured after a replay, want 1", n)
	}
}

// histogramCount is the number of observations of b's histogram name (with
// operation op, if not empty), or the value of its counter name, as a
// registry gathers them.
func histogramCount(t *testing.T, b *Backend, name, op string) uint64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Metrics.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() != op {
					goto next
				}
			}
			n += m.GetHistogram().GetSampleCount() + uint64(m.GetCounter().GetValue())
		next:
		}
	}
	return n
}
