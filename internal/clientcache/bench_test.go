package clientcache_test

import (
	"context"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
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
