// Package throttle slows down guessing of credentials (RFC 6749 §2.3.1: an
// authorization server MUST protect the endpoints that take client
// credentials against brute force). It counts failed authentications per
// source address and per client ID, and tells an endpoint, before it judges a
// credential, whether to refuse the request unjudged (429 with Retry-After).
//
// The rules, so that a third party's failures never lock the real client out:
//
//   - An address may fail AddressFailures times per Window (a token bucket
//     refilling at AddressFailures/Window); past that, every request from it
//     that presents a client credential is refused until the bucket refills.
//     IPv6 addresses count per /64, the block one subscriber usually holds.
//   - A client ID may be failed against ClientFailures times per Window, from
//     any addresses. Past that, it is refused only from addresses that failed
//     at least once within the last Window. An address with no recent failure
//     is never refused, so the client that holds the right secret keeps
//     working from its own address while its ID is under attack.
//   - Successes change nothing: an attacker cannot wash its count away with
//     a client of its own.
//
// It knows nothing about HTTP or Caddy. A nil *Throttle refuses nothing.
package throttle

import (
	"math"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of Config: an honest client that mistypes a secret a few times
// never notices; a guesser gets about one try every three seconds per address.
const (
	DefaultAddressFailures = 20
	DefaultClientFailures  = 100
	DefaultWindow          = time.Minute
	DefaultMaxKeys         = 100_000
)

// Config sets the budgets. Zero values take the defaults.
type Config struct {
	// AddressFailures is how many failed authentications one address may
	// make per Window.
	AddressFailures int
	// ClientFailures is how many failed authentications against one client
	// ID are allowed per Window before addresses that are failing are
	// refused for it.
	ClientFailures int
	// Window is the period of both budgets.
	Window time.Duration
	// MaxKeys bounds how many addresses, and how many client IDs, are
	// remembered; past it, the ones idle longest are forgotten first.
	MaxKeys int
}

func (c *Config) setDefaults() {
	if c.AddressFailures <= 0 {
		c.AddressFailures = DefaultAddressFailures
	}
	if c.ClientFailures <= 0 {
		c.ClientFailures = DefaultClientFailures
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
}

// Throttle counts failures. Make one with New; it is safe for concurrent use.
type Throttle struct {
	cfg     Config
	addrs   *table[netip.Addr]
	clients *table[string]
}

// New makes a Throttle of cfg.
func New(cfg Config) *Throttle {
	cfg.setDefaults()
	return &Throttle{
		cfg:     cfg,
		addrs:   newTable(cfg.MaxKeys, addrShard, rate.Limit(float64(cfg.AddressFailures)/cfg.Window.Seconds()), cfg.AddressFailures),
		clients: newTable(cfg.MaxKeys, stringShard, rate.Limit(float64(cfg.ClientFailures)/cfg.Window.Seconds()), cfg.ClientFailures),
	}
}

// Config is the configuration in force, defaults filled in.
func (t *Throttle) Config() Config { return t.cfg }

// Check reports whether a request from addr (an IP address, with or without
// a port) presenting a credential of clientID ("" when it names none) must be
// refused without judging the credential, and if so after how long to retry.
// It costs one map lookup for an address that never failed.
func (t *Throttle) Check(addr, clientID string, now time.Time) (retryAfter time.Duration, refused bool) {
	if t == nil {
		return 0, false
	}
	a := t.addrs.get(addrKey(addr))
	if a == nil {
		return 0, false // a clean address is never refused
	}
	if d := a.wait(now); d > 0 {
		return d, true
	}
	if clientID == "" || now.UnixNano()-a.lastFail.Load() > int64(t.cfg.Window) {
		return 0, false
	}
	if c := t.clients.get(clientID); c != nil {
		if d := c.wait(now); d > 0 {
			return d, true
		}
	}
	return 0, false
}

// Failed records a failed authentication from addr against clientID (""
// when the credential named no well-formed client ID).
func (t *Throttle) Failed(addr, clientID string, now time.Time) {
	if t == nil {
		return
	}
	a := t.addrs.getOrAdd(addrKey(addr), now)
	a.lim.AllowN(now, 1)
	a.lastFail.Store(now.UnixNano())
	if clientID != "" {
		t.clients.getOrAdd(clientID, now).lim.AllowN(now, 1)
	}
}

// Reserve is asked before a credential's judgement reads the store (a client
// ID the cache does not know): it refuses, and says after how long to retry,
// when the address's remaining failure budget is taken by judgements already
// under way, so that concurrent requests cannot each cost a store read before
// the first failure is counted. Release must follow an accepted Reserve once
// the judgement, and its Failed, is done. Reservations are only for store
// reads: a client whose entry is cached is judged without one, however many
// of its requests are in flight.
func (t *Throttle) Reserve(addr string, now time.Time) (retryAfter time.Duration, ok bool) {
	if t == nil {
		return 0, true
	}
	a := t.addrs.getOrAdd(addrKey(addr), now)
	p := a.pending.Add(1)
	if tokens := a.lim.TokensAt(now); tokens < float64(p) {
		a.pending.Add(-1)
		secs := (float64(p) - tokens) / float64(a.lim.Limit())
		return max(time.Second, time.Duration(math.Ceil(secs*float64(time.Second)))), false
	}
	return 0, true
}

// Release ends a reservation of Reserve.
func (t *Throttle) Release(addr string) {
	if t == nil {
		return
	}
	if a := t.addrs.get(addrKey(addr)); a != nil && a.pending.Add(-1) < 0 {
		a.pending.Store(0) // the entry was forgotten and made again meanwhile
	}
}

// Len is how many addresses and client IDs are remembered.
func (t *Throttle) Len() (addrs, clients int) {
	return t.addrs.len(), t.clients.len()
}

// addrKey is the key an address counts under: the address without port or
// zone, an IPv4-mapped IPv6 address as IPv4, other IPv6 addresses as their
// /64. Anything unparsable counts under the zero address.
func addrKey(s string) netip.Addr {
	// Split a port off by hand: ParseAddrPort's error on a plain address
	// would allocate on every request.
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i > 0 {
			s = s[1:i]
		}
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.LastIndexByte(s, ':') == i {
		s = s[:i] // host:port with an IPv4 address or a name
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// entry is one address's or client ID's failures.
type entry struct {
	lim      *rate.Limiter
	lastFail atomic.Int64 // unix nanoseconds of the last failure (addresses only)
	lastSeen atomic.Int64 // unix nanoseconds of the last failure counted
	pending  atomic.Int64 // judgements under way that read the store (Reserve)
}

// wait is how long until the bucket holds a whole token; 0 if it does.
func (e *entry) wait(now time.Time) time.Duration {
	tokens := e.lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	secs := (1 - tokens) / float64(e.lim.Limit())
	return time.Duration(math.Ceil(secs * float64(time.Second)))
}

const shards = 16

// table is a sharded map of entries, bounded in size.
type table[K comparable] struct {
	shards   [shards]shard[K]
	shardOf  func(K) uint32
	perShard int
	limit    rate.Limit
	burst    int
	refill   time.Duration // an entry idle this long has a full bucket again
}

type shard[K comparable] struct {
	mu sync.RWMutex
	m  map[K]*entry
}

func newTable[K comparable](max int, shardOf func(K) uint32, limit rate.Limit, burst int) *table[K] {
	t := &table[K]{shardOf: shardOf, perShard: max/shards + 1, limit: limit, burst: burst}
	t.refill = time.Duration(float64(burst) / float64(limit) * float64(time.Second))
	for i := range t.shards {
		t.shards[i].m = map[K]*entry{}
	}
	return t
}

func (t *table[K]) get(k K) *entry {
	s := &t.shards[t.shardOf(k)%shards]
	s.mu.RLock()
	e := s.m[k]
	s.mu.RUnlock()
	return e
}

func (t *table[K]) getOrAdd(k K, now time.Time) *entry {
	s := &t.shards[t.shardOf(k)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k]
	if e == nil {
		if len(s.m) >= t.perShard {
			t.evict(s, now)
		}
		e = &entry{lim: rate.NewLimiter(t.limit, t.burst)}
		s.m[k] = e
	}
	e.lastSeen.Store(now.UnixNano())
	return e
}

// evict makes room in a full shard: first every entry idle long enough to be
// back to a full budget (forgetting it changes nothing), then, if that freed
// too little, the entries idle longest among a sample.
func (t *table[K]) evict(s *shard[K], now time.Time) {
	idle := now.Add(-t.refill).UnixNano()
	for k, e := range s.m {
		if e.lastSeen.Load() < idle {
			delete(s.m, k)
		}
	}
	target := t.perShard * 7 / 8
	for len(s.m) > target {
		// Map iteration order is random: drop the oldest of a few sampled.
		var oldestK K
		oldest, n := int64(math.MaxInt64), 0
		for k, e := range s.m {
			if seen := e.lastSeen.Load(); seen < oldest {
				oldest, oldestK = seen, k
			}
			if n++; n == 8 {
				break
			}
		}
		delete(s.m, oldestK)
	}
}

func (t *table[K]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// addrShard hashes all 16 bytes: an IPv6 key is a /64 whose low half is
// zero, and the /64s of one delegation differ only in a few middle bytes.
func addrShard(a netip.Addr) uint32 {
	b := a.As16()
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

func stringShard(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}
