// Package inflight tracks the requests a gateway instance has let through and
// not yet finished, so that a revocation ends them too: a held MCP stream or a
// long streamed response must not outlive the authority it was admitted
// under. Each request runs under a context the registry can cancel; the
// change feed reports client changes (Recheck) and token revocations
// (RevokeToken), and a sweeper ends requests whose token or client expires.
//
// The request path registers and unregisters every request, so both take one
// short shard lock and reuse pooled records; the rare events (a change, a
// revocation, a sweep) pay for scanning.
package inflight

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// Authority is what a request was admitted under and what it needed.
type Authority struct {
	ClientID string
	// JTI is the access token's ID; empty for an API key.
	JTI string
	// KID is the key that signed the access token; empty for an API key. An
	// emergency rotation revoking that key ends the request (EndKeys).
	KID string
	// Token reports an access token: its TokenScopes, narrowed to what the
	// client holds now, are what the request may use. For an API key the
	// client's scopes are.
	Token       bool
	TokenScopes scope.Set
	// TokenEnd is when the token stops being accepted (exp plus the leeway);
	// zero for an API key.
	TokenEnd time.Time
	// ClientExpires is the client's expiry; nil for none.
	ClientExpires *time.Time
	// APIKey is the API key the request presented; empty for an access
	// token. A roll of the client's secret ends the request once the key no
	// longer matches (at once, or when the roll's grace period ends).
	APIKey string
	// KeyUntil is when APIKey stops matching: the end of a roll's grace
	// period when it is the previous secret; zero otherwise.
	KeyUntil time.Time
	// Need, NeedMore and Op are what the request needed: the route's scopes,
	// the scopes of its JSON-RPC method (or none), one more scope (or "").
	Need, NeedMore scope.Set
	Op             string
}

// Flight is one registered request.
type Flight struct {
	auth     Authority
	deadline int64 // unix nanoseconds; 0: none
	cancel   context.CancelFunc
	shard    *shard
	idx      int
	ended    bool // cancelled by the registry
}

const shards = 16

type shard struct {
	mu      sync.Mutex
	flights []*Flight
}

// Registry is the set of requests in flight on this instance.
type Registry struct {
	seed   maphash.Seed
	shards [shards]shard
	pool   sync.Pool
}

// New returns an empty registry.
func New() *Registry {
	r := &Registry{seed: maphash.MakeSeed()}
	r.pool.New = func() any { return new(Flight) }
	return r
}

func (r *Registry) shard(clientID string) *shard {
	return &r.shards[maphash.String(r.seed, clientID)%shards]
}

// Start registers a request admitted under a and returns the context to run
// it under, which the registry cancels when the authority ends. The caller
// must call End when the request is done.
func (r *Registry) Start(parent context.Context, a *Authority) (context.Context, *Flight) {
	ctx, cancel := context.WithCancel(parent)
	f := r.pool.Get().(*Flight)
	f.auth, f.cancel, f.ended = *a, cancel, false
	f.deadline = f.auth.deadline()
	s := r.shard(a.ClientID)
	f.shard = s
	s.mu.Lock()
	f.idx = len(s.flights)
	s.flights = append(s.flights, f)
	s.mu.Unlock()
	return ctx, f
}

// End unregisters f and releases its context. f must not be used after.
func (r *Registry) End(f *Flight) {
	s := f.shard
	s.mu.Lock()
	last := len(s.flights) - 1
	moved := s.flights[last]
	s.flights[f.idx] = moved
	moved.idx = f.idx
	s.flights[last] = nil
	s.flights = s.flights[:last]
	s.mu.Unlock()
	f.cancel()
	f.auth, f.cancel, f.shard = Authority{}, nil, nil
	r.pool.Put(f)
}

// Ended reports whether the registry cancelled f (its authority ended), as
// opposed to the client going away. Only valid before End.
func (r *Registry) Ended(f *Flight) bool {
	f.shard.mu.Lock()
	defer f.shard.mu.Unlock()
	return f.ended
}

// deadline is when the authority ends by itself (unix nanoseconds; 0:
// never): the earliest of the token's end, the client's expiry and the end
// of the API key's grace period.
func (a *Authority) deadline() int64 {
	var d int64
	for _, t := range [...]time.Time{a.TokenEnd, a.KeyUntil} {
		if !t.IsZero() && (d == 0 || t.UnixNano() < d) {
			d = t.UnixNano()
		}
	}
	if a.ClientExpires != nil && (d == 0 || a.ClientExpires.UnixNano() < d) {
		d = a.ClientExpires.UnixNano()
	}
	return d
}

// SetNeeds records what the request needs beyond the route's scopes, known
// once its body has been judged. The request is registered before that, so
// that a revocation while the body arrives ends it too.
// It reports whether f is still going (the registry has not ended it).
func (r *Registry) SetNeeds(f *Flight, more scope.Set, op string) bool {
	f.shard.mu.Lock()
	defer f.shard.mu.Unlock()
	f.auth.NeedMore, f.auth.Op = more, op
	return !f.ended
}

