package clientcache_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// scaleLikeClient is a client as the scale database (internal/backend,
// BenchmarkScaleCacheMemory) holds them and as a store returns one: a new
// record per read, two scopes, a hint and a last use.
func scaleLikeClient(id string, i int) *store.Client {
	created := time.Now().UTC().Truncate(time.Microsecond)
	used := created.Add(24 * time.Hour)
	var hash credential.Hash
	copy(hash[:], id)
	return &store.Client{
		ID:         id,
		Name:       fmt.Sprintf("Scale client %07d", i),
		Type:       store.TypeOAuth,
		Scopes:     scope.MustParse("mcp:read ledgers:read"),
		SecretHash: hash,
		SecretHint: fmt.Sprintf("bcs_…%d", 1000+i%9000),
		CreatedAt:  created,
		LastUsedAt: &used,
		// As the stores read it: an empty list, not nil.
		RedirectURIs: []string{},
	}
}

// liveHeap is the bytes of live objects after collecting garbage.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// maxBytesPerEntry bounds the live heap a cached client costs in
// TestCacheEntryAllocBytes: the entry, its strings and ristretto's share.
// Measured: 263 at 20,000 entries with Go 1.26 (BENCHMARKS.md, "A million
// clients"); the slack is for the maps' load factor at other Go versions.
// The record before issue #14 cost 610.
const maxBytesPerEntry = 285

// TestCacheEntryAllocBytes guards the memory of a cached client (issue #14:
// a million clients in 300 MB): it fills 20,000 entries as the scale
// benchmark does, through a loader returning a new record per read, and
// bounds the live heap per entry. Its name has Alloc in it so that CI's run
// without the race detector (which distorts the heap) runs it.
func TestCacheEntryAllocBytes(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what the heap holds; CI runs this without it (-run Alloc)")
	}
	const n = 20_000
	ids := make([]string, n)
	index := make(map[string]int, n)
	for i := range ids {
		ids[i] = credential.NewClientID()
		index[ids[i]] = i
	}
	load := func(_ context.Context, id string) (*store.Client, error) {
		i, ok := index[id]
		if !ok {
			return nil, store.ErrNotFound
		}
		return scaleLikeClient(id, i), nil
	}
	before := liveHeap()
	c, err := clientcache.New(load, clientcache.Config{MaxClients: n, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Synced(true)
	ctx := context.Background()
	for i, id := range ids {
		if _, err := c.Load(ctx, id); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			c.Wait() // ristretto drops writes its buffer has no room for
		}
	}
	c.Wait()
	after := liveHeap()
	held := c.Len()
	if held < n*99/100 {
		t.Fatalf("the cache holds %d of %d clients", held, n)
	}
	per := float64(after-before) / float64(held)
	t.Logf("%d entries: %.0f live bytes each", held, per)
	if per > maxBytesPerEntry {
		t.Errorf("a cached client costs %.0f bytes of live heap; at most %d", per, maxBytesPerEntry)
	}
	runtime.KeepAlive(c)
}

// TestCachedRecordDropsLoadedClient: the cache keeps a compact record of
// what decisions read, not the store.Client the loader returned (its
// creation time, hint, last use and struct are bytes a million cached
// clients would pay for).
func TestCachedRecordDropsLoadedClient(t *testing.T) {
	id := credential.NewClientID()
	var loaded weak.Pointer[store.Client]
	load := func(_ context.Context, got string) (*store.Client, error) {
		if got != id {
			return nil, store.ErrNotFound
		}
		cl := scaleLikeClient(id, 1)
		loaded = weak.Make(cl)
		return cl, nil
	}
	c := newCache(t, load, clientcache.Config{})
	e, err := c.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	c.Wait()
	runtime.GC()
	runtime.GC()
	if loaded.Value() != nil {
		t.Error("the cache keeps the store.Client its loader returned")
	}
	runtime.KeepAlive(e)
}

// TestBoxedPlaceholdersAllocNothing: an entry's ID and name, boxed for the
// placeholders, are the strings they box (equal as interfaces, readable by
// a type assertion and by fmt), and boxing them allocates nothing.
func TestBoxedPlaceholdersAllocNothing(t *testing.T) {
	id := credential.NewClientID()
	e := clientcache.EntryOf(scaleLikeClient(id, 7))
	if e.BoxedID() != any(id) || e.BoxedName() != any("Scale client 0000007") || e.BoxedScopes() != any("ledgers:read mcp:read") {
		t.Errorf("boxed %v, %v, %v", e.BoxedID(), e.BoxedName(), e.BoxedScopes())
	}
	if s, ok := e.BoxedID().(string); !ok || s != id || fmt.Sprint(e.BoxedName()) != e.Name() {
		t.Errorf("the boxed ID reads back as %q (%v), the name prints as %q", s, ok, fmt.Sprint(e.BoxedName()))
	}
	sink := make(map[string]any, 3)
	if n := testing.AllocsPerRun(100, func() {
		sink["id"], sink["name"], sink["scopes"] = e.BoxedID(), e.BoxedName(), e.BoxedScopes()
	}); n != 0 {
		t.Errorf("%v allocations to box an entry's placeholders", n)
	}
	runtime.GC()
	if sink["id"].(string) != id {
		t.Error("the boxed ID changed after a collection")
	}
}

