package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/storetest"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// openPolling opens a store whose Follow polls every 20ms and whose queries
// run without prepared statements, as behind a transaction-pooling PgBouncer.
func openPolling(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.OpenWith(testCtx(t), dsn, postgres.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("OpenWith: %v", err)
	}
	s.ListenerName = uniqueName()
	t.Cleanup(s.Close)
	return s
}

// TestConformancePolling: the whole store contract, change feed included,
// holds with polling and without prepared statements.
func TestConformancePolling(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.OpenWith(testCtx(t), testdb.New(t), postgres.Options{PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatalf("OpenWith: %v", err)
		}
		s.ListenerName = uniqueName()
		return s
	})
}

// TestPollingSeesLateCommits: a change whose ID was taken before a higher
// one but committed after the follower read the higher one still reaches
// the follower. Reading "id > last" alone misses it for good.
func TestPollingSeesLateCommits(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := testdb.New(t)
	s := openPolling(t, dsn)
	rec := &storetest.Recorder{}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Follow(fctx, rec) }()
	t.Cleanup(func() { cancel(); <-done })
	storetest.Eventually(t, 10*time.Second, rec.IsSynced, "the follower never synced: %v", rec.Since(0))

	pool := s.Pool()
	slow, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(context.Background())
	var slowID int64
	if err := slow.QueryRow(ctx, `INSERT INTO blnk_auth_changes (client_id) VALUES ('slow') RETURNING id`).Scan(&slowID); err != nil {
		t.Fatal(err)
	}
	var fastID int64
	if err := pool.QueryRow(ctx, `INSERT INTO blnk_auth_changes (client_id) VALUES ('fast') RETURNING id`).Scan(&fastID); err != nil {
		t.Fatal(err)
	}
	if fastID <= slowID {
		t.Fatalf("ids %d then %d: want the second higher", slowID, fastID)
	}
	storetest.Eventually(t, 5*time.Second, func() bool { return len(rec.ChangesFor("fast", 0)) > 0 },
		"the committed change %d never arrived: %v", fastID, rec.Since(0))
	time.Sleep(100 * time.Millisecond) // several polls past fast's
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, 5*time.Second, func() bool { return len(rec.ChangesFor("slow", 0)) > 0 },
		"change %d, committed after %d was read, never arrived: %v", slowID, fastID, rec.Since(0))
}

// TestPollingSeesLateCommitsUnderLoad: a change whose transaction commits
// late while more than 1000 others commit meanwhile (a busy gateway revoking
// tokens while one revocation waits on a lock or a slow fsync: a few hundred
// milliseconds at a few thousand changes per second) still reaches a polling
// follower. Giving up on an unseen ID once the log moved 1000 IDs past it
// lost such a revocation for good: the client stayed cached as active until
// client_cache_ttl, a revoked token was accepted until it expired.
func TestPollingSeesLateCommitsUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := testdb.New(t)
	s := openPolling(t, dsn)
	rec := &storetest.Recorder{}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Follow(fctx, rec) }()
	t.Cleanup(func() { cancel(); <-done })
	storetest.Eventually(t, 10*time.Second, rec.IsSynced, "the follower never synced: %v", rec.Since(0))

	pool := s.Pool()
	slow, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(context.Background())
	if _, err := slow.Exec(ctx, `INSERT INTO blnk_auth_changes (client_id) VALUES ('slow')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO blnk_auth_changes (client_id) SELECT 'busy' FROM generate_series(1, 1500)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO blnk_auth_changes (client_id) VALUES ('fast')`); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, 5*time.Second, func() bool { return len(rec.ChangesFor("fast", 0)) > 0 },
		"the committed changes never arrived")
	time.Sleep(100 * time.Millisecond) // several polls past them
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, 5*time.Second, func() bool { return len(rec.ChangesFor("slow", 0)) > 0 },
		"a change committed after 1500 later ones were read never arrived")
}
