package backend

import (
	"sync"
	"sync/atomic"
	"time"
)

// MaxTokenLifetime bounds any access token's life (token_ttl is at most 24h).
const MaxTokenLifetime = 24 * time.Hour

// Denylist is the set of revoked access-token IDs (jti), each kept until the
// token would have expired anyway. Lookups take no lock and allocate nothing.
type Denylist struct {
	m    sync.Map     // jti → expiry (time.Time)
	n    atomic.Int64 // entries: lets the common case, none, skip the map
	adds atomic.Int64 // every 1024th Add prunes
}

// Add denies jti until expires.
func (d *Denylist) Add(jti string, expires time.Time) {
	if _, loaded := d.m.Swap(jti, expires); !loaded {
		d.n.Add(1)
	}
	if d.adds.Add(1)%1024 == 0 {
		d.Prune(time.Now())
	}
}

// Len is how many revoked tokens are held.
func (d *Denylist) Len() int64 { return d.n.Load() }

// Has reports whether jti is revoked.
func (d *Denylist) Has(jti string) bool {
	if d.n.Load() == 0 {
		return false
	}
	_, ok := d.m.Load(jti)
	return ok
}

// Prune forgets entries whose token has expired.
func (d *Denylist) Prune(now time.Time) {
	d.m.Range(func(k, v any) bool {
		if !now.Before(v.(time.Time)) {
			if _, deleted := d.m.LoadAndDelete(k); deleted {
				d.n.Add(-1)
			}
		}
		return true
	})
}
