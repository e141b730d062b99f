// Package gateway wires the store, the client cache and the change feed into
// one Backend that a gateway process shares between config reloads.
package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/inflight"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// UsageFlushInterval is how often batched last-used times are written.
const UsageFlushInterval = 5 * time.Second

// Backend is a store with its cache kept current by the store's change feed.
type Backend struct {
	Store   store.Store
	Clients *clientcache.Cache
	// Revoked holds the jtis of single access tokens revoked before expiry.
	Revoked *Denylist
	// Flights are the requests let through and not yet finished; the change
	// feed ends those whose client or token loses its authority.
	Flights *inflight.Registry

	log    *zap.Logger
	cancel context.CancelFunc
	done   sync.WaitGroup

	usageMu sync.Mutex
	usage   map[string]time.Time
}

// New starts following st's changes into a new cache. Close stops it.
func New(st store.Store, cacheCfg clientcache.Config, log *zap.Logger) (*Backend, error) {
	cache, err := clientcache.New(st.GetClient, cacheCfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Backend{Store: st, Clients: cache, Revoked: &Denylist{}, Flights: inflight.New(), log: log, cancel: cancel, usage: map[string]time.Time{}}
	// Revocations made before this instance started, before it serves.
	lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
	err = b.loadRevoked(lctx)
	lcancel()
	if err != nil {
		cancel()
		cache.Close()
		return nil, err
	}
	b.done.Add(3)
	go func() {
		defer b.done.Done()
		b.Flights.Run(ctx)
	}()
	go func() {
		defer b.done.Done()
		_ = st.Follow(ctx, &feedWatcher{Watcher: cache, log: log, backend: b})
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

// RecordUse notes that a client was used; cheap enough for every request
// since the entry lets through one call per second.
func (b *Backend) RecordUse(e *clientcache.Entry, now time.Time) {
	if !e.MarkUsed(now) {
		return
	}
	b.usageMu.Lock()
	b.usage[e.Client.ID] = now
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
}

// Changed passes client changes to the cache and token revocations to the
// denylist.
func (f *feedWatcher) Changed(c store.Change) {
	if c.JTI != "" {
		// The change does not carry the token's expiry; the longest a token can
		// live bounds the entry, and a restart reloads exact expiries.
		f.backend.Revoked.Add(c.JTI, time.Now().Add(MaxTokenLifetime))
		f.backend.Flights.RevokeToken(c.ClientID, c.JTI)
		return
	}
	f.Watcher.Changed(c)
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
		var c *store.Client
		switch {
		case err == nil:
			c = e.Client
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

func (f *feedWatcher) Synced(ok bool) {
	if ok != f.synced {
		if ok {
			f.log.Debug("change feed connected")
		} else {
			f.log.Warn("change feed lost its database connection; reconnecting, cached clients are trusted for at most 1s")
		}
	}
	f.synced = ok
	f.Watcher.Synced(ok)
}

func (f *feedWatcher) Reset() {
	f.log.Warn("change feed was away longer than the change log keeps; cleared the client cache")
	f.Watcher.Reset()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.backend.loadRevoked(ctx); err != nil {
		f.log.Warn("reloading revoked tokens", zap.Error(err))
	}
	// Any client may have changed unseen (loadRevoked ended the requests of
	// tokens revoked unseen).
	for _, id := range f.backend.Flights.Clients() {
		f.backend.recheck(id)
	}

}
