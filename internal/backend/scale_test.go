package backend_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

func createClient(t testing.TB, st store.Store) *store.Client {
	t.Helper()
	secret := credential.NewSecret()
	c := &store.Client{
		ID:         credential.NewClientID(),
		Name:       "burst client",
		Type:       store.TypeOAuth,
		Scopes:     scope.MustParse("mcp:read"),
		SecretHash: credential.HashOf(secret),
		SecretHint: credential.Hint(secret),
		CreatedAt:  time.Now().UTC().Truncate(time.Microsecond),
	}
	if err := st.CreateClient(context.Background(), c, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	return c
}

// scaleClients is how many clients the scale database holds.
const scaleClients = 1_000_000

// scaleDatabase returns the URL of a PostgreSQL database of its own
// (BLNK_SCALE_DATABASE, default blnk_auth_scale on the test server) holding
// scaleClients clients, bulk-inserted with COPY the first time and kept for
// the next runs (drop it to start over). Each has two scopes and a last use,
// as clients in service have.
func scaleDatabase(b *testing.B) string {
	b.Helper()
	name := os.Getenv("BLNK_SCALE_DATABASE")
	if name == "" {
		name = "blnk_auth_scale"
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testdb.ServerURL())
	if err != nil {
		testdb.Unavailable(b, err)
	}
	defer admin.Close(ctx)
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		b.Fatal(err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
			b.Fatal(err)
		}
	}
	u, err := url.Parse(testdb.ServerURL())
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	dsn := u.String()
	st, err := postgres.Open(ctx, dsn) // migrates
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var have int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM blnk_auth_clients`).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have >= scaleClients {
		return dsn
	}
	start := time.Now()
	created := time.Now().UTC().Truncate(time.Microsecond)
	hash := make([]byte, 32)
	n := scaleClients - have
	i := 0
	copied, err := st.Pool().CopyFrom(ctx, pgx.Identifier{"blnk_auth_clients"},
		[]string{"client_id", "name", "type", "scopes", "secret_hash", "secret_hint", "created_at", "last_used_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			i++
			_, _ = rand.Read(hash)
			at := created.Add(time.Duration(i) * time.Microsecond)
			// Used clients have a last use on record, as in service.
			return []any{credential.NewClientID(), fmt.Sprintf("Scale client %07d", have+i), "oauth",
				[]string{"mcp:read", "ledgers:read"}, hash, "bcs_…" + strconv.Itoa(1000+i%9000), at, at.Add(24 * time.Hour)}, nil
		}))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `ANALYZE blnk_auth_clients`); err != nil {
		b.Fatal(err)
	}
	b.Logf("COPY of %d clients into %s took %s", copied, name, time.Since(start).Round(time.Millisecond))
	return dsn
}

// scaleIDs returns the IDs of the first n clients of the scale database.
func scaleIDs(b *testing.B, st *postgres.Store, n int) []string {
	b.Helper()
	rows, err := st.Pool().Query(context.Background(), `SELECT client_id FROM blnk_auth_clients ORDER BY client_id LIMIT $1`, n)
	if err != nil {
		b.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	return ids
}

// heap returns the heap in use (spans holding live objects) and the bytes
// of live objects, after collecting garbage.
func heap() (inUse, alloc uint64) {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.HeapAlloc
}

// BenchmarkScaleCacheMemory measures the heap the client cache holds with
// 100k and 1M clients of the scale database cached, each read as the store
// reads it (paged with ListClients): heap in use after GC, with the cache
// filled, less before it was made. Run once per size:
//
//	go test -run '^$' -bench 'ScaleCacheMemory' -benchtime 1x -timeout 60m ./internal/backend/
func BenchmarkScaleCacheMemory(b *testing.B) {
	dsn := scaleDatabase(b)
	sizes := []int{100_000, 1_000_000}
	if v := os.Getenv("BLNK_SCALE_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 || n > scaleClients {
				b.Fatalf("BLNK_SCALE_SIZES=%q", v)
			}
			sizes = append(sizes, n)
		}
	}
	for _, size := range sizes {
		b.Run(fmt.Sprintf("clients=%d", size), func(b *testing.B) {
			for b.Loop() {
				ctx := context.Background()
				st, err := postgres.Open(ctx, dsn)
				if err != nil {
					b.Fatal(err)
				}
				before, beforeAlloc := heap()
				page := map[string]*store.Client{}
				load := func(_ context.Context, id string) (*store.Client, error) {
					if c, ok := page[id]; ok {
						return c, nil
					}
					return nil, store.ErrNotFound
				}
				cache, err := clientcache.New(load, clientcache.Config{MaxClients: int64(size), TTL: time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				cache.Synced(true)
				start := time.Now()
				var after *store.Cursor
				filled := 0
				for filled < size {
					cs, err := st.ListClients(ctx, store.ListFilter{Limit: min(10_000, size-filled), After: after}, time.Now())
					if err != nil {
						b.Fatal(err)
					}
					if len(cs) == 0 {
						b.Fatalf("the scale database ran out after %d clients", filled)
					}
					clear(page)
					for _, c := range cs {
						page[c.ID] = c
					}
					for i, c := range cs {
						if _, err := cache.Load(ctx, c.ID); err != nil {
							b.Fatal(err)
						}
						if i%1000 == 999 {
							cache.Wait() // ristretto drops writes its buffer has no room for
						}
					}
					cache.Wait()
					filled += len(cs)
					last := cs[len(cs)-1]
					after = &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
				}
				fill := time.Since(start)
				page = nil
				st.Close()
				inUse, alloc := heap()
				held := cache.Len()
				b.ReportMetric(float64(inUse-before)/(1<<20), "MB")
				b.ReportMetric(float64(alloc-beforeAlloc)/(1<<20), "MB-live")
				b.ReportMetric(float64(inUse-before)/float64(max(held, 1)), "B/entry")
				b.ReportMetric(float64(held), "entries")
				if held < int64(size)*99/100 {
					b.Errorf("the cache holds %d of %d clients", held, size)
				}
				b.Logf("%d clients read and cached in %s; the cache holds %d; heap in use %d MB more than before (live objects %d MB)", filled, fill.Round(time.Millisecond), held, (inUse-before)>>20, (alloc-beforeAlloc)>>20)
				if p := os.Getenv("BLNK_SCALE_HEAPPROFILE"); p != "" {
					// Where the bytes are: go tool pprof -sample_index=inuse_space -top
					f, err := os.Create(fmt.Sprintf("%s.%d", p, size))
					if err != nil {
						b.Fatal(err)
					}
					_ = pprof.WriteHeapProfile(f)
					f.Close()
				}
				runtime.KeepAlive(cache)
				cache.Close()
			}
		})
	}
}

// BenchmarkScaleColdBurst: instances (backends, each with its own cold
// cache and its own pool on the scale database) restarting under load, all
// at once: on each, BLNK_BURST_CALLERS goroutines (default 200) ask for
// the same 1,000 hot clients and 200 clients of their own from the 1M, in
// their own random orders. It reports store reads per second during the
// burst and lookups per second, and fails if two reads of one client ID
// were ever in flight on one instance at once.
//
//	go test -run '^$' -bench 'ScaleColdBurst' -benchtime 1x -timeout 60m ./internal/backend/
func BenchmarkScaleColdBurst(b *testing.B) {
	dsn := scaleDatabase(b)
	callers := 200
	if v := os.Getenv("BLNK_BURST_CALLERS"); v != "" {
		callers, _ = strconv.Atoi(v)
	}
	for _, instances := range []int{1, 4} {
		b.Run(fmt.Sprintf("instances=%d", instances), func(b *testing.B) {
			for b.Loop() {
				ctx := context.Background()
				probe, err := postgres.Open(ctx, dsn)
				if err != nil {
					b.Fatal(err)
				}
				ids := scaleIDs(b, probe, 1000+callers*200*instances)
				probe.Close()
				hot, rest := ids[:1000], ids[1000:]
				var backends []*backend.Backend
				var counters []*readCounter
				for range instances {
					st, err := postgres.Open(ctx, dsn)
					if err != nil {
						b.Fatal(err)
					}
					c := newReadCounter(st, 0)
					bk, err := backend.New(c, clientcache.Config{MaxClients: scaleClients}, zap.NewNop())
					if err != nil {
						b.Fatal(err)
					}
					backends = append(backends, bk)
					counters = append(counters, c)
					waitSynced(b, bk)
				}
				start := time.Now()
				var wg sync.WaitGroup
				var fails, lookups int64
				var mu sync.Mutex
				for i, bk := range backends {
					wg.Go(func() {
						// Each caller: the hot set, and 200 clients of its own.
						mine := rest[i*callers*200:]
						var inner sync.WaitGroup
						startAll := make(chan struct{})
						for c := range callers {
							inner.Go(func() {
								set := append(append([]string(nil), hot...), mine[c*200:(c+1)*200]...)
								<-startAll
								f := burst(bk, set, 1, uint64(i*callers+c))
								mu.Lock()
								fails += f
								lookups += int64(len(set))
								mu.Unlock()
							})
						}
						close(startAll)
						inner.Wait()
					})
				}
				wg.Wait()
				took := time.Since(start)
				var reads int64
				for i, c := range counters {
					reads += c.reads.Load()
					if most, id := c.mostInFlight(); most > 1 {
						b.Errorf("instance %d: %d reads of client %s in flight at once", i, most, id)
					}
				}
				for _, bk := range backends {
					bk.Close()
				}
				if fails > 0 {
					b.Fatalf("%d lookups failed", fails)
				}
				distinct := instances * (1000 + callers*200)
				b.ReportMetric(float64(reads)/took.Seconds(), "reads/s")
				b.ReportMetric(float64(lookups)/took.Seconds(), "lookups/s")
				b.ReportMetric(float64(reads)/float64(distinct), "reads/client")
				b.Logf("%d instances × %d goroutines: %d lookups of %d distinct clients per instance in %s: %d store reads (%.0f/s), %.0f lookups/s, load average %s",
					instances, callers, lookups, distinct/instances, took.Round(time.Millisecond), reads, float64(reads)/took.Seconds(), float64(lookups)/took.Seconds(), loadAverage())
			}
		})
	}
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return string(b[:min(len(b), 14)])
}

// BenchmarkScaleSeed only makes sure the scale database exists with its
// clients (caddymodule/testdata/scale/start.sh runs it first).
func BenchmarkScaleSeed(b *testing.B) {
	dsn := scaleDatabase(b)
	for b.Loop() {
	}
	b.ReportMetric(scaleClients, "clients")
	_ = dsn
}
