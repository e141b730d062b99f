package keyring

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// RefreshInterval bounds how often a token with an unknown kid makes an
// instance read the keyring: anyone can send a made-up kid.
const RefreshInterval = time.Second

// backstop is how often the keyring is read even if the change feed said
// nothing (a missed notification costs at most this).
const backstop = time.Minute

// Live is the keyring one gateway config uses: it signs with the key active
// at each moment, keeps the verifier's trusted keys and the JWKS current,
// rotates on schedule (deciding inside UpdateKeyring, so instances agree),
// reloads when the change feed says the keyring changed (Changed) and, at
// most once per RefreshInterval, when a token names an unknown kid.
type Live struct {
	st       store.Store
	opts     Options
	issuer   string
	ttl      time.Duration
	verifier *token.Verifier
	log      *zap.Logger

	// removed, if not nil, is told of keys this instance trusted and no
	// longer does (revoked or retired), right after the verifier stopped
	// trusting them: requests in flight with their tokens must end.
	removed func(kids []string)

	state atomic.Pointer[liveState]
	// loadMu makes each read of the store and its install one step, so an
	// older read never replaces a newer one (a key revoked meanwhile would
	// be trusted again).
	loadMu sync.Mutex
	wake   chan struct{}
	cancel context.CancelFunc
	done   sync.WaitGroup

	flight      singleflight.Group
	refreshMu   sync.Mutex
	lastRefresh time.Time // when the last refresh started

	// feedSynced, if set, reports whether the change feed is connected: while
	// it is not, no Changed arrives, so the keyring is read every
	// RefreshInterval rather than every backstop (a key revoked elsewhere
	// would be trusted here for up to a minute).
	feedSynced atomic.Pointer[func() bool]
}

// FollowFeed tells l how to know whether the change feed is connected
// (backend.Backend.FeedSynced): while it is not, l reads the keyring every
// RefreshInterval, as the cached clients and denylist are trusted for at
// most a second without the feed.
func (l *Live) FollowFeed(synced func() bool) {
	l.feedSynced.Store(&synced)
	l.Changed()
}

// feedDown reports that FollowFeed was given and the feed is not connected.
func (l *Live) feedDown() bool {
	f := l.feedSynced.Load()
	return f != nil && !(*f)()
}

// liveState is one loaded ring with an Issuer per key (each renders its
// header once).
type liveState struct {
	ring    *Ring
	issuers map[string]*token.Issuer
	trusted []*token.Key // the verifier's keys
}

// NewLive starts a Live on ring (as Open returned it with o) for tokens of
// issuer lasting ttl, keeping verifier's keys current and telling removed
// (if not nil) of the keys it stops trusting. Close stops it.
func NewLive(st store.Store, o Options, ring *Ring, issuer string, ttl time.Duration, verifier *token.Verifier, removed func(kids []string), log *zap.Logger) *Live {
	if log == nil {
		log = zap.NewNop()
	}
	o.Now = time.Time{}
	l := &Live{st: st, opts: o, issuer: issuer, ttl: ttl, verifier: verifier, removed: removed, log: log, wake: make(chan struct{}, 1)}
	l.install(ring)
	verifier.Refresh = l.refresh
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		l.run(ctx)
	}()
	return l
}

// Close stops the schedule.
func (l *Live) Close() {
	l.cancel()
	l.done.Wait()
}

// Changed tells l that the keyring changed somewhere; it reloads soon. It
// never blocks.
func (l *Live) Changed() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *Live) install(ring *Ring) {
	prev := l.state.Load()
	st := &liveState{ring: ring, issuers: make(map[string]*token.Issuer, len(ring.Entries)), trusted: ring.TrustedAt(time.Now())}
	for i := range ring.Entries {
		k := ring.Entries[i].Key
		if prev != nil && prev.issuers[k.KID] != nil {
			st.issuers[k.KID] = prev.issuers[k.KID]
			continue
		}
		st.issuers[k.KID] = &token.Issuer{Key: k, Issuer: l.issuer, TTL: l.ttl}
	}
	l.state.Store(st)
	l.verifier.SetKeys(st.trusted)
	if prev != nil && l.removed != nil {
		var removed []string
		for _, k := range prev.trusted {
			if !slices.ContainsFunc(st.trusted, func(n *token.Key) bool { return n.KID == k.KID }) {
				removed = append(removed, k.KID)
			}
		}
		if len(removed) > 0 {
			l.removed(removed)
		}
	}
}

