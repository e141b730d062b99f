package backend

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

func newRevocation() store.RevokedToken {
	return store.RevokedToken{JTI: "jti-" + credential.NewClientID(), ClientID: credential.NewClientID(), ExpiresAt: time.Now().Add(time.Hour)}
}

func waitFor(t *testing.T, within time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTokenRevokedBeforeFirstLoad: while the feed is held in the start gap
// (after the denylist load, before it is trusted), another process's
// revocation is already refused: TokenRevoked asks the store. Afterwards the
// feed delivers it to the denylist.
func TestTokenRevokedBeforeFirstLoad(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ Database, open func() store.Store) {
		other := open()
		defer other.Close()
		tok, live := newRevocation(), newRevocation()
		inGap, release := make(chan error, 1), make(chan struct{})
		setAfterInitialLoad(t, func() {
			inGap <- other.RevokeToken(context.Background(), tok)
			<-release
		})
		b, err := New(open(), clientcache.Config{}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		released := false
		defer func() {
			if !released {
				close(release)
			}
		}()
		select {
		case err := <-inGap:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the start-gap hook never ran")
		}
		ctx := context.Background()
		if revoked, err := b.TokenRevoked(ctx, tok.JTI); err != nil || !revoked {
			t.Fatalf("in the start gap, TokenRevoked(revoked) = %v, %v; want true", revoked, err)
		}
		if revoked, err := b.TokenRevoked(ctx, live.JTI); err != nil || revoked {
			t.Fatalf("in the start gap, TokenRevoked(live) = %v, %v; want false", revoked, err)
		}
		close(release)
		released = true
		waitFor(t, 3*time.Second, "the denylist is trusted after the first load", b.revokedSynced.Load)
		waitFor(t, 3*time.Second, "the feed delivers the gap's revocation", func() bool { return b.Revoked.Has(tok.JTI) })
		if revoked, err := b.TokenRevoked(ctx, live.JTI); err != nil || revoked {
			t.Fatalf("synced, TokenRevoked(live) = %v, %v; want false", revoked, err)
		}
		// The request path: while synced, no store read and no allocation.
		if allocs := testing.AllocsPerRun(100, func() {
			_, _ = b.TokenRevoked(ctx, live.JTI)
			_, _ = b.TokenRevoked(ctx, tok.JTI)
		}); allocs != 0 {
			t.Errorf("synced TokenRevoked allocates %v times", allocs)
		}
	})
}

// countingStore counts the jti lookups that reach the real store.
type countingStore struct {
	store.Store
	lookups atomic.Int64
}

func (c *countingStore) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	c.lookups.Add(1)
	return c.Store.TokenRevoked(ctx, jti)
}

// TestTokenRevokedWhileFeedDown: with the feed stopped for real, a token
// another process revokes is refused after the grace cached clients get too;
// one not revoked costs a store read now and then, not one per request; and
// when the store cannot be read either, the answer is an error, never "not
// revoked".
func TestTokenRevokedWhileFeedDown(t *testing.T) {
	forEachStore(t, func(t *testing.T, db Database, open func() store.Store) {
		other := open()
		defer other.Close()
		st := &countingStore{Store: open()}
		b, err := New(st, clientcache.Config{}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		waitFor(t, 10*time.Second, "the first sync", b.revokedSynced.Load)
		ctx := context.Background()
		tok, live, known := newRevocation(), newRevocation(), newRevocation()
		if err := other.RevokeToken(ctx, known); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 3*time.Second, "a revocation reaches the synced feed", func() bool { return b.Revoked.Has(known.JTI) })

		outage := stopFeed(t, db, st.Store)
		waitFor(t, 3*time.Second, "the feed reports the outage", func() bool { return !b.revokedSynced.Load() })
		if err := other.RevokeToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 3*time.Second, "a token revoked during the outage is refused", func() bool {
			revoked, err := b.TokenRevoked(ctx, tok.JTI)
			if err != nil {
				t.Fatalf("TokenRevoked during the outage: %v", err)
			}
			return revoked
		})
		before := st.lookups.Load()
		const calls = 200
		for range calls {
			if revoked, err := b.TokenRevoked(ctx, live.JTI); err != nil || revoked {
				t.Fatalf("TokenRevoked(live) during the outage = %v, %v", revoked, err)
			}
		}
		if n := st.lookups.Load() - before; n < 1 || n > calls/2 {
			t.Errorf("%d calls for one live token read the store %d times: want at least once, and not per call", calls, n)
		}

		outage.cutStore()
		waitFor(t, 5*time.Second, "an unreadable store makes TokenRevoked fail", func() bool {
			_, err := b.TokenRevoked(ctx, "jti-never-seen")
			return err != nil
		})
		for _, jti := range []string{"jti-never-seen", "jti-another"} {
			if revoked, err := b.TokenRevoked(ctx, jti); err == nil {
				t.Fatalf("store unreadable: TokenRevoked(%s) = %v, nil; want an error", jti, revoked)
			}
		}
		if revoked, err := b.TokenRevoked(ctx, known.JTI); err != nil || !revoked {
			t.Fatalf("store unreadable: a denylisted token = %v, %v; want true", revoked, err)
		}
	})
}

// outage stops a backend's change feed for real and can then make its store
// unreadable; both undone when the test ends.
type outage struct {
	cutStore func()
}

func stopFeed(t *testing.T, db Database, st store.Store) outage {
	t.Helper()
	ctx := context.Background()
	if db.Embedded() {
		w, err := sql.Open("sqlite", "file:"+db.SQLitePath+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		exec := func(q string) {
			if _, err := w.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		// Every poll selects the id column; writes to the log still work.
		exec(`ALTER TABLE blnk_auth_changes RENAME COLUMN id TO id_away`)
		return outage{cutStore: func() { exec(`ALTER TABLE blnk_auth_revoked_tokens RENAME TO revoked_away`) }}
	}
	pg := st.(*postgres.Store)
	name := pg.Pool().Config().ConnConfig.Database
	admin, err := pgx.Connect(ctx, testdb.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	allow := func(ok bool) {
		if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %t`, pgx.Identifier{name}.Sanitize(), ok)); err != nil {
			t.Fatalf("ALTER DATABASE ALLOW_CONNECTIONS %t: %v", ok, err)
		}
	}
	// terminate ends the matching backends of the database and waits until
	// they are gone (pg_terminate_backend only signals).
	terminate := func(cond string, args ...any) {
		args = append([]any{name}, args...)
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND `+cond, args...); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "terminated backends exit", func() bool {
			var n int
			if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND `+cond, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == 0
		})
	}
	// New connections refused (the pools keep theirs), then the listener ended.
	allow(false)
	t.Cleanup(func() { allow(true) })
	terminate(`application_name = $2`, pg.ListenerName)
	return outage{cutStore: func() { terminate(`true`) }}
}
