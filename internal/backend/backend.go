// Package backend holds what a gateway process knows and shares between
// config reloads: the store, the client cache and the token denylist kept
// current by the store's change feed, and the requests in flight that the
// feed ends when their authority ends. It owns the state changes a request
// makes here and their local effects (a token revoked, a client changed), so
// that no handler does them step by step.
package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/inflight"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// UsageFlushInterval is how often batched last-used times are written.
const UsageFlushInterval = 5 * time.Second

// afterInitialLoad, when set (by tests only, before New), runs on the change
// feed's goroutine right after the denylist's first load from the store,
// before the denylist is trusted. A token revoked from that moment on must
// still reach the denylist; the hook lets a test revoke one exactly in that
// gap instead of hoping to hit it.
var afterInitialLoad func()

// maxNotRevoked bounds how many "not revoked" answers of the store are kept
// while the change feed is not synced; past it the oldest are dropped.
const maxNotRevoked = 100_000

// Backend is a store with its cache kept current by the store's change feed.
type Backend struct {
	Store   store.Store
	Clients *clientcache.Cache
	// Revoked holds the jtis of single access tokens revoked before expiry.
	Revoked *Denylist
	// Flights are the requests let through and not yet finished; the change
	// feed ends those whose client or token loses its authority.
	Flights *inflight.Registry

	// changes counts what the change feed applied (a client change, a token
	// revocation, a reset), each counted after it reached the cache or the
	// denylist and before the requests in flight are rechecked for it: a
	// request that reads the same count before its credential is judged and
	// after it is registered in flight with all it needs judged against
	// every change made so far, and is rechecked for every later one.
	changes atomic.Uint64
	// feedLosses counts lost change-feed connections.
	feedLosses atomic.Uint64
	// keys are told of keyring changes (keys.go).
	keys keyWatchers
	// Metrics measure the store's calls and the change feed's lag.
	Metrics *Metrics
	lag     *lagMeter

	log    *zap.Logger
	cancel context.CancelFunc
	done   sync.WaitGroup

	usageMu sync.Mutex
	usage   map[string]time.Time

	ctx context.Context // ends at Close
	// revokedSynced: Revoked holds every token revoked so far, because it was
	// loaded after the change feed took its position and the feed is
	// connected. Only then may a jti missing from it pass without asking the
	// store.
	revokedSynced atomic.Bool
	// revokedLostAt is when the feed was lost (unix nanoseconds), 0 before the
	// first load: for maxUnsynced after a loss the denylist is still trusted,
	// as cached clients are.
	revokedLostAt atomic.Int64
	maxUnsynced   time.Duration // as clientcache.Config.MaxUnsynced
	lookupTimeout time.Duration // as clientcache.Config.LoadTimeout
	lookups       singleflight.Group
	// notRevoked holds the store's recent "not revoked" answers (jti → when
	// asked), kept for maxUnsynced, so that a feed outage costs one read per
	// token per interval, not one per request.
	notRevokedMu sync.Mutex
	notRevoked   map[string]time.Time

	// Ready's last answer from the store; pingMu also makes concurrent
	// probes wait for one query instead of each sending their own.
	pingMu  sync.Mutex
	pingAt  time.Time
	pingErr error
}

// New starts following st's changes into a new cache. Close stops it.
//
// The denylist is loaded once the change feed reports its first sync, that
// is after the feed took its position in the change log: a token revoked
// before that moment is in the load, one revoked after it reaches the feed.
// Until then TokenRevoked asks the store, so nothing passes unchecked.
func New(st store.Store, cacheCfg clientcache.Config, log *zap.Logger) (*Backend, error) {
	m := newMetrics()
	timed := timedStore{Store: st, m: m}
	cache, err := clientcache.New(timed.GetClient, cacheCfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Backend{
		Store: timed, Clients: cache, Metrics: m, lag: &lagMeter{hist: m.FeedLag}, Revoked: &Denylist{}, Flights: inflight.New(), log: log, cancel: cancel, usage: map[string]time.Time{},
		ctx: ctx, maxUnsynced: cacheCfg.MaxUnsynced, lookupTimeout: cacheCfg.LoadTimeout, notRevoked: map[string]time.Time{},
	}
	if f, ok := st.(interface{ FollowFallback() string }); ok && f.FollowFallback() != "" {
		log.Warn("the change feed polls the change log: " + f.FollowFallback() + "; say so with change_feed poll <interval> to skip this check at start")
	}
	// The same defaults as the client cache's: the denylist is trusted exactly
	// as long as cached clients are.
	if b.maxUnsynced <= 0 {
		b.maxUnsynced = time.Second
	}
	if b.lookupTimeout <= 0 {
		b.lookupTimeout = 5 * time.Second
	}
	b.done.Add(4)
	go func() {
		defer b.done.Done()
		b.Flights.Run(ctx)
	}()
	go func() {
		defer b.done.Done()
		b.lag.run(ctx, timed)
	}()
	go func() {
		defer b.done.Done()
		_ = st.Follow(ctx, &feedWatcher{Watcher: cache, log: log, backend: b, load: true})
	}()
	go func() {
		defer b.done.Done()
		t := time.NewTicker(UsageFlushInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				b.FlushUsage(ctx)
			}
		}
	}()
	return b, nil
}

