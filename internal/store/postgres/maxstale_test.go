package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/storetest"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// syncedCache is a client cache that also says whether it was told synced.
type syncedCache struct {
	*clientcache.Cache
	synced  atomic.Bool
	changes atomic.Int64 // changes seen
}

func (c *syncedCache) Synced(ok bool) { c.Cache.Synced(ok); c.synced.Store(ok) }

// TestMaxStaleHoldsThroughSilentCut: an instance whose database connection is
// cut without a reset (a dead route, a firewall dropping packets) while
// another instance still reaches the database and revokes a client must stop
// trusting its cached copy of that client within max_stale of the cut, the
// bound the gateway documents, with the default heartbeat and poll timeout.
// It used to keep trusting it until the loss was noticed: with LISTEN two
// 5 s heartbeats (then max_stale more, counted from the detection), with
// polling the 2 s poll timeout: a revoked client accepted for up to 11 s, or
// 2 s, with max_stale 1s.
func TestMaxStaleHoldsThroughSilentCut(t *testing.T) {
	const maxStale = time.Second
	for _, mode := range []struct {
		name string
		poll time.Duration
	}{{"listen", 0}, {"poll", 150 * time.Millisecond}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			dsn := testdb.New(t)
			direct := open(t, dsn) // another instance, still reaching the database
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			proxy := newCutProxy(t, u.Host)
			u.Host = proxy.l.Addr().String()
			s, err := postgres.OpenWith(ctx, u.String(), postgres.Options{PollInterval: mode.poll}) // max_stale: its default, 1s
			if err != nil {
				t.Fatal(err)
			}
			s.ListenerName = uniqueName()
			t.Cleanup(s.Close)
			t.Cleanup(proxy.close) // runs first: hung connections end at once

			cc, err := clientcache.New(s.GetClient, clientcache.Config{MaxUnsynced: maxStale, LoadTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cc.Close)
			w := &syncedCache{Cache: cc}
			fctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = s.Follow(fctx, w) }()
			t.Cleanup(func() { cancel(); <-done })
			storetest.Eventually(t, 10*time.Second, w.synced.Load, "the follower never synced")

			cl := storetest.NewClient("cut-"+mode.name, store.TypeOAuth, time.Now().UTC().Truncate(time.Microsecond))
			if err := direct.CreateClient(ctx, cl, store.Audit{}); err != nil {
				t.Fatal(err)
			}
			// Filled once the feed has passed the client's creation (which
			// invalidates it).
			storetest.Eventually(t, 10*time.Second, func() bool { return w.changes.Load() > 0 }, "the creation never reached the feed")
			if _, err := cc.Get(ctx, cl.ID); err != nil {
				t.Fatalf("filling the cache: %v", err)
			}
			cc.Wait()
			time.Sleep(300 * time.Millisecond) // some heartbeats or polls that work

			if _, ok, _ := cc.Lookup(cl.ID); !ok {
				t.Fatal("the client fell out of the cache before the cut")
			}
			cutAt := time.Now()
			proxy.doCut()
			if _, err := direct.RevokeClient(ctx, cl.ID, time.Now(), store.Audit{}, nil); err != nil {
				t.Fatal(err)
			}
			// A fully synced instance refuses the client from now on; this
			// one may answer from its cache for max_stale at most.
			time.Sleep(time.Until(cutAt.Add(maxStale + 300*time.Millisecond)))
			e, err := cc.Get(ctx, cl.ID)
			switch {
			case errors.Is(err, clientcache.ErrUnavailable):
				t.Logf("%s after the cut: unavailable (synced %v)", time.Since(cutAt).Round(time.Millisecond), w.synced.Load())
			case err != nil:
				t.Fatalf("Get: %v", err)
			case !e.Revoked():
				t.Fatalf("%s after a silent cut (max_stale %s) the cache still answers with the client as active (synced %v): a revoked client is let through",
					time.Since(cutAt).Round(time.Millisecond), maxStale, w.synced.Load())
			}
		})
	}
}