// TestEntryKeepsWhatDecisionsRead: a client with every field set comes back
// from the cache as the store read it, less its creation time, hint and
// last use; its rare fields (revocation, previous secret, keys, redirect
// URIs) do not leak into the profile another client shares.
func TestEntryKeepsWhatDecisionsRead(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	expires, revoked, grace := now.Add(time.Hour), now.Add(-time.Minute), now.Add(time.Minute)
	previous := credential.HashOf("previous")
	full := scaleLikeClient(credential.NewClientID(), 1)
	full.ExpiresAt, full.RevokedAt = &expires, &revoked
	full.PreviousSecretHash, full.PreviousSecretExpiresAt = &previous, &grace
	full.RateLimit = &store.RateLimit{Requests: 10, Per: time.Second, Burst: 5}
	full.AuthMethod, full.Keys = store.AuthSecretPost, store.ClientKeys{JWKSURI: "https://keys.example.com/"}
	full.RedirectURIs = []string{"https://app.example.com/cb"}
	plain := scaleLikeClient(credential.NewClientID(), 2)
	plain.RateLimit, plain.AuthMethod = &store.RateLimit{Requests: 10, Per: time.Second, Burst: 5}, store.AuthSecretPost
	records := map[string]*store.Client{full.ID: full, plain.ID: plain}
	load := func(_ context.Context, id string) (*store.Client, error) {
		c, ok := records[id]
		if !ok {
			return nil, store.ErrNotFound
		}
		cp := *c
		return &cp, nil
	}
	c := newCache(t, load, clientcache.Config{})
	ctx := context.Background()
	ef, err := c.Get(ctx, full.ID)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := c.Get(ctx, plain.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *full
	want.CreatedAt, want.SecretHint, want.LastUsedAt = time.Time{}, "", nil
	got := ef.Record()
	if got.RateLimit != nil && *got.RateLimit == *want.RateLimit {
		want.RateLimit = got.RateLimit // the shared copy
	}
	if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", want) {
		t.Errorf("record\n%+v\nwant\n%+v", *got, want)
	}
	if ef.Active(now) || !ef.Revoked() || *ef.ExpiresAt() != expires || *ef.RateLimit() != *full.RateLimit ||
		ef.Keys() != full.Keys || len(ef.RedirectURIs()) != 1 || !ef.HasPreviousSecret() {
		t.Errorf("accessors of %+v", got)
	}
	if ok, until := ef.SecretValidity("previous", now); !ok || until == nil || !until.Equal(grace) {
		t.Errorf("the previous secret within its grace period: %v until %v", ok, until)
	}
	if !ep.Active(now) || ep.Revoked() || ep.ExpiresAt() != nil || ep.HasPreviousSecret() || !ep.Keys().Empty() || ep.RedirectURIs() != nil {
		t.Errorf("the plain client took rare fields: %+v", ep.Record())
	}
	if ep.SecretMatches("previous", now) || *ep.RateLimit() != *plain.RateLimit || ep.AuthMethod() != store.AuthSecretPost {
		t.Errorf("plain client %+v", ep.Record())
	}
}

// TestEntryOfAllocs: an entry made outside the cache (authn's principal of
// a metadata-document client, on the request path for each of its tokens;
// authserver's public client) costs the entry, its profile and the boxed
// scopes, and no profile table: there is nothing to share it with. Before
// the compact record that principal cost a record, an entry and three
// boxes; a table per call would make it cost more than it did.
func TestEntryOfAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts; CI runs this without it (-run Alloc)")
	}
	held := scope.MustParse("mcp:read")
	id := "https://app.example.com/client.json"
	var e *clientcache.Entry
	n := testing.AllocsPerRun(100, func() {
		e = clientcache.EntryOf(&store.Client{ID: id, Name: id, Type: store.TypeOAuth, Scopes: held})
	})
	if n > 3 {
		t.Errorf("EntryOf allocates %v times; at most 3 (the entry, its profile, the boxed scopes)", n)
	}
	if e.ID() != id || e.BoxedScopes() != any("mcp:read") || e.Type() != store.TypeOAuth {
		t.Errorf("entry %+v", e.Record())
	}
}

// TestBoxedPlaceholdersKeepEntryAlive: a boxed ID or name points into its
// entry, not at a copy, so holding the box (a request's placeholders) must
// keep the entry alive after the cache forgot it, and read the same strings
// after collections that reuse freed memory; once the boxes go, the entry
// goes too.
func TestBoxedPlaceholdersKeepEntryAlive(t *testing.T) {
	id := credential.NewClientID()
	load := func(_ context.Context, got string) (*store.Client, error) {
		if got != id {
			return nil, store.ErrNotFound
		}
		return scaleLikeClient(id, 3), nil
	}
	c := newCache(t, load, clientcache.Config{})
	boxes, entry := func() ([]any, weak.Pointer[clientcache.Entry]) {
		e, err := c.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return []any{e.BoxedID(), e.BoxedName()}, weak.Make(e)
	}()
	c.Wait()
	c.Invalidate(id) // the cache no longer holds the entry
	c.Wait()
	var garbage [][]byte
	for range 3 {
		for range 1000 {
			garbage = append(garbage, make([]byte, 256)) // reuse what was freed
		}
		garbage = garbage[:0]
		runtime.GC()
	}
	if entry.Value() == nil {
		t.Fatal("the entry was collected while its boxed ID and name were held")
	}
	if s, ok := boxes[0].(string); !ok || s != id || boxes[1] != any("Scale client 0000003") {
		t.Fatalf("boxed ID %q (%v) and name %v after collections", s, ok, boxes[1])
	}
	runtime.KeepAlive(boxes)
	boxes = nil
	runtime.GC()
	runtime.GC()
	if entry.Value() != nil {
		t.Error("the entry outlived its boxes and the cache")
	}
}