// Errors of Ready. They name what is missing and never the database's own
// error, which may carry its address.
var (
	ErrStoreDown     = errors.New("the database does not answer")
	ErrFeedNotSynced = errors.New("the change feed is not connected and synced: revocations made elsewhere may not have arrived")
)

// pingInterval bounds how often Ready asks the database: probes, however
// frequent or hostile, cost it at most one query a second per instance.
const pingInterval = time.Second

// Ready reports whether this instance decides as a fully synced one would:
// the store answers (asked at most once per pingInterval) and the change
// feed is connected with the token denylist loaded. Otherwise it returns
// ErrStoreDown or ErrFeedNotSynced.
func (b *Backend) Ready(ctx context.Context) error {
	if !b.FeedSynced() {
		return ErrFeedNotSynced
	}
	b.pingMu.Lock()
	if time.Since(b.pingAt) >= pingInterval {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		b.pingErr = b.Store.Ping(pctx)
		cancel()
		b.pingAt = time.Now()
		if b.pingErr != nil {
			b.log.Debug("readiness: the database does not answer", zap.Error(b.pingErr))
		}
	}
	err := b.pingErr
	b.pingMu.Unlock()
	if err != nil {
		return ErrStoreDown
	}
	return nil
}

// RevokeToken revokes one access token (RFC 7009) everywhere: the store
// records it, which every other instance learns through the change feed, and
// this instance applies it at once, without that round trip: the denylist
// refuses the token from now on and the requests it is carrying end.
// Revoking a token already revoked changes nothing. An error means nothing
// was recorded.
func (b *Backend) RevokeToken(ctx context.Context, t store.RevokedToken) error {
	if b.Revoked.Has(t.JTI) {
		return nil
	}
	if err := b.Store.RevokeToken(ctx, t); err != nil {
		return err
	}
	b.Revoked.Add(t.JTI, t.ExpiresAt)
	// Counted as the change feed counts what it applies: a request judged
	// before the denylist held the token but registered after the recheck
	// below then sees the count move and is judged again (see changes).
	b.changes.Add(1)
	b.Flights.RevokeToken(t.ClientID, t.JTI)
	return nil
}

// ClientChanged applies at once, on this instance, a change it made to
// client id in the store (revoked, deleted, narrowed, rolled): the cached
// entry goes, so the next request reads the client as it is now. Other
// instances, and this one's requests in flight, learn of it through the
// change feed.
func (b *Backend) ClientChanged(id string) { b.Clients.Invalidate(id) }

// TokenRevoked reports whether the access token jti is revoked. While the
// change feed is synced the denylist answers alone, without locking or
// allocating; otherwise (before the first load, or after the feed was lost
// for longer than cached clients are trusted) a jti not on it is looked up in
// the store. An error means the store could not answer: the caller must
// refuse (503), never let the token pass.
func (b *Backend) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	if b.Revoked.Has(jti) {
		return true, nil
	}
	if b.revokedSynced.Load() {
		return false, nil
	}
	return b.lookupRevoked(ctx, jti)
}

