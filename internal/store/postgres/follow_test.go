package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/storetest"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// adminConn connects to the test server's maintenance database.
func adminConn(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(testCtx(t), testdb.ServerURL())
	if err != nil {
		testdb.Unavailable(t, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// terminateListener kills the LISTEN connection of s's Follow and returns how
// many backends it signalled.
func terminateListener(t testing.TB, admin *pgx.Conn, s *postgres.Store) int {
	t.Helper()
	var n int
	err := admin.QueryRow(testCtx(t), `SELECT count(*) FROM (
		SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1) t WHERE ok`,
		s.ListenerName).Scan(&n)
	if err != nil {
		t.Fatalf("terminating the listener: %v", err)
	}
	return n
}

// allowConnections sets whether s's database accepts new connections; the
// connections it already has are unaffected. It is restored at cleanup.
func allowConnections(t testing.TB, admin *pgx.Conn, s *postgres.Store, allow bool) {
	t.Helper()
	db := pgx.Identifier{s.Pool().Config().ConnConfig.Database}.Sanitize()
	if _, err := admin.Exec(testCtx(t), fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %t`, db, allow)); err != nil {
		t.Fatalf("ALTER DATABASE %s ALLOW_CONNECTIONS %t: %v", db, allow, err)
	}
	if !allow {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS true`, db))
		})
	}
}

// resynced reports whether the events hold a Synced(false) followed by a
// Synced(true), and the index of that Synced(true).
func resynced(events []storetest.Event) (int, bool) {
	lost := false
	for i, e := range events {
		if e.Kind != "synced" {
			continue
		}
		if !e.Synced {
			lost = true
		} else if lost {
			return i, true
		}
	}
	return -1, false
}

func lastSynced(events []storetest.Event) (value, found bool) {
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Kind == "synced" {
			return events[i].Synced, true
		}
	}
	return false, false
}

func changeIndex(events []storetest.Event, id int64) int {
	for i, e := range events {
		if e.Kind == "changed" && e.Change.ID == id {
			return i
		}
	}
	return -1
}

