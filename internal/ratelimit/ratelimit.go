// Package ratelimit enforces request rate limits per key (a client ID): a
// token bucket per key (golang.org/x/time/rate) in a bounded, sharded table,
// and the IETF RateLimit header fields of a refusal
// (draft-ietf-httpapi-ratelimit-headers). A key's limit may change from one
// request to the next (a client's limit was edited): the bucket takes the new
// rate and burst at once, keeping the tokens it has.
//
// Buckets live in memory, per instance: N instances allow N times the rate.
// A bucket idle long enough to be full again is forgotten (forgetting it
// changes nothing), so memory follows the keys in use.
//
// It knows nothing about Caddy.
package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a rate: on average Requests per Per, in bursts of up to Burst.
// Its fields are those of store.RateLimit, so one converts to the other.
type Limit struct {
	Requests int
	Per      time.Duration
	Burst    int
}

func (l Limit) rate() rate.Limit { return rate.Limit(float64(l.Requests) / l.Per.Seconds()) }

// Stricter reports whether l allows fewer requests over time than o.
func (l Limit) Stricter(o Limit) bool {
	return float64(l.Requests)/l.Per.Seconds() < float64(o.Requests)/o.Per.Seconds()
}

// DefaultMaxKeys bounds a Limiters' buckets unless told otherwise.
const DefaultMaxKeys = 100_000

// Limiters holds a token bucket per key. Make it with New; safe for
// concurrent use.
type Limiters struct {
	shards   [shards]shard
	perShard int
}

const (
	shards        = 16
	sweepInterval = time.Minute
)

type shard struct {
	mu        sync.RWMutex
	m         map[string]*bucket
	nextSweep int64 // unix nanoseconds
}

type bucket struct {
	lim      *rate.Limiter
	limit    Limit        // what lim was set to; changed under the shard's write lock
	lastSeen atomic.Int64 // unix nanoseconds
}

// New makes Limiters holding at most maxKeys buckets (0: DefaultMaxKeys).
func New(maxKeys int) *Limiters {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	ls := &Limiters{perShard: maxKeys/shards + 1}
	for i := range ls.shards {
		ls.shards[i].m = map[string]*bucket{}
	}
	return ls
}

// Allow takes one request for key under l at now. When refused, retryAfter
// is how long until the bucket has a request again. With a bucket in place
// it neither allocates nor takes a write lock.
func (ls *Limiters) Allow(key string, l Limit, now time.Time) (ok bool, retryAfter time.Duration) {
	b := ls.bucket(key, l, now)
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	return false, wait(b.lim, now)
}

// Wait is how long key would wait under l for its next request at now,
// without taking one: 0 when it could go now.
func (ls *Limiters) Wait(key string, l Limit, now time.Time) time.Duration {
	return wait(ls.bucket(key, l, now).lim, now)
}

func wait(lim *rate.Limiter, now time.Time) time.Duration {
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) / float64(lim.Limit()) * float64(time.Second)))
}

// bucket finds key's bucket, set to l, making it if needed.
func (ls *Limiters) bucket(key string, l Limit, now time.Time) *bucket {
	s := &ls.shards[shardOf(key)]
	s.mu.RLock()
	b := s.m[key]
	current := b != nil && b.limit == l
	s.mu.RUnlock()
	if !current {
		s.mu.Lock()
		if b = s.m[key]; b == nil {
			ls.makeRoom(s, now)
			b = &bucket{lim: rate.NewLimiter(l.rate(), l.Burst), limit: l}
			s.m[key] = b
		} else if b.limit != l {
			// The limit changed: the new rate and burst apply from now on.
			b.lim.SetLimitAt(now, l.rate())
			b.lim.SetBurstAt(now, l.Burst)
			b.limit = l
		}
		s.mu.Unlock()
	}
	b.lastSeen.Store(now.UnixNano())
	return b
}

// makeRoom runs with s locked, before a bucket is added: at most once a
// minute, or when s is full, it forgets every bucket that is full again (as
// if new); if s is still full, it forgets the idlest of a few sampled.
func (ls *Limiters) makeRoom(s *shard, now time.Time) {
	n := now.UnixNano()
	if n < s.nextSweep && len(s.m) < ls.perShard {
		return
	}
	s.nextSweep = n + int64(sweepInterval)
	for k, b := range s.m {
		if b.lim.TokensAt(now) >= float64(b.limit.Burst) {
			delete(s.m, k)
		}
	}
	for len(s.m) >= ls.perShard {
		var idlest string
		oldest, i := int64(math.MaxInt64), 0
		for k, b := range s.m {
			if seen := b.lastSeen.Load(); seen < oldest {
				oldest, idlest = seen, k
			}
			if i++; i == 8 {
				break
			}
		}
		delete(s.m, idlest)
	}
}

// Len is how many buckets are held.
func (ls *Limiters) Len() int {
	n := 0
	for i := range ls.shards {
		s := &ls.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

func shardOf(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h % shards
}

// SetHeaders puts on a 429 the fields a client needs to slow down: the
// policy refused (RateLimit-Policy: "<name>";q=<requests>;w=<seconds>), its
// state (RateLimit: "<name>";r=0;t=<seconds until one request>) and
// Retry-After (RFC 9110 §10.2.3), in whole seconds rounded up.
func SetHeaders(h http.Header, name string, l Limit, retryAfter time.Duration) {
	secs := int64((retryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	t := strconv.FormatInt(secs, 10)
	h.Set("RateLimit-Policy", `"`+name+`";q=`+strconv.Itoa(l.Requests)+`;w=`+strconv.FormatInt(int64(l.Per/time.Second), 10))
	h.Set("RateLimit", `"`+name+`";r=0;t=`+t)
	h.Set("Retry-After", t)
}
