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

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
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

// Entry is a cached client, or the store's "not found" remembered for
// NegativeTTL. It is a compact, immutable record of what decisions read, not
// the store.Client the loader returned: a million cached clients pay for
// every byte of it (issue #14; BENCHMARKS.md, "A million clients"). Read it
// with its methods; Record rebuilds a store.Client where one is needed off
// the request path.
type Entry struct {
	// id and name are the client's ID and name. The request path sets them
	// as placeholders, in interface-typed maps, where boxing a string would
	// allocate per request: BoxedID and BoxedName box them in place
	// (boxString), allocating nothing, here or at the fill. Never written
	// after the fill.
	id, name string
	// p holds what clients share (type, auth method, scopes, rate limit),
	// one copy per distinct combination, and points to the rare fields of a
	// client that has any. nil: the store does not know the client.
	p    *profile
	hash credential.Hash
	// expires is the client's expiry as the store read it; nil: never.
	expires *time.Time
	// deadline is the unix nanosecond from which the entry is a miss (TTL or
	// NegativeTTL after its fill): the cache does not use ristretto's TTL,
	// whose expiration buckets would cost every entry a map slot more.
	deadline int64
	// lastMark is the unix second of the last MarkUsed that returned true.
	lastMark atomic.Int64
}

// profile is what many clients have in common. Interned profiles
// (sharedProfiles) have rare == nil; a client with rare fields gets a copy
// of its own.
type profile struct {
	typ         store.Type
	method      store.AuthMethod
	scopes      scope.Set
	boxedScopes any // scopes.String(), boxed once
	rateLimit   *store.RateLimit
	rare        *rare
}

// rare holds what few clients have: a revocation (a revoked client is
// refused, then soon forgotten), a previous secret within its grace
// period, keys (private_key_jwt) and redirect URIs (authorization code).
type rare struct {
	revokedAt               *time.Time
	previousSecretHash      *credential.Hash
	previousSecretExpiresAt *time.Time
	keys                    store.ClientKeys
	redirectURIs            []string
}

// EntryOf makes an entry of c outside any cache (a record the caller made,
// such as a client known only by its metadata document, and tests). It
// shares nothing with cached entries.
func EntryOf(c *store.Client) *Entry {
	// No table: one per call would be allocations on the request path (a
	// metadata-document client's principal is made per token) for nothing
	// to share with.
	var sh *sharedProfiles
	return sh.entry(c)
}

// ID is the client's ID.
func (e *Entry) ID() string { return e.id }

// Name is the client's name.
func (e *Entry) Name() string { return e.name }

// BoxedID, BoxedName and BoxedScopes are ID(), Name() and
// Scopes().String() as interface values (strings), for the placeholders:
// making and setting them allocates nothing.
func (e *Entry) BoxedID() any { return boxString(&e.id) }

// BoxedName: see BoxedID.
func (e *Entry) BoxedName() any { return boxString(&e.name) }

// BoxedScopes: see BoxedID.
func (e *Entry) BoxedScopes() any { return e.p.boxedScopes }

// Type is the client's type.
func (e *Entry) Type() store.Type { return e.p.typ }

// AuthMethod is how the client authenticates at the token endpoint ("" reads
// as store.AuthSecretBasic).
func (e *Entry) AuthMethod() store.AuthMethod { return e.p.method }

// Scopes are the scopes the client holds.
func (e *Entry) Scopes() scope.Set { return e.p.scopes }

// RateLimit is the client's own rate limit; nil for none. Shared: do not
// modify it.
func (e *Entry) RateLimit() *store.RateLimit { return e.p.rateLimit }

// ExpiresAt is when the client expires; nil: never. Shared: do not modify it.
func (e *Entry) ExpiresAt() *time.Time { return e.expires }

// Revoked reports whether the client is revoked.
func (e *Entry) Revoked() bool { return e.p.rare != nil && e.p.rare.revokedAt != nil }

// Active is store.Client.Active: neither revoked nor expired at now.
func (e *Entry) Active(now time.Time) bool {
	return !e.Revoked() && (e.expires == nil || now.Before(*e.expires))
}

// SecretMatches is store.Client.SecretMatches.
func (e *Entry) SecretMatches(secret string, now time.Time) bool {
	ok, _ := e.SecretValidity(secret, now)
	return ok
}

// SecretValidity is store.Client.SecretValidity: both comparisons always
// run, in constant time.
func (e *Entry) SecretValidity(secret string, now time.Time) (ok bool, until *time.Time) {
	var prev *credential.Hash
	var prevExpires *time.Time
	if r := e.p.rare; r != nil {
		prev, prevExpires = r.previousSecretHash, r.previousSecretExpiresAt
	}
	return store.SecretValidity(e.hash, e.p.method, prev, prevExpires, secret, now)
}

// HasPreviousSecret reports whether a previous secret is on record (it may
// be past its grace period).
func (e *Entry) HasPreviousSecret() bool {
	return e.p.rare != nil && e.p.rare.previousSecretHash != nil
}

// Keys are a private_key_jwt client's public keys.
func (e *Entry) Keys() store.ClientKeys {
	if e.p.rare == nil {
		return store.ClientKeys{}
	}
	return e.p.rare.keys
}

// RedirectURIs are where the authorization endpoint may send the client's
// codes. Shared: do not modify them.
func (e *Entry) RedirectURIs() []string {
	if e.p.rare == nil {
		return nil
	}
	return e.p.rare.redirectURIs
}