// Reload reads the keyring, writes what the schedule asks for now, and
// installs it.
func (l *Live) Reload(ctx context.Context) error {
	l.loadMu.Lock()
	defer l.loadMu.Unlock()
	o := l.opts
	o.Now = time.Now()
	ring, err := Open(ctx, l.st, o)
	if err != nil {
		if !l.applyStoredSchedules(ctx, o.Now) {
			// Keys retire by the clock, as the JWKS does, store or not.
			l.install(l.state.Load().ring)
		}
		return err
	}
	l.install(ring)
	return nil
}

// applyStoredSchedules, when the keyring does not open (this instance still
// has only a secret another instance replaced, during a secret change),
// applies to the loaded ring what the store says in the clear: a key
// revoked, retired, or deleted is no longer trusted here either. Nothing is
// written; a store that cannot be read leaves the ring as it is. It reports
// whether it installed a ring.
func (l *Live) applyStoredSchedules(ctx context.Context, now time.Time) (installed bool) {
	kr, err := l.st.Keyring(ctx)
	if err != nil {
		return false
	}
	stored := make(map[string]*store.SigningKey, len(kr.Keys))
	for i := range kr.Keys {
		stored[kr.Keys[i].KID] = &kr.Keys[i]
	}
	cur := l.state.Load().ring
	next := &Ring{SessionKey: cur.SessionKey, Entries: make([]Entry, 0, len(cur.Entries))}
	changed := false
	for _, e := range cur.Entries {
		sk := stored[e.Key.KID]
		switch {
		case sk == nil:
			// Its row is gone: nothing vouches for it any more.
			changed = true
			continue
		case sk.RevokedAt != nil && e.RevokedAt == nil:
			e.RevokedAt, changed = sk.RevokedAt, true
		}
		if sk.RetiresAt != nil && (e.RetiresAt == nil || sk.RetiresAt.Before(*e.RetiresAt)) {
			e.RetiresAt, changed = sk.RetiresAt, true
		}
		next.Entries = append(next.Entries, e)
	}
	if !changed {
		return false
	}
	next.Keys = next.TrustedAt(now)
	next.Signing = next.SigningAt(l.opts.Algorithm, now)
	l.log.Warn("the signing keys do not open with this instance's secret; applied the revocations and retirements stored in the clear, and signs with no key they ended")
	l.install(next)
	return true
}

func (l *Live) run(ctx context.Context) {
	retry := time.Duration(0)
	for {
		wait := backstop
		if l.feedDown() {
			wait = RefreshInterval
		}
		next := l.state.Load().ring.NextEvent(l.opts.Algorithm, l.opts.Policy, time.Now())
		switch {
		case retry > 0:
			wait = min(wait, retry)
			// A retirement is applied on time even while reloads fail
			// (Reload then recomputes the trusted keys from the loaded
			// ring); a rotation already due waits for the retry.
			if d := time.Until(next); !next.IsZero() && d > 10*time.Millisecond {
				wait = min(wait, d)
			}
		case !next.IsZero():
			wait = min(wait, time.Until(next))
		}
		timer := time.NewTimer(max(wait, 5*time.Millisecond))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-l.wake:
			timer.Stop()
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := l.Reload(rctx)
		cancel()
		switch {
		case err == nil:
			retry = 0
		case ctx.Err() != nil:
			return
		default:
			// Signing goes on with the loaded ring: a key due to activate
			// still does, on time (Issue decides by the clock).
			l.log.Warn("reloading the signing keys; retrying", zap.Error(err))
			retry = min(max(2*retry, 100*time.Millisecond), 5*time.Second)
		}
	}
}