func latestChange(t testing.TB, s *postgres.Store, clientID string) int64 {
	t.Helper()
	var id int64
	if err := s.Pool().QueryRow(testCtx(t), `SELECT max(id) FROM blnk_auth_changes WHERE client_id = $1`, clientID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// A revocation committed while the listener is disconnected is replayed from
// the change log when it reconnects, before it reports itself synced.
func TestFollowReplaysAfterDisconnect(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := open(t, testdb.New(t))
	admin := adminConn(t)
	c := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	if err := s.CreateClient(ctx, c, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	rec, stop := storetest.StartFollow(t, s)
	defer stop()

	// Keep the listener out (the pool keeps its connection) so that the
	// revocation surely happens while it is disconnected.
	allowConnections(t, admin, s, false)
	mark := rec.Mark()
	if n := terminateListener(t, admin, s); n != 1 {
		t.Fatalf("terminated %d listener connections, want 1", n)
	}
	storetest.Eventually(t, 2*time.Second, func() bool {
		v, ok := lastSynced(rec.Events(mark))
		return ok && !v
	}, "no Synced(false) after the listener was terminated; events: %v", rec.Since(mark))

	if _, err := s.RevokeClient(ctx, c.ID, storetest.Base, store.Audit{Actor: "test"}, nil); err != nil {
		t.Fatalf("RevokeClient while the listener is down: %v", err)
	}
	revocation := latestChange(t, s, c.ID)
	allowConnections(t, admin, s, true)

	storetest.Eventually(t, 2*time.Second, func() bool {
		ev := rec.Events(mark)
		_, ok := resynced(ev)
		return ok && changeIndex(ev, revocation) >= 0
	}, "no Synced(false), Synced(true) and Changed(%d %s) after reconnecting; events: %v", revocation, c.ID, rec.Since(mark))
	ev := rec.Events(mark)
	syncedAt, _ := resynced(ev)
	if i := changeIndex(ev, revocation); i > syncedAt {
		t.Errorf("the missed revocation was reported after Synced(true) (events %v): a synced follower must be caught up", ev)
	}
	for _, e := range ev {
		if e.Kind == "reset" {
			t.Errorf("Reset after a short disconnection: %v", ev)
		}
	}

	// And it keeps following.
	m := rec.Mark()
	if err := s.DeleteClient(ctx, c.ID, store.Audit{Actor: "test"}, nil); err != nil {
		t.Fatal(err)
	}
	storetest.WaitChange(t, rec, c.ID, m, time.Second, "delete after reconnecting")
}

// The brief's scenario as is, several times over: terminate the listener and
// change a client right away, without holding the listener out.
func TestFollowSurvivesRepeatedDisconnects(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := open(t, testdb.New(t))
	admin := adminConn(t)
	rec, stop := storetest.StartFollow(t, s)
	defer stop()
	for round := range 3 {
		c := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
		if err := s.CreateClient(ctx, c, store.Audit{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
		storetest.WaitChange(t, rec, c.ID, 0, time.Second, "create")
		mark := rec.Mark()
		if n := terminateListener(t, admin, s); n < 1 {
			t.Fatalf("round %d: no listener connection to terminate", round)
		}
		if _, err := s.RevokeClient(ctx, c.ID, storetest.Base, store.Audit{Actor: "test"}, nil); err != nil {
			t.Fatal(err)
		}
		revocation := latestChange(t, s, c.ID)
		storetest.Eventually(t, 2*time.Second, func() bool {
			ev := rec.Events(mark)
			_, ok := resynced(ev)
			v, _ := lastSynced(ev)
			return ok && v && changeIndex(ev, revocation) >= 0
		}, "round %d: no Synced(false), Synced(true) and Changed(%d %s); events: %v", round, revocation, c.ID, rec.Since(mark))
	}
}

// Sequence numbers are taken before commit, so a change can commit after a
// higher-numbered one was already seen. If that happens while the listener is
// disconnected, the replay must still deliver it.
func TestFollowReplaysOutOfOrderCommit(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := testdb.New(t)
	s := open(t, dsn)
	admin := adminConn(t)
	rec, stop := storetest.StartFollow(t, s)
	defer stop()

	// Another writer's transaction, open: it has taken its change ID.
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	late := credential.NewClientID()
	var lateID int64
	if err := tx.QueryRow(ctx, `WITH c AS (INSERT INTO blnk_auth_changes (client_id) VALUES ($1) RETURNING id, client_id)
		SELECT c.id FROM c, pg_notify('blnk_auth_changes', c.id::text || ' ' || c.client_id)`, late).Scan(&lateID); err != nil {
		t.Fatal(err)
	}

	// A later change commits first and is seen.
	c := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	m := rec.Mark()
	if err := s.CreateClient(ctx, c, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if ch := storetest.WaitChange(t, rec, c.ID, m, time.Second, "create"); ch.ID <= lateID {
		t.Fatalf("change IDs: %d then %d, want increasing", lateID, ch.ID)
	}

	// The listener goes away, then the earlier-numbered change commits.
	allowConnections(t, admin, s, false)
	mark := rec.Mark()
	if n := terminateListener(t, admin, s); n != 1 {
		t.Fatalf("terminated %d listener connections, want 1", n)
	}
	storetest.Eventually(t, 2*time.Second, func() bool {
		v, ok := lastSynced(rec.Events(mark))
		return ok && !v
	}, "no Synced(false) after the listener was terminated; events: %v", rec.Since(mark))
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	allowConnections(t, admin, s, true)

	storetest.Eventually(t, 2*time.Second, func() bool {
		_, ok := resynced(rec.Events(mark))
		return ok && changeIndex(rec.Events(mark), lateID) >= 0
	}, "the late change %d was not replayed; events: %v", lateID, rec.Since(mark))
}

// A change committed through another, independent Store on the same database
// (another gateway instance) reaches this one's Follow.
func TestFollowSeesOtherStore(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := testdb.New(t)
	s1 := open(t, dsn)
	s2 := open(t, dsn)
	rec, stop := storetest.StartFollow(t, s1)
	defer stop()

	c := storetest.NewClient(credential.NewClientID(), store.TypeAPIKey, storetest.Base)
	for _, op := range []struct {
		what string
		do   func() error
	}{
		{"create", func() error { return s2.CreateClient(ctx, c, store.Audit{Actor: "test"}) }},
		{"revoke", func() error {
			_, err := s2.RevokeClient(ctx, c.ID, storetest.Base, store.Audit{Actor: "test"}, nil)
			return err
		}},
		{"delete", func() error { return s2.DeleteClient(ctx, c.ID, store.Audit{Actor: "test"}, nil) }},
	} {
		m := rec.Mark()
		if err := op.do(); err != nil {
			t.Fatalf("%s through the other store: %v", op.what, err)
		}
		storetest.WaitChange(t, rec, c.ID, m, time.Second, op.what+" through the other store")
	}
}

// Follow's reconnection backoff must start again from its minimum once a
// connection has succeeded: a follower that has lost and regained its
// connection a few times over its life must not take ever longer, up to the
// one second cap, to come back after the next blip.
func TestFollowBackoffResetsAfterReconnecting(t *testing.T) {
	t.Parallel()
	s := open(t, testdb.New(t))
	admin := adminConn(t)
	rec, stop := storetest.StartFollow(t, s)
	defer stop()
	for round := range 6 {
		mark := rec.Mark()
		start := time.Now()
		if n := terminateListener(t, admin, s); n < 1 {
			t.Fatalf("round %d: no listener connection to terminate", round)
		}
		// The first reconnection waits the minimum backoff (50ms); every
		// reconnection after a successful one should too. 750ms leaves ample
		// room for a slow machine and is below what a backoff that kept
		// doubling would wait by the fifth round (800ms).
		storetest.Eventually(t, 750*time.Millisecond, func() bool {
			ev := rec.Events(mark)
			_, ok := resynced(ev)
			v, _ := lastSynced(ev)
			return ok && v
		}, "round %d: not synced again after the listener was terminated; events: %v", round, rec.Since(mark))
		t.Logf("round %d: resynced after %v", round, time.Since(start).Round(time.Millisecond))
	}
}
