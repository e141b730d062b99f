package clientcache_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

func openStore(t testing.TB) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func createClient(t testing.TB, st store.Store) *store.Client {
	t.Helper()
	secret := credential.NewSecret()
	c := &store.Client{
		ID:         credential.NewClientID(),
		Name:       "test client",
		Type:       store.TypeOAuth,
		Scopes:     scope.MustParse("ledgers:read"),
		SecretHash: credential.HashOf(secret),
		SecretHint: credential.Hint(secret),
		CreatedAt:  time.Now().UTC().Truncate(time.Microsecond),
	}
	if err := st.CreateClient(context.Background(), c, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	return c
}

// counter wraps a Loader and counts the store reads.
type counter struct {
	load  clientcache.Loader
	reads atomic.Int64
}

func (c *counter) Load(ctx context.Context, id string) (*store.Client, error) {
	c.reads.Add(1)
	return c.load(ctx, id)
}

func newCache(t testing.TB, load clientcache.Loader, cfg clientcache.Config) *clientcache.Cache {
	t.Helper()
	c, err := clientcache.New(load, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// A cache whose change feed never connected trusts nothing after
	// MaxUnsynced; the tests run with a connected feed unless they say otherwise.
	c.Synced(true)
	return c
}

// setup opens a store and a cache over it whose reads are counted.
func setup(t testing.TB, cfg clientcache.Config) (*postgres.Store, *counter, *clientcache.Cache) {
	t.Helper()
	st := openStore(t)
	cnt := &counter{load: st.GetClient}
	return st, cnt, newCache(t, cnt.Load, cfg)
}

func mustGet(t testing.TB, c *clientcache.Cache, id string) *clientcache.Entry {
	t.Helper()
	e, err := c.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	if e == nil || e.ID() != id {
		t.Fatalf("Get(%s) = %+v", id, e)
	}
	return e
}

func wantReads(t testing.TB, cnt *counter, want int64) {
	t.Helper()
	if got := cnt.reads.Load(); got != want {
		t.Fatalf("%d store reads, want %d", got, want)
	}
}

// getCached gets id until it is served from the cache, as ristretto may drop
// a write: it returns the entry once a Get costs no store read.
func getCached(t testing.TB, c *clientcache.Cache, cnt *counter, id string) *clientcache.Entry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.Wait()
		before := cnt.reads.Load()
		e, err := c.Get(context.Background(), id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if cnt.reads.Load() == before {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never cached", id)
		}
	}
}

func TestHitAfterMiss(t *testing.T) {
	t.Parallel()
	st, cnt, c := setup(t, clientcache.Config{})
	cl := createClient(t, st)

	first := mustGet(t, c, cl.ID)
	wantReads(t, cnt, 1)
	if first.ID() != cl.ID || first.Name() != cl.Name || first.Record().SecretHash != cl.SecretHash || first.Scopes().String() != "ledgers:read" {
		t.Errorf("loaded client = %+v, want %+v", first.Record(), cl)
	}
	c.Wait()
	for range 5 {
		if e := mustGet(t, c, cl.ID); e != first {
			t.Fatalf("hit returned entry %p, want the cached %p", e, first)
		}
	}
	wantReads(t, cnt, 1)
	hits, misses := c.Stats()
	if hits != 5 || misses != 1 {
		t.Errorf("Stats = %d hits, %d misses; want 5, 1", hits, misses)
	}
}

func TestUnknownClientNegativelyCached(t *testing.T) {
	t.Parallel()
	_, cnt, c := setup(t, clientcache.Config{})
	id := credential.NewClientID()
	for i := range 3 {
		e, err := c.Get(context.Background(), id)
		if !errors.Is(err, store.ErrNotFound) || e != nil {
			t.Fatalf("Get of an unknown ID = %+v, %v; want store.ErrNotFound", e, err)
		}
		if errors.Is(err, clientcache.ErrUnavailable) {
			t.Fatalf("not found reported as unavailable: %v", err)
		}
		if i == 0 {
			c.Wait()
		}
	}
	wantReads(t, cnt, 1)
	// Also for an ID that could never exist.
	for range 2 {
		if _, err := c.Get(context.Background(), "garbage"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get(garbage): %v", err)
		}
		c.Wait()
	}
	wantReads(t, cnt, 2)
}

func TestNegativeEntryInvalidatedOnCreate(t *testing.T) {
	t.Parallel()
	st, cnt, c := setup(t, clientcache.Config{})
	cl := &store.Client{
		ID: credential.NewClientID(), Name: "late", Type: store.TypeAPIKey,
		Scopes: scope.MustParse("*"), SecretHint: "x", CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
	}
	if _, err := c.Get(context.Background(), cl.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	getCached(t, c, cnt, cl.ID) // the "not found" is remembered
	if err := st.CreateClient(context.Background(), cl, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	c.Changed(store.Change{ID: 1, ClientID: cl.ID})
	mustGet(t, c, cl.ID)
}

func TestInvalidateRereadsAndSeesRevocation(t *testing.T) {
	t.Parallel()
	st, cnt, c := setup(t, clientcache.Config{})
	cl := createClient(t, st)
	other := createClient(t, st)

	e := mustGet(t, c, cl.ID)
	if !e.Active(time.Now()) {
		t.Fatal("new client is not active")
	}
	getCached(t, c, cnt, cl.ID)
	getCached(t, c, cnt, other.ID)
	reads := cnt.reads.Load()

	if _, err := st.RevokeClient(context.Background(), cl.ID, time.Now().UTC().Truncate(time.Microsecond), store.Audit{Actor: "test"}, nil); err != nil {
		t.Fatal(err)
	}
	// Until invalidated, the cache still serves the old record.
	if e := mustGet(t, c, cl.ID); e.Revoked() {
		t.Fatal("the cache read the store without being invalidated")
	}
	wantReads(t, cnt, reads)

	c.Invalidate(cl.ID)
	e = mustGet(t, c, cl.ID)
	wantReads(t, cnt, reads+1)
	if !e.Revoked() || e.Active(time.Now()) {
		t.Fatalf("after Invalidate the client is %+v, want revoked", e.Record())
	}
	// The other client is still cached; Changed is Invalidate.
	mustGet(t, c, other.ID)
	wantReads(t, cnt, reads+1)
	c.Changed(store.Change{ID: 7, ClientID: other.ID})
	mustGet(t, c, other.ID)
	wantReads(t, cnt, reads+2)

	// A deleted client becomes "not found" once invalidated.
	getCached(t, c, cnt, other.ID)
	if err := st.DeleteClient(context.Background(), other.ID, store.Audit{Actor: "test"}, nil); err != nil {
		t.Fatal(err)
	}
	c.Invalidate(other.ID)
	if _, err := c.Get(context.Background(), other.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted client: %v", err)
	}
}

// TestFillInvalidateRace: a fill that read the store before a revocation and
// finishes after the invalidation must not leave its stale record cached.
func TestFillInvalidateRace(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"Invalidate", "Reset", "InvalidateThenGet"} {
		t.Run(op, func(t *testing.T) {
			st := openStore(t)
			cl := createClient(t, st)

			var reads atomic.Int64
			readDone := make(chan struct{})
			release := make(chan struct{})
			load := func(ctx context.Context, id string) (*store.Client, error) {
				n := reads.Add(1)
				got, err := st.GetClient(ctx, id)
				if n == 1 {
					close(readDone) // the pre-revocation record is read...
					<-release       // ...and held while the revocation happens
				}
				return got, err
			}
			c := newCache(t, load, clientcache.Config{})

			type result struct {
				e   *clientcache.Entry
				err error
			}
			done := make(chan result, 1)
			go func() {
				e, err := c.Get(context.Background(), cl.ID)
				done <- result{e, err}
			}()
			<-readDone
			if _, err := st.RevokeClient(context.Background(), cl.ID, time.Now().UTC().Truncate(time.Microsecond), store.Audit{Actor: "test"}, nil); err != nil {
				t.Fatal(err)
			}
			switch op {
			case "Invalidate":
				c.Invalidate(cl.ID)
			case "Reset":
				c.Reset()
			case "InvalidateThenGet":
				c.Invalidate(cl.ID)
				// A Get after the invalidation does not join the stale
				// load still in flight: it reads the store itself.
				fresh := make(chan result, 1)
				go func() {
					e, err := c.Get(context.Background(), cl.ID)
					fresh <- result{e, err}
				}()
				select {
				case r := <-fresh:
					if r.err != nil || !r.e.Revoked() {
						t.Fatalf("Get after Invalidate = %+v, %v; want the revoked client", r.e, r.err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Get after Invalidate waited for the stale load in flight")
				}
			}
			close(release)
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.e.Revoked() {
				t.Fatal("the held fill should have returned the record it read before the revocation")
			}
			c.Wait()

			before := reads.Load()
			e := mustGet(t, c, cl.ID)
			// (After InvalidateThenGet the revoked record may be cached already.)
			if got := reads.Load(); got != before+1 && op != "InvalidateThenGet" {
				t.Errorf("Get after the race did %d store reads, want 1: the stale fill was cached", got-before)
			}
			if !e.Revoked() {
				t.Fatal("the cache serves the record from before the revocation")
			}
		})
	}
}

func TestUnsyncedBypassesCache(t *testing.T) {
	t.Parallel()
	const maxUnsynced = 50 * time.Millisecond
	st, cnt, c := setup(t, clientcache.Config{MaxUnsynced: maxUnsynced})
	cl := createClient(t, st)
	fresh := createClient(t, st)
	getCached(t, c, cnt, cl.ID)

	c.Synced(false)
	lost := time.Now()
	for time.Since(lost) <= maxUnsynced {
		time.Sleep(maxUnsynced / 5)
	}
	c.Synced(false) // a repeated report does not restart the grace period
	reads := cnt.reads.Load()
	for i := range 3 {
		mustGet(t, c, cl.ID)
		mustGet(t, c, fresh.ID)
		c.Wait()
		wantReads(t, cnt, reads+int64(2*(i+1)))
	}
	// What the store says while unsynced is not kept either.
	if _, err := st.RevokeClient(context.Background(), cl.ID, time.Now().UTC().Truncate(time.Microsecond), store.Audit{Actor: "test"}, nil); err != nil {
		t.Fatal(err)
	}
	if e := mustGet(t, c, cl.ID); !e.Revoked() {
		t.Error("unsynced cache did not read the store")
	}

	c.Synced(true)
	// Nothing read while unsynced was kept.
	reads = cnt.reads.Load()
	mustGet(t, c, fresh.ID)
	wantReads(t, cnt, reads+1)
	c.Invalidate(cl.ID) // the change feed replays the revocation on reconnect
	reads = cnt.reads.Load()
	if e := mustGet(t, c, cl.ID); !e.Revoked() {
		t.Error("after resync: revocation not seen")
	}
	getCached(t, c, cnt, cl.ID)
	getCached(t, c, cnt, fresh.ID) // never cached while unsynced: read now, then kept
	afterResync := cnt.reads.Load()
	mustGet(t, c, cl.ID)
	mustGet(t, c, fresh.ID)
	wantReads(t, cnt, afterResync)
	if afterResync > reads+4 {
		t.Errorf("%d reads to re-cache two clients", afterResync-reads)
	}
}

func TestTTLBackstop(t *testing.T) {
	t.Parallel()
	st, cnt, c := setup(t, clientcache.Config{TTL: 50 * time.Millisecond, NegativeTTL: 50 * time.Millisecond})
	for _, id := range []string{createClient(t, st).ID, credential.NewClientID()} {
		getCached(t, c, cnt, id)
		// With no change reported, the record is re-read once its TTL passes.
		deadline := time.Now().Add(10 * time.Second)
		for before := cnt.reads.Load(); cnt.reads.Load() == before; {
			if time.Now().After(deadline) {
				t.Fatal("entry outlived its TTL")
			}
			time.Sleep(10 * time.Millisecond)
			if _, err := c.Get(context.Background(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
		}
	}
}

func TestBriefOutageKeepsCache(t *testing.T) {
	t.Parallel()
	st, cnt, c := setup(t, clientcache.Config{MaxUnsynced: time.Hour})
	cl := createClient(t, st)
	getCached(t, c, cnt, cl.ID)
	reads := cnt.reads.Load()
	c.Synced(false)
	mustGet(t, c, cl.ID)
	wantReads(t, cnt, reads)
}

func TestNeverSyncedTrustsNothingAfterMaxUnsynced(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	cnt := &counter{load: st.GetClient}
	c, err := clientcache.New(cnt.Load, clientcache.Config{MaxUnsynced: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl := createClient(t, st)
	time.Sleep(40 * time.Millisecond)
	for i := range 3 {
		mustGet(t, c, cl.ID)
		c.Wait()
		wantReads(t, cnt, int64(i+1))
	}
}

func TestLoaderErrorIsUnavailableAndNotCached(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	cl := createClient(t, st)
	var fail atomic.Bool
	fail.Store(true)
	boom := errors.New("connection refused")
	cnt := &counter{load: func(ctx context.Context, id string) (*store.Client, error) {
		if fail.Load() {
			return nil, boom
		}
		return st.GetClient(ctx, id)
	}}
	c := newCache(t, cnt.Load, clientcache.Config{})
	for i := range 3 {
		e, err := c.Get(context.Background(), cl.ID)
		if !errors.Is(err, clientcache.ErrUnavailable) || e != nil {
			t.Fatalf("Get = %+v, %v; want ErrUnavailable", e, err)
		}
		if errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a failed read reported as not found: %v", err)
		}
		if !strings.Contains(err.Error(), boom.Error()) {
			t.Errorf("error %q does not say why", err)
		}
		c.Wait()
		wantReads(t, cnt, int64(i+1))
	}
	fail.Store(false)
	mustGet(t, c, cl.ID)
	wantReads(t, cnt, 4)

	// A wrapped ErrNotFound is "not found", cached negatively.
	wrapped := &counter{load: func(context.Context, string) (*store.Client, error) {
		return nil, fmt.Errorf("lookup: %w", store.ErrNotFound)
	}}
	c2 := newCache(t, wrapped.Load, clientcache.Config{})
	if _, err := c2.Get(context.Background(), "x"); !errors.Is(err, store.ErrNotFound) || errors.Is(err, clientcache.ErrUnavailable) {
		t.Fatalf("wrapped not found: %v", err)
	}
	getCached(t, c2, wrapped, "x")
}

func TestCallerCancellationDoesNotFailLoad(t *testing.T) {
	t.Parallel()
	st, cnt, c := setup(t, clientcache.Config{})
	cl := createClient(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e, err := c.Get(ctx, cl.ID)
	if err != nil || e.ID() != cl.ID {
		t.Fatalf("Get with a canceled context = %+v, %v", e, err)
	}
	wantReads(t, cnt, 1)
}

func TestLoadTimeout(t *testing.T) {
	t.Parallel()
	cnt := &counter{load: func(ctx context.Context, id string) (*store.Client, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	c := newCache(t, cnt.Load, clientcache.Config{LoadTimeout: 20 * time.Millisecond})
	if _, err := c.Get(context.Background(), "slow"); !errors.Is(err, clientcache.ErrUnavailable) {
		t.Fatalf("timed-out load: %v", err)
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	st, cnt, c := setup(t, clientcache.Config{})
	a, b := createClient(t, st), createClient(t, st)
	missing := credential.NewClientID()
	getCached(t, c, cnt, a.ID)
	getCached(t, c, cnt, b.ID)
	getCached(t, c, cnt, missing)
	reads := cnt.reads.Load()

	c.Reset()
	mustGet(t, c, a.ID)
	mustGet(t, c, b.ID)
	if _, err := c.Get(context.Background(), missing); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	wantReads(t, cnt, reads+3)
	// And caching works afterwards.
	getCached(t, c, cnt, a.ID)
}

func TestMarkUsed(t *testing.T) {
	var e clientcache.Entry
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		at   time.Time
		want bool
	}{
		{t0, true},
		{t0, false},
		{t0.Add(500 * time.Millisecond), false},
		{t0.Add(999 * time.Millisecond), false},
		{t0.Add(time.Second), true},
		{t0.Add(1500 * time.Millisecond), false},
		{t0.Add(-time.Hour), false}, // a clock going back never re-marks
		{t0.Add(time.Second), false},
		{t0.Add(10 * time.Second), true},
		{t0.Add(10 * time.Second), false},
	}
	for i, s := range steps {
		if got := e.MarkUsed(s.at); got != s.want {
			t.Errorf("step %d: MarkUsed(t0%+v) = %v, want %v", i, s.at.Sub(t0), got, s.want)
		}
	}

	// Concurrent callers in one second: exactly one records the use.
	var f clientcache.Entry
	var trues atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for ms := range 10 {
				if f.MarkUsed(t0.Add(time.Duration(ms) * 100 * time.Millisecond)) {
					trues.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if trues.Load() != 1 {
		t.Errorf("%d callers marked the same second", trues.Load())
	}
}

func TestMarkUsedPerCachedEntry(t *testing.T) {
	t.Parallel()
	st, cnt, c := setup(t, clientcache.Config{})
	a, b := createClient(t, st), createClient(t, st)
	ea := getCached(t, c, cnt, a.ID)
	eb := getCached(t, c, cnt, b.ID)
	now := time.Now()
	if !ea.MarkUsed(now) {
		t.Fatal("first MarkUsed = false")
	}
	// The same entry comes back from the cache, remembering the mark...
	if mustGet(t, c, a.ID).MarkUsed(now) {
		t.Error("second MarkUsed in the same second through a cache hit = true")
	}
	// ...and each client has its own.
	if !eb.MarkUsed(now) {
		t.Error("another client's first MarkUsed = false")
	}
	if !mustGet(t, c, a.ID).MarkUsed(now.Add(time.Second)) {
		t.Error("MarkUsed a second later = false")
	}
}

// waitingInSingleflight counts this test's goroutines parked on an in-flight
// singleflight call, as shown by their stacks. (The test is not parallel, so
// no other test's goroutines run meanwhile.)
func waitingInSingleflight() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "singleflight.(*Group).Do(") && strings.Contains(g, "sync.(*WaitGroup).Wait(") &&
			strings.Contains(g, "TestConcurrentMissesShareOneRead") {
			count++
		}
	}
	return count
}

func TestConcurrentMissesShareOneRead(t *testing.T) {
	for _, known := range []bool{true, false} {
		t.Run(fmt.Sprintf("known=%v", known), func(t *testing.T) {
			st := openStore(t)
			id := credential.NewClientID()
			if known {
				id = createClient(t, st).ID
			}
			entered := make(chan struct{})
			release := make(chan struct{})
			var reads atomic.Int64
			load := func(ctx context.Context, id string) (*store.Client, error) {
				if reads.Add(1) == 1 {
					close(entered)
				}
				<-release
				return st.GetClient(ctx, id)
			}
			c := newCache(t, load, clientcache.Config{})

			const callers = 16
			errs := make(chan error, callers)
			entries := make(chan *clientcache.Entry, callers)
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					e, err := c.Get(context.Background(), id)
					errs <- err
					entries <- e
				})
			}
			<-entered
			// Wait until every other caller is parked on the load in flight.
			deadline := time.Now().Add(10 * time.Second)
			for waitingInSingleflight() < callers-1 {
				if time.Now().After(deadline) {
					waiting := waitingInSingleflight()
					close(release)
					wg.Wait()
					t.Fatalf("only %d of %d callers joined the load in flight; %d store reads", waiting, callers-1, reads.Load())
				}
				time.Sleep(time.Millisecond)
			}
			close(release)
			wg.Wait()
			close(errs)
			close(entries)
			if got := reads.Load(); got != 1 {
				t.Errorf("%d store reads for %d concurrent misses, want 1", got, callers)
			}
			var first *clientcache.Entry
			for err := range errs {
				if known && err != nil || !known && !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Get: %v", err)
				}
			}
			for e := range entries {
				if first == nil {
					first = e
				}
				if e != first {
					t.Error("concurrent callers got different entries")
				}
			}
		})
	}
}

// TestConcurrentGetInvalidate runs Get, Invalidate and Reset together, for
// the race detector.
func TestConcurrentGetInvalidate(t *testing.T) {
	t.Parallel()
	st, _, c := setup(t, clientcache.Config{})
	ids := []string{createClient(t, st).ID, createClient(t, st).ID, credential.NewClientID()}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				id := ids[(g+i)%len(ids)]
				if _, err := c.Get(context.Background(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Error(err)
					return
				}
				switch i % 10 {
				case 3:
					c.Invalidate(id)
				case 7:
					c.Reset()
				}
			}
		})
	}
	wg.Wait()
}

// TestFirstSyncForgetsEarlierFills: a record cached before the change feed
// first connected may predate a change the feed will never report (it starts
// at the head of the log); the first Synced(true) must drop it.
func TestFirstSyncForgetsEarlierFills(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	cnt := &counter{load: st.GetClient}
	c, err := clientcache.New(cnt.Load, clientcache.Config{MaxUnsynced: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl := createClient(t, st)
	mustGet(t, c, cl.ID) // filled before the feed is up
	c.Wait()
	if _, err := st.RevokeClient(context.Background(), cl.ID, time.Now().UTC().Truncate(time.Microsecond), store.Audit{Actor: "test"}, nil); err != nil {
		t.Fatal(err)
	}
	c.Synced(true) // the feed connects after the revocation: it will not report it
	e := mustGet(t, c, cl.ID)
	if !e.Revoked() {
		t.Fatal("a record cached before the first sync survived it: the revocation is invisible")
	}
	wantReads(t, cnt, 2)
	// Later syncs (reconnections) keep the cache: their replay covers the gap.
	c.Wait()
	c.Synced(false)
	c.Synced(true)
	mustGet(t, c, cl.ID)
	wantReads(t, cnt, 2)
}

// TestCaughtUpAtCountsFromThen: a loss reported with CaughtUpAt counts
// MaxUnsynced from that moment (the last poll that worked), not from when it
// was noticed: a poll that hung for its timeout before failing must not
// stretch the time cached records are trusted.
func TestCaughtUpAtCountsFromThen(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	cnt := &counter{load: st.GetClient}
	for _, tc := range []struct {
		name      string
		caughtUp  time.Duration // before the loss; 0: not reported
		wantReads int64         // reads by the lookup just after the loss
	}{
		{"noticed at once", 0, 0},
		{"caught up just before", 10 * time.Millisecond, 0},
		{"caught up long before", 10 * time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t, cnt.Load, clientcache.Config{MaxUnsynced: time.Second})
			cl := createClient(t, st)
			mustGet(t, c, cl.ID)
			c.Wait()
			reads := cnt.reads.Load()
			if tc.caughtUp > 0 {
				c.CaughtUpAt(time.Now().Add(-tc.caughtUp))
			}
			c.Synced(false)
			mustGet(t, c, cl.ID)
			wantReads(t, cnt, reads+tc.wantReads)
		})
	}
}

// TestEntriesShareScopes: cached clients with equal scopes share one copy of
// them (and of their boxed string), so a million cached clients do not hold
// a million copies of a handful of scope sets; the scopes are unchanged; the
// hint and last use are dropped.
func TestEntriesShareScopes(t *testing.T) {
	st, cnt, c := setup(t, clientcache.Config{})
	a, b := createClient(t, st), createClient(t, st)
	ea, eb := getCached(t, c, cnt, a.ID), getCached(t, c, cnt, b.ID)
	if ea.Scopes().String() != "ledgers:read" || eb.Scopes().String() != "ledgers:read" {
		t.Fatalf("scopes %q and %q", ea.Scopes(), eb.Scopes())
	}
	if unsafe.StringData(ea.Scopes().String()) != unsafe.StringData(eb.Scopes().String()) {
		t.Error("two cached clients with equal scopes hold a copy each")
	}
	if ea.BoxedScopes() != eb.BoxedScopes() || ea.BoxedScopes() != any("ledgers:read") {
		t.Errorf("boxed scopes %v and %v", ea.BoxedScopes(), eb.BoxedScopes())
	}
	if ea.Type() != store.TypeOAuth || !ea.Scopes().Covers("ledgers:read") {
		t.Errorf("entry %+v", ea.Record())
	}
	// What no decision needs is not kept.
	if r := ea.Record(); r.SecretHint != "" || r.LastUsedAt != nil {
		t.Errorf("the cached record keeps its hint %q or last use %v", r.SecretHint, r.LastUsedAt)
	}
}
