// Package clientcache keeps client records in memory (ristretto) in front of
// the store, so the request path and the token endpoint need no database round
// trip, while every change reported by the store's change feed evicts at once.
package clientcache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// ErrUnavailable wraps a failure to load a client that is not cached: the
// caller cannot tell whether the client may pass, and must say so (503).
var ErrUnavailable = errors.New("client store unavailable")

// Config sizes the cache. Zero values take the defaults noted.
type Config struct {
	// MaxClients bounds how many records (positive and negative) are kept. Default 100000.
	MaxClients int64
	// TTL is the backstop after which a record is re-read even if no change
	// was reported. Default 1m.
	TTL time.Duration
	// NegativeTTL is how long "no such client" is remembered. Default 30s.
	NegativeTTL time.Duration
	// MaxUnsynced is how long cached records are trusted after the change feed
	// lost its connection; past it every lookup goes to the store. Default 1s.
	MaxUnsynced time.Duration
	// LoadTimeout bounds one store lookup. Default 5s.
	LoadTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxClients <= 0 {
		c.MaxClients = 100_000
	}
	if c.TTL <= 0 {
		c.TTL = time.Minute
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = 30 * time.Second
	}
	if c.MaxUnsynced <= 0 {
		c.MaxUnsynced = time.Second
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = 5 * time.Second
	}
}

// Loader reads one client; store.ErrNotFound when there is none.
type Loader func(ctx context.Context, id string) (*store.Client, error)

// Entry is a cached client. Client is nil for a remembered "not found".
type Entry struct {
	// Client is the record as the store read it, less what no decision
	// needs and a million cached clients would pay for: SecretHint and
	// LastUsedAt are empty (the admin API reads the store for them).
	Client *store.Client
	// BoxedID, BoxedName and BoxedScopes are the client's ID, name and
	// Scopes.String() as interface values, made once per fill: the request path
	// stores them in interface-typed maps (placeholders), and boxing a string
	// there would allocate on every request.
	BoxedID, BoxedName, BoxedScopes any
	// lastMark is the unix second of the last MarkUsed that returned true.
	lastMark atomic.Int64
}

// MarkUsed reports whether the caller should record a use of the client at
// now: at most once a second per entry, so recording costs nothing per request.
func (e *Entry) MarkUsed(now time.Time) bool {
	sec := now.Unix()
	old := e.lastMark.Load()
	return sec > old && e.lastMark.CompareAndSwap(old, sec)
}

// Cache is a read-through cache of client records. It implements store.Watcher.
type Cache struct {
	cfg   Config
	load  Loader
	items *ristretto.Cache[string, *Entry]
	group singleflight.Group

	// mu orders fills against invalidations. A fill that read the store before
	// an invalidation must not land after it: ristretto applies Set and Del
	// asynchronously but in the order they were called, so holding mu across
	// "epoch unchanged? then Set" (shared) and "epoch++, Del" (exclusive) keeps
	// stale records out.
	mu    sync.RWMutex
	epoch uint64

	synced        atomic.Bool
	everSynced    atomic.Bool
	unsyncedSince atomic.Int64 // unix nanoseconds
	caughtUpAt    atomic.Int64 // unix nanoseconds, from CaughtUpAt for the next loss; 0: none

	hits, misses atomic.Uint64

	shared sharedScopes
}

// New builds a cache over load.
func New(load Loader, cfg Config) (*Cache, error) {
	cfg.setDefaults()
	items, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
		NumCounters: cfg.MaxClients * 10,
		MaxCost:     cfg.MaxClients,
		BufferItems: 64,
		// Entries cost 1 each: MaxClients is a count, not bytes.
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("creating client cache: %w", err)
	}
	c := &Cache{cfg: cfg, load: load, items: items}
	c.unsyncedSince.Store(time.Now().UnixNano())
	return c, nil
}

// Get returns the entry for id, reading the store on a miss. A client the
// store does not know yields store.ErrNotFound; a failed read ErrUnavailable.
func (c *Cache) Get(ctx context.Context, id string) (*Entry, error) {
	if e, ok, err := c.Lookup(id); ok {
		return e, err
	}
	return c.Load(ctx, id)
}

// Lookup answers as Get does when the cache holds id's entry (a client, or
// the store's "not found") and may trust it; ok is false when answering
// would need the store. It never reads the store, so a caller can decide
// whether a store read is allowed (package throttle) before calling Load.
func (c *Cache) Lookup(id string) (e *Entry, ok bool, err error) {
	if c.trusted() {
		if e, ok := c.items.Get(id); ok {
			c.hits.Add(1)
			e, err := e.result()
			return e, true, err
		}
	}
	return nil, false, nil
}

// Load is Get's miss: it reads the store (one read per id at a time, shared
// by concurrent callers) and fills the cache.
func (c *Cache) Load(ctx context.Context, id string) (*Entry, error) {
	c.misses.Add(1)
	v, err, _ := c.group.Do(id, func() (any, error) { return c.fill(ctx, id) })
	if err != nil {
		return nil, err
	}
	return v.(*Entry).result()
}

