package clientcache_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

func BenchmarkGetHit(b *testing.B) {
	st, cnt, c := setup(b, clientcache.Config{})
	id := createClient(b, st).ID
	getCached(b, c, cnt, id)
	reads := cnt.reads.Load()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := cnt.reads.Load(); got != reads {
		b.Fatalf("%d store reads during the benchmark", got-reads)
	}
}

// BenchmarkHitRatioZipf reports the hit ratio of a full cache under a
// skewed load: 10,000 entries, 100,000 clients asked for with Zipf
// frequencies (s = 1.1), as a fleet of clients of unequal activity would.
// It measures what ristretto's admission (TinyLFU, its sketch sized by
// NumCounters) is worth when the clients do not all fit.
func BenchmarkHitRatioZipf(b *testing.B) {
	const size, universe = 10_000, 100_000
	ids := make([]string, universe)
	for i := range ids {
		ids[i] = credential.NewClientID()
	}
	load := func(_ context.Context, id string) (*store.Client, error) {
		return &store.Client{ID: id, Name: "zipf", Type: store.TypeOAuth, Scopes: scope.MustParse("mcp:read")}, nil
	}
	c := newCache(b, load, clientcache.Config{MaxClients: size, TTL: time.Hour})
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, universe-1)
	ctx := context.Background()
	for range 200_000 { // warm up: fill and let the sketch learn
		if _, err := c.Get(ctx, ids[z.Uint64()]); err != nil {
			b.Fatal(err)
		}
	}
	c.Wait()
	hits0, misses0 := c.Stats()
	for b.Loop() {
		if _, err := c.Get(ctx, ids[z.Uint64()]); err != nil {
			b.Fatal(err)
		}
	}
	hits, misses := c.Stats()
	hits, misses = hits-hits0, misses-misses0
	b.ReportMetric(float64(hits)/float64(hits+misses), "hit-ratio")
}