// Confirm judges f against its client's record c, read after SetNeeds (a
// change applied before the needs were recorded was rechecked without them),
// and reports whether f may go on: false when the registry already ended it
// or c no longer permits it, which also ends it. checkKey asks for the API
// key to be matched against c's secrets again; the caller may skip that
// hashing when c is the very record the key was just matched against.
func (r *Registry) Confirm(f *Flight, c *clientcache.Entry, now time.Time, checkKey bool) bool {
	f.shard.mu.Lock()
	defer f.shard.mu.Unlock()
	if f.ended {
		return false
	}
	if !f.judge(c, now, checkKey) {
		f.stop()
		return false
	}
	return true
}

// judge reports whether f's authority still holds under its client's
// record c (nil: deleted or unknown), moving its deadline to c's expiry
// and, with checkKey, its API key's grace period. The caller holds f's
// shard lock.
func (f *Flight) judge(c *clientcache.Entry, now time.Time, checkKey bool) bool {
	if c == nil || !c.Active(now) || !permitted(&f.auth, c.Scopes()) {
		return false
	}
	if f.auth.APIKey != "" && checkKey {
		ok, until := c.SecretValidity(f.auth.APIKey, now)
		if !ok {
			return false
		}
		f.auth.KeyUntil = time.Time{}
		if until != nil {
			f.auth.KeyUntil = *until
		}
	}
	f.auth.ClientExpires = c.ExpiresAt()
	f.deadline = f.auth.deadline()
	return true
}

// stop cancels f; the caller holds its shard's lock.
func (f *Flight) stop() {
	if !f.ended {
		f.ended = true
		f.cancel()
	}
}

// Has reports whether any request of clientID is in flight, so that a change
// to a client nobody is using costs no store read.
func (r *Registry) Has(clientID string) bool {
	s := r.shard(clientID)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.flights {
		if f.auth.ClientID == clientID {
			return true
		}
	}
	return false
}

// Recheck judges clientID's requests in flight against its current record c
// (nil: deleted or unknown): a revoked, deleted or expired client ends them
// all; narrowed scopes end those that no longer hold what they needed; a
// rolled secret ends those made with an API key that no longer matches; a
// changed expiry or grace period moves their deadline. It returns how many
// it ended.
func (r *Registry) Recheck(clientID string, c *clientcache.Entry, now time.Time) int {
	s := r.shard(clientID)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.flights {
		if f.auth.ClientID != clientID || f.ended {
			continue
		}
		if !f.judge(c, now, true) {
			f.stop()
			n++
		}
	}
	return n
}

// permitted reports whether a request admitted under a may go on while its
// client holds granted.
func permitted(a *Authority, granted scope.Set) bool {
	if a.Token && !granted.CoversAll(a.TokenScopes) {
		granted = a.TokenScopes.Filter(granted)
	} else if a.Token {
		granted = a.TokenScopes
	}
	return granted.CoversAll(a.Need) && granted.CoversAll(a.NeedMore) && (a.Op == "" || granted.Covers(a.Op))
}

// RevokeToken ends the requests made with the access token jti of clientID.
func (r *Registry) RevokeToken(clientID, jti string) int {
	s := r.shard(clientID)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.flights {
		if f.auth.JTI == jti && f.auth.ClientID == clientID && !f.ended {
			f.stop()
			n++
		}
	}
	return n
}

// EndKeys ends the requests made with access tokens signed by one of kids
// (keys revoked, or retired, on this instance's keyring).
func (r *Registry) EndKeys(kids []string) int {
	if len(kids) == 0 {
		return 0
	}
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for _, f := range s.flights {
			if f.auth.Token && f.auth.KID != "" && !f.ended && slices.Contains(kids, f.auth.KID) {
				f.stop()
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// Len is how many requests are in flight, for metrics.
func (r *Registry) Len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.flights)
		s.mu.Unlock()
	}
	return n
}

// Clients lists the client IDs with requests in flight (each once).
func (r *Registry) Clients() []string {
	seen := map[string]bool{}
	var ids []string
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for _, f := range s.flights {
			if !seen[f.auth.ClientID] {
				seen[f.auth.ClientID] = true
				ids = append(ids, f.auth.ClientID)
			}
		}
		s.mu.Unlock()
	}
	return ids
}

// Sweep ends the requests whose token or client expired by now.
func (r *Registry) Sweep(now time.Time) int {
	t := now.UnixNano()
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for _, f := range s.flights {
			if f.deadline != 0 && f.deadline <= t && !f.ended {
				f.stop()
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// SweepInterval is how often Run looks for expired requests: a request
// outlives its token or client by at most this long.
const SweepInterval = 100 * time.Millisecond

// Run sweeps every SweepInterval until ctx ends: one ticker for all
// requests rather than a timer each, which the request path would pay for.
func (r *Registry) Run(ctx context.Context) {
	t := time.NewTicker(SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.Sweep(now)
		}
	}
}