// newEntry makes the entry of c, a record the loader made for this fill
// alone (a store returns a new one each read), whose type and scopes it
// replaces with equal shared values (see sharedScopes) and whose hint and
// last use it drops (see Entry.Client).
func (c *Cache) newEntry(cl *store.Client) *Entry {
	e := &Entry{Client: cl}
	if cl != nil {
		cl.SecretHint, cl.LastUsedAt = "", nil
		switch cl.Type {
		case store.TypeOAuth:
			cl.Type = store.TypeOAuth
		case store.TypeAPIKey:
			cl.Type = store.TypeAPIKey
		}
		var boxed any
		cl.Scopes, boxed = c.shared.get(cl.Scopes)
		e.BoxedID, e.BoxedName, e.BoxedScopes = cl.ID, cl.Name, boxed
	}
	return e
}

// maxSharedScopes bounds the distinct scope sets shared; past it a fill
// keeps its own.
const maxSharedScopes = 4096

// sharedScopes holds one copy of each distinct scope set of the cached
// clients, with its String() boxed. Clients share a handful of scope sets:
// at a million cached clients a copy each (the list, its strings, the joined
// string and its box) is about 120 bytes an entry, a sixth of the cache.
type sharedScopes struct {
	mu   sync.Mutex
	sets map[string]sharedSet
}

type sharedSet struct {
	set   scope.Set
	boxed any
}

// get returns the shared copy of s and its String() boxed.
func (sh *sharedScopes) get(s scope.Set) (scope.Set, any) {
	key := s.String()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v, ok := sh.sets[key]; ok {
		return v.set, v.boxed
	}
	v := sharedSet{set: s, boxed: key}
	if len(sh.sets) < maxSharedScopes {
		if sh.sets == nil {
			sh.sets = map[string]sharedSet{}
		}
		sh.sets[key] = v
	}
	return v.set, v.boxed
}

func (e *Entry) result() (*Entry, error) {
	if e.Client == nil {
		return nil, store.ErrNotFound
	}
	return e, nil
}

func (c *Cache) fill(ctx context.Context, id string) (*Entry, error) {
	c.mu.RLock()
	epoch := c.epoch
	c.mu.RUnlock()

	// One caller's cancellation must not fail the others sharing this load.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LoadTimeout)
	defer cancel()
	client, err := c.load(lctx, id)
	ttl := c.cfg.TTL
	switch {
	case errors.Is(err, store.ErrNotFound):
		client, ttl = nil, c.cfg.NegativeTTL
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	e := c.newEntry(client)
	if !c.trusted() {
		return e, nil // the change feed is down: answer from the store, keep nothing
	}
	c.mu.RLock()
	if c.epoch == epoch {
		c.items.SetWithTTL(id, e, 1, ttl)
	}
	c.mu.RUnlock()
	return e, nil
}

// trusted reports whether cached entries may be used: the change feed is
// connected, or was lost less than MaxUnsynced ago.
func (c *Cache) trusted() bool {
	if c.synced.Load() {
		return true
	}
	return time.Now().UnixNano()-c.unsyncedSince.Load() < int64(c.cfg.MaxUnsynced)
}

// Invalidate forgets id. Called for every change to that client.
func (c *Cache) Invalidate(id string) {
	c.mu.Lock()
	c.epoch++
	c.items.Del(id)
	c.mu.Unlock()
	c.group.Forget(id)
}

// Changed implements store.Watcher.
func (c *Cache) Changed(ch store.Change) { c.Invalidate(ch.ClientID) }

// Reset implements store.Watcher: forget everything.
func (c *Cache) Reset() {
	c.mu.Lock()
	c.epoch++
	c.items.Clear()
	c.mu.Unlock()
}

// Synced implements store.Watcher.
//
// The first Synced(true) also forgets everything: a follower starts at the
// head of the change log, so a change made between a fill and that moment
// would never be reported, and the filled record could stay stale until its
// TTL.
func (c *Cache) Synced(ok bool) {
	if !ok && c.synced.Load() {
		since := time.Now().UnixNano()
		if t := c.caughtUpAt.Swap(0); t != 0 && t < since {
			since = t
		}
		c.unsyncedSince.Store(since)
	}
	if ok && c.everSynced.CompareAndSwap(false, true) {
		c.Reset()
	}
	c.synced.Store(ok)
}

// CaughtUpAt implements store.CaughtUpWatcher: the next Synced(false)
// counts MaxUnsynced from t, the last moment the feed was known current.
func (c *Cache) CaughtUpAt(t time.Time) { c.caughtUpAt.Store(t.UnixNano()) }

// Wait blocks until buffered writes are applied (tests and benchmarks).
func (c *Cache) Wait() { c.items.Wait() }

// Stats returns the hit and miss counts since start.
func (c *Cache) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// Len is the number of entries held (clients and remembered "not found"s),
// expired ones included until ristretto's cleanup takes them. Each entry
// costs 1, so it is the cost in use.
func (c *Cache) Len() int64 { return c.items.MaxCost() - c.items.RemainingCost() }

// Close stops the cache's goroutines.
func (c *Cache) Close() { c.items.Close() }

// Interface guards
var (
	_ store.Watcher         = (*Cache)(nil)
	_ store.CaughtUpWatcher = (*Cache)(nil)
)