// refresh is the verifier's Refresh: one reload shared by every caller,
// started at most once per RefreshInterval; it reports whether kid is
// trusted afterwards. A reload that started before the caller asked may
// predate the key, so the caller waits for one that started after.
func (l *Live) refresh(kid string) bool {
	ring, now := l.state.Load().ring, time.Now()
	for i := range ring.Entries {
		if e := &ring.Entries[i]; e.Key.KID == kid && !e.Trusted(now) {
			// Known, and no longer trusted here: revoked or retired for
			// good. Every client holds such tokens after an emergency
			// rotation; they need no reload, nor the wait for one.
			return false
		}
	}
	asked := time.Now()
	for range 2 {
		_, _, _ = l.flight.Do("", func() (any, error) {
			l.refreshMu.Lock()
			wait := RefreshInterval - time.Since(l.lastRefresh)
			l.refreshMu.Unlock()
			if wait > 0 {
				time.Sleep(wait)
			}
			l.refreshMu.Lock()
			l.lastRefresh = time.Now()
			l.refreshMu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := l.Reload(ctx); err != nil {
				l.log.Warn("reloading the signing keys for a token with an unknown kid", zap.Error(err))
			}
			return nil, nil
		})
		if l.verifier.Trusts(kid) {
			return true
		}
		l.refreshMu.Lock()
		fresh := !l.lastRefresh.Before(asked)
		l.refreshMu.Unlock()
		if fresh {
			return false
		}
	}
	return false
}

// ErrNoSigningKey: no key of the configured algorithm signs now (every one
// was revoked elsewhere and the reload has not made a new one yet).
var ErrNoSigningKey = token.ErrNoSigningKey

// Issue mints a token with the key active at now (see token.Issuer.Issue).
func (l *Live) Issue(clientID string, scopes scope.Set, audience string, clientExpires *time.Time, now time.Time) (token.Issued, error) {
	st := l.state.Load()
	k := st.ring.SigningAt(l.opts.Algorithm, now)
	if k == nil {
		return token.Issued{}, ErrNoSigningKey
	}
	return st.issuers[k.KID].Issue(clientID, scopes, audience, clientExpires, now)
}

// IssueFor mints a token for subject, a person the client acts for, with the
// key active at now (see token.Issuer.IssueFor).
func (l *Live) IssueFor(subject, clientID string, scopes scope.Set, audience string, clientExpires *time.Time, now time.Time) (token.Issued, error) {
	st := l.state.Load()
	k := st.ring.SigningAt(l.opts.Algorithm, now)
	if k == nil {
		return token.Issued{}, ErrNoSigningKey
	}
	return st.issuers[k.KID].IssueFor(subject, clientID, scopes, audience, clientExpires, now)
}

// Signing is the key that signs at now; nil if none.
func (l *Live) Signing(now time.Time) *token.Key {
	return l.state.Load().ring.SigningAt(l.opts.Algorithm, now)
}

// ActiveSince is when the key signing at now activated; zero if none.
func (l *Live) ActiveSince(now time.Time) time.Time {
	if e := signingAt(l.state.Load().ring.Entries, l.opts.Algorithm, now); e != nil {
		return e.ActivatesAt
	}
	return time.Time{}
}

// Published lists the keys of the JWKS at now: published, active and
// retiring ones, newest first; never a retired or revoked one.
func (l *Live) Published(now time.Time) []*token.Key {
	return l.state.Load().ring.TrustedAt(now)
}

// SessionKey is the MCP session key of the ring loaded first.
func (l *Live) SessionKey() []byte { return l.state.Load().ring.SessionKey }

// List implements Manager, from the store as it is.
func (l *Live) List(ctx context.Context) ([]KeyInfo, error) {
	if err := l.Reload(ctx); err != nil {
		return nil, err
	}
	return describe(l.state.Load().ring.Entries, time.Now()), nil
}

// Rotate implements Manager; the new ring is installed here at once, and
// other instances learn of it through the change feed.
func (l *Live) Rotate(ctx context.Context, a store.Audit, now bool) ([]KeyInfo, error) {
	l.loadMu.Lock()
	defer l.loadMu.Unlock()
	o := l.opts
	o.Audit = a
	o.Now = time.Now()
	ring, err := Rotate(ctx, l.st, o, now)
	if err != nil {
		return nil, err
	}
	l.install(ring)
	l.Changed() // the next event may be sooner now
	return describe(ring.Entries, o.Now.UTC().Truncate(time.Microsecond)), nil
}

var _ Manager = (*Live)(nil)