// Record rebuilds the client as a store.Client, less what the cache does
// not keep (creation time, secret hint, last use: the admin API reads the
// store for them). It allocates: for the paths off the request path that
// take a store.Client (the authorization endpoint, grants, the dashboard).
// Pointers in it are shared with the entry: do not modify what they point to.
func (e *Entry) Record() *store.Client {
	c := &store.Client{
		ID:         e.id,
		Name:       e.name,
		Type:       e.p.typ,
		Scopes:     e.p.scopes,
		SecretHash: e.hash,
		ExpiresAt:  e.expires,
		RateLimit:  e.p.rateLimit,
		AuthMethod: e.p.method,
	}
	if r := e.p.rare; r != nil {
		c.RevokedAt = r.revokedAt
		c.PreviousSecretHash, c.PreviousSecretExpiresAt = r.previousSecretHash, r.previousSecretExpiresAt
		c.Keys, c.RedirectURIs = r.keys, r.redirectURIs
	}
	return c
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

	shared sharedProfiles
}

// New builds a cache over load.
func New(load Loader, cfg Config) (*Cache, error) {
	cfg.setDefaults()
	items, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
		// Ristretto's doc asks for 10 counters per item, for its admission
		// policy's accuracy; that policy only decides when the cache is full
		// and the clients in use do not fit, and 10 counters cost 48 bytes a
		// cached client at a million (the count-min sketch and the bloom
		// filter), 2 cost 8. BenchmarkHitRatioZipf (10,000 entries, 100,000
		// clients): a hit ratio of 0.855 with 10, 0.831 with 2, 0.820 with 1.
		NumCounters: cfg.MaxClients * 2,
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
		// An entry past its deadline is a miss: Load replaces it.
		if e, ok := c.items.Get(id); ok && time.Now().UnixNano() < e.deadline {
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

// maxSharedProfiles bounds the distinct profiles shared; past it a fill
// keeps its own.
const maxSharedProfiles = 4096

// sharedProfiles holds one copy of each distinct profile (type, auth method,
// scopes with their boxed String(), rate limit) of the cached clients.
// Clients share a handful: at a million cached clients a copy each (the
// scope list, its strings, the joined string and its box) would be about 120
// bytes an entry.
type sharedProfiles struct {
	mu       sync.Mutex
	profiles map[profileKey]*profile
}

type profileKey struct {
	typ       store.Type
	method    store.AuthMethod
	scopes    string
	limited   bool
	rateLimit store.RateLimit
}

// entry makes the entry of c, a record the loader made for this fill alone
// (a store returns a new one each read). The entry keeps c's strings and
// time pointers, not c.
func (sh *sharedProfiles) entry(c *store.Client) *Entry {
	if c == nil {
		return &Entry{}
	}
	e := &Entry{id: c.ID, name: c.Name, hash: c.SecretHash, expires: c.ExpiresAt}
	e.p = sh.get(c)
	if c.RevokedAt != nil || c.PreviousSecretHash != nil || c.PreviousSecretExpiresAt != nil || !c.Keys.Empty() || len(c.RedirectURIs) > 0 {
		own := *e.p
		own.rare = &rare{
			revokedAt:               c.RevokedAt,
			previousSecretHash:      c.PreviousSecretHash,
			previousSecretExpiresAt: c.PreviousSecretExpiresAt,
			keys:                    c.Keys,
			redirectURIs:            c.RedirectURIs,
		}
		e.p = &own
	}
	return e
}

// get returns the shared profile of c; a nil sh shares nothing (EntryOf).
func (sh *sharedProfiles) get(c *store.Client) *profile {
	k := profileKey{typ: c.Type, method: c.AuthMethod, scopes: c.Scopes.String()}
	// The constants, not the loader's copies of them.
	switch k.typ {
	case store.TypeOAuth:
		k.typ = store.TypeOAuth
	case store.TypeAPIKey:
		k.typ = store.TypeAPIKey
	}
	switch k.method {
	case store.AuthSecretBasic:
		k.method = store.AuthSecretBasic
	case store.AuthSecretPost:
		k.method = store.AuthSecretPost
	case store.AuthPrivateKeyJWT:
		k.method = store.AuthPrivateKeyJWT
	}
	if c.RateLimit != nil {
		k.limited, k.rateLimit = true, *c.RateLimit
	}
	if sh == nil {
		return newProfile(k, c.Scopes)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if p, ok := sh.profiles[k]; ok {
		return p
	}
	p := newProfile(k, c.Scopes)
	if len(sh.profiles) < maxSharedProfiles {
		if sh.profiles == nil {
			sh.profiles = map[profileKey]*profile{}
		}
		sh.profiles[k] = p
	}
	return p
}

// newProfile makes the profile k describes; scopes is the set k.scopes is
// the String of.
func newProfile(k profileKey, scopes scope.Set) *profile {
	p := &profile{typ: k.typ, method: k.method, scopes: scopes, boxedScopes: k.scopes}
	if k.limited {
		limit := k.rateLimit
		p.rateLimit = &limit
	}
	return p
}

func (e *Entry) result() (*Entry, error) {
	if e.p == nil {
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
	e := c.shared.entry(client)
	e.deadline = time.Now().Add(ttl).UnixNano()
	if !c.trusted() {
		return e, nil // the change feed is down: answer from the store, keep nothing
	}
	c.mu.RLock()
	if c.epoch == epoch {
		c.items.Set(id, e, 1)
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
// those past their deadline included until replaced or evicted. Each entry
// costs 1, so it is the cost in use.
func (c *Cache) Len() int64 { return c.items.MaxCost() - c.items.RemainingCost() }

// Close stops the cache's goroutines.
func (c *Cache) Close() { c.items.Close() }

// Interface guards
var (
	_ store.Watcher         = (*Cache)(nil)
	_ store.CaughtUpWatcher = (*Cache)(nil)
)