// lookupRevoked is TokenRevoked's answer while the change feed is not synced.
func (b *Backend) lookupRevoked(ctx context.Context, jti string) (bool, error) {
	now := time.Now()
	if lost := b.revokedLostAt.Load(); lost != 0 && now.UnixNano()-lost < int64(b.maxUnsynced) {
		return false, nil // a blip: trusted for as long as cached clients are
	}
	b.notRevokedMu.Lock()
	asked, ok := b.notRevoked[jti]
	b.notRevokedMu.Unlock()
	if ok && now.Sub(asked) < b.maxUnsynced {
		return false, nil
	}
	v, err, _ := b.lookups.Do(jti, func() (any, error) {
		// One caller's cancellation must not fail the others sharing the read.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.lookupTimeout)
		defer cancel()
		asked := time.Now()
		revoked, err := b.Store.TokenRevoked(lctx, jti)
		if err != nil {
			return false, fmt.Errorf("%w: %v", clientcache.ErrUnavailable, err)
		}
		if revoked {
			// Its expiry is not at hand; the longest a token lives bounds it.
			b.Revoked.Add(jti, asked.Add(MaxTokenLifetime))
			return true, nil
		}
		b.notRevokedMu.Lock()
		if len(b.notRevoked) >= maxNotRevoked {
			clear(b.notRevoked) // an outage with that many live tokens: start over
		}
		b.notRevoked[jti] = asked
		b.notRevokedMu.Unlock()
		return false, nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// setRevokedSynced records whether the denylist is complete and kept current;
// lost is when it was last known to be (for ok false).
func (b *Backend) setRevokedSynced(ok bool, lost time.Time) {
	if !ok && b.revokedSynced.Load() {
		b.revokedLostAt.Store(lost.UnixNano())
	}
	if ok {
		b.notRevokedMu.Lock()
		clear(b.notRevoked)
		b.notRevokedMu.Unlock()
	}
	b.revokedSynced.Store(ok)
}

func (b *Backend) loadRevoked(ctx context.Context) error {
	toks, err := b.Store.RevokedTokens(ctx, time.Now())
	if err != nil {
		return err
	}
	for _, t := range toks {
		b.Revoked.Add(t.JTI, t.ExpiresAt)
		b.Flights.RevokeToken(t.ClientID, t.JTI)
	}
	return nil
}

// Changes is the number of changes the feed has applied so far; see
// Backend.changes.
func (b *Backend) Changes() uint64 { return b.changes.Load() }

// FeedSynced reports whether the change feed is connected with the token
// denylist loaded: every revocation made anywhere reaches this instance.
func (b *Backend) FeedSynced() bool { return b.revokedSynced.Load() }

// FeedLosses counts the times the change feed lost its connection, for
// metrics: each one is a window in which revocations made elsewhere arrive
// late.
func (b *Backend) FeedLosses() uint64 { return b.feedLosses.Load() }

// RecordUse notes that a client was used; cheap enough for every request
// since the entry lets through one call per second.
func (b *Backend) RecordUse(e *clientcache.Entry, now time.Time) {
	if !e.MarkUsed(now) {
		return
	}
	b.usageMu.Lock()
	b.usage[e.ID()] = now
	b.usageMu.Unlock()
}

// FlushUsage writes the batched last-used times in one statement.
func (b *Backend) FlushUsage(ctx context.Context) {
	b.usageMu.Lock()
	batch := b.usage
	if len(batch) == 0 {
		b.usageMu.Unlock()
		return
	}
	b.usage = make(map[string]time.Time, len(batch))
	b.usageMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Store.TouchLastUsed(ctx, batch); err != nil {
		b.log.Warn("recording last use of clients", zap.Int("clients", len(batch)), zap.Error(err))
	}
}

// Close stops the change feed, writes pending usage and closes the store.
func (b *Backend) Close() {
	b.cancel()
	b.done.Wait()
	b.FlushUsage(context.Background())
	b.Clients.Close()
	b.Store.Close()
}

// feedWatcher is what the change feed reports to: client changes go to the
// cache, token revocations to the denylist, connection changes to the log.
type feedWatcher struct {
	store.Watcher
	log     *zap.Logger
	backend *Backend
	synced  bool
	// caughtUpAt: from the follower's CaughtUpAt, for the next loss.
	caughtUpAt time.Time
	// load: the denylist must be read from the store before it is trusted;
	// set at start and by Reset.
	load    bool
	started bool // the first load is done
	// newest is the highest change ID applied, so that a change replayed
	// again is not measured again.
	newest int64
	// lost: the feed was synced and lost its connection since.
	lost bool
}

// Changed passes client changes to the cache and token revocations to the
// denylist.
func (f *feedWatcher) Changed(c store.Change) {
	if c.ID > f.newest {
		// Measured once: a replay after a reconnection re-reads changes
		// already applied, whose age is no lag.
		f.newest = c.ID
		defer func() { f.backend.lag.applied(c.ID, time.Now()) }() // once applied
	}
	if c.Kind == store.ChangeKeys {
		f.backend.keysChanged()
		return
	}
	if c.JTI != "" {
		// The change does not carry the token's expiry; the longest a token can
		// live bounds the entry, and a restart reloads exact expiries.
		f.backend.Revoked.Add(c.JTI, time.Now().Add(MaxTokenLifetime))
		f.backend.changes.Add(1)
		f.backend.Flights.RevokeToken(c.ClientID, c.JTI)
		return
	}
	f.Watcher.Changed(c)
	f.backend.changes.Add(1)
	f.backend.recheck(c.ClientID)
}

// recheck judges a changed client's requests in flight against its new
// record, off the feed's goroutine: reading the record must not hold up the
// changes behind it. Each recheck reads the store after its change was
// applied to the cache, so the last one to read sees the last state; and
// since a recheck only ever ends requests, an earlier one finishing later
// cannot undo it. Called only from the feed's goroutine, which b.done counts.
func (b *Backend) recheck(id string) {
	if !b.Flights.Has(id) {
		return
	}
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e, err := b.Clients.Get(ctx, id)
		var c *clientcache.Entry
		switch {
		case err == nil:
			c = e
		case !errors.Is(err, store.ErrNotFound):
			// Unknown state: end them, as a new request would be refused (503)
			// rather than let through.
			b.log.Warn("cannot read a changed client; ending its requests in flight", zap.String("client_id", id), zap.Error(err))
		}
		if n := b.Flights.Recheck(id, c, time.Now()); n > 0 {
			b.log.Debug("ended requests in flight", zap.String("client_id", id), zap.Int("requests", n))
		}
	}()
}

// Synced loads the denylist when it must be (the feed has taken its position,
// so nothing revoked from here on is missed) before trusting it again.
func (f *feedWatcher) Synced(ok bool) {
	if ok && f.load && !f.loadRevoked() {
		return // Close: the feed is ending
	}
	if ok != f.synced {
		if ok {
			// Replayed changes tell of key changes made meanwhile; a reload
			// costs little and also covers a log pruned past this instance.
			f.backend.keysChanged()
			f.log.Debug("change feed connected")
			if f.lost {
				f.lost = false
				f.backend.Metrics.FeedReconnects.Inc()
			}
		} else {
			f.lost = true
			f.backend.feedLosses.Add(1)
			f.log.Warn("change feed lost its database connection; reconnecting: cached clients and the token denylist are trusted for at most max_stale, then requests that need the database get 503",
				zap.Duration("max_stale", f.backend.maxUnsynced))
		}
	}
	lostAt := time.Now()
	if !f.caughtUpAt.IsZero() && f.caughtUpAt.Before(lostAt) {
		lostAt = f.caughtUpAt
	}
	f.caughtUpAt = time.Time{}
	lost := f.synced && !ok
	f.synced = ok
	f.backend.setRevokedSynced(ok, lostAt)
	if lost {
		// The keyring's watchers read it every second while the feed is
		// away (keyring.Live.FollowFeed): waking them once it is marked lost
		// starts that now, not at their next backstop.
		f.backend.keysChanged()
	}
	f.Watcher.Synced(ok)
}

// CaughtUpAt implements store.CaughtUpWatcher: the loss the follower is about
// to report counts from t, for the denylist as for cached clients.
func (f *feedWatcher) CaughtUpAt(t time.Time) {
	f.caughtUpAt = t
	if w, ok := f.Watcher.(store.CaughtUpWatcher); ok {
		w.CaughtUpAt(t)
	}
}

// loadRevoked reads the denylist from the store, retrying until it works or
// the backend closes (false). The feed waits meanwhile; its changes wait in
// the log or the connection, and TokenRevoked asks the store.
func (f *feedWatcher) loadRevoked() bool {
	ctx := f.backend.ctx
	backoff := 50 * time.Millisecond
	for {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := f.backend.loadRevoked(lctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		f.log.Warn("loading revoked tokens; until it works they are looked up in the database", zap.Error(err))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	f.load = false
	if !f.started {
		f.started = true
		if afterInitialLoad != nil {
			afterInitialLoad()
		}
	}
	return true
}

// Reset: changes may have been missed for good, so the denylist is read
// again before it is trusted, at the next Synced(true).
func (f *feedWatcher) Reset() {
	f.log.Warn("change feed was away longer than the change log keeps; cleared the client cache")
	f.Watcher.Reset()
	f.backend.changes.Add(1)
	f.backend.keysChanged()
	f.load = true
	// Any client may have changed unseen (the denylist reload at the next sync
	// ends the requests of tokens revoked unseen).
	for _, id := range f.backend.Flights.Clients() {
		f.backend.recheck(id)
	}
}
