package backend_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// readCounter is a store whose client reads are counted, with how many of
// them are in flight per client ID at once (the most seen is kept).
type readCounter struct {
	store.Store
	delay time.Duration // added to every read, so that concurrent ones overlap

	reads    atomic.Int64
	mu       sync.Mutex
	inFlight map[string]int
	most     int
	mostID   string
}

func newReadCounter(st store.Store, delay time.Duration) *readCounter {
	return &readCounter{Store: st, delay: delay, inFlight: map[string]int{}}
}

func (r *readCounter) GetClient(ctx context.Context, id string) (*store.Client, error) {
	r.reads.Add(1)
	r.mu.Lock()
	r.inFlight[id]++
	if n := r.inFlight[id]; n > r.most {
		r.most, r.mostID = n, id
	}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight[id]--
		r.mu.Unlock()
	}()
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	return r.Store.GetClient(ctx, id)
}

// mostInFlight is the most reads of one client ID that were in flight at once.
func (r *readCounter) mostInFlight() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.most, r.mostID
}

// burst has callers goroutines, released at once, each ask b for every ID
// of ids in its own random order: the same clients and different ones at
// the same moment, on a cold cache. It returns the failed lookups.
func burst(b *backend.Backend, ids []string, callers int, seed uint64) (failed int64) {
	var wg sync.WaitGroup
	var fails atomic.Int64
	start := make(chan struct{})
	for c := range callers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			order := rng.Perm(len(ids))
			<-start
			for _, i := range order {
				if _, err := b.Clients.Get(context.Background(), ids[i]); err != nil {
					fails.Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	return fails.Load()
}

// waitSynced waits until b's change feed is synced: before, the cache
// keeps nothing it reads.
func waitSynced(t testing.TB, b *backend.Backend) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !b.FeedSynced() {
		if time.Now().After(deadline) {
			t.Fatal("the change feed never synced")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestColdBurstCollapsesReads: many goroutines asking a cold cache for the
// same and different clients at once, on a real PostgreSQL store, cause at
// most one store read per client ID in flight at any moment (the cache's
// singleflight), and every lookup is answered. Each read is slowed so that
// lookups of one ID overlap: without the collapsing, many would be in
// flight at once.
func TestColdBurstCollapsesReads(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 20)
	for i := range ids {
		ids[i] = createClient(t, st).ID
	}
	counter := newReadCounter(st, 20*time.Millisecond)
	b, err := backend.New(counter, clientcache.Config{}, zaptest.NewLogger(t))
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	waitSynced(t, b)

	const callers = 64
	if failed := burst(b, ids, callers, 1); failed > 0 {
		t.Fatalf("%d lookups failed", failed)
	}
	most, id := counter.mostInFlight()
	if most != 1 {
		t.Errorf("%d reads of client %s were in flight at once; want one fill in flight per client ID", most, id)
	}
	// Sequential re-reads may happen (a caller arriving after a fill ended
	// and before ristretto applied its write), never one per caller.
	reads := counter.reads.Load()
	if reads < int64(len(ids)) || reads >= int64(callers*len(ids)/4) {
		t.Errorf("%d store reads for %d lookups of %d clients", reads, callers*len(ids), len(ids))
	}
	t.Logf("%d lookups of %d clients by %d goroutines at once: %d store reads, at most %d in flight per client", callers*len(ids), len(ids), callers, reads, most)
}