func (c *syncedCache) Changed(ch store.Change) { c.Cache.Changed(ch); c.changes.Add(1) }

// heal lets bytes through again; connections accepted during the cut stay
// dead, as a TCP connection whose handshake went through just before a
// route failed does (retransmitting for many minutes).
func (p *cutProxy) heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// TestListenerRecoversAfterCutHeals: a listener that lost its connection
// to a silent cut and reconnects while the network is still cut must be
// synced again soon after the network heals, without a restart. A
// reconnection without a bound waited on its dead connection forever (in
// the field: until TCP gave up, many minutes), and every request that
// needed the database got 503 all that time.
func TestListenerRecoversAfterCutHeals(t *testing.T) {
	t.Parallel()
	t.Cleanup(postgres.SetHeartbeat(200 * time.Millisecond))
	dsn := testdb.New(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.l.Addr().String()
	s := open(t, u.String())
	t.Cleanup(proxy.close) // runs first: hung connections end at once
	rec := &storetest.Recorder{}
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Follow(ctx, rec) }()
	t.Cleanup(func() { cancel(); <-done })
	storetest.Eventually(t, 10*time.Second, rec.IsSynced, "the follower never synced: %v", rec.Since(0))

	proxy.doCut()
	storetest.Eventually(t, 5*time.Second, func() bool { return !rec.IsSynced() }, "a silent cut was not noticed: %v", rec.Since(0))
	time.Sleep(500 * time.Millisecond) // reconnection attempts into the cut
	healedAt := time.Now()
	proxy.heal()
	storetest.Eventually(t, 15*time.Second, rec.IsSynced, "15s after the network healed the follower is still not synced: %v", rec.Since(0))
	t.Logf("synced again %s after the network healed", time.Since(healedAt).Round(time.Millisecond))
}

// TestListenerReplaysLateCommitUnderLoad: a change whose transaction took
// its ID before more than 1000 others committed, and commits while the
// listener is cut off, reaches the listener when it reconnects. The replay
// looked back 1000 IDs only, so such a revocation was lost for good.
func TestListenerReplaysLateCommitUnderLoad(t *testing.T) {
	t.Parallel()
	t.Cleanup(postgres.SetHeartbeat(200 * time.Millisecond))
	ctx := testCtx(t)
	dsn := testdb.New(t)
	direct := open(t, dsn)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.l.Addr().String()
	s := open(t, u.String())
	t.Cleanup(proxy.close)
	rec := &storetest.Recorder{}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Follow(fctx, rec) }()
	t.Cleanup(func() { cancel(); <-done })
	storetest.Eventually(t, 10*time.Second, rec.IsSynced, "the follower never synced: %v", rec.Since(0))

	pool := direct.Pool()
	slow, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(context.Background())
	if _, err := slow.Exec(ctx, notifyChange, "slow"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `WITH c AS (INSERT INTO blnk_auth_changes (client_id) SELECT 'busy' FROM generate_series(1, 1500) RETURNING id, client_id)
		SELECT pg_notify('blnk_auth_changes', c.id::text || ' ' || c.client_id) FROM c`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, notifyChange, "fast"); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, 5*time.Second, func() bool { return len(rec.ChangesFor("fast", 0)) > 0 }, "the committed changes never arrived")

	proxy.doCut()
	storetest.Eventually(t, 5*time.Second, func() bool { return !rec.IsSynced() }, "the cut was not noticed")
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	proxy.heal()
	storetest.Eventually(t, 15*time.Second, rec.IsSynced, "never synced again")
	if len(rec.ChangesFor("slow", 0)) == 0 {
		t.Fatal("a change committed while the listener was away, after 1500 later ones, was not replayed")
	}
}

// notifyChange writes a change as the store does, with its notification.
const notifyChange = `WITH c AS (INSERT INTO blnk_auth_changes (client_id) VALUES ($1) RETURNING id, client_id)
	SELECT pg_notify('blnk_auth_changes', c.id::text || ' ' || c.client_id) FROM c`
