package backend

import (
	"sync"

	"go.uber.org/zap"
)

// keyWatchers are told that the keyring changed somewhere (a change of kind
// keys on the feed) or may have changed unseen (the feed was lost or reset).
type keyWatchers struct {
	mu   sync.Mutex
	next int
	fns  map[int]func()
}

// OnKeysChanged calls f, on the change feed's goroutine, whenever the
// keyring changed on any instance, or may have while the feed was away; f
// must not block (signal a channel). stop unregisters it.
func (b *Backend) OnKeysChanged(f func()) (stop func()) {
	w := &b.keys
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fns == nil {
		w.fns = map[int]func(){}
	}
	id := w.next
	w.next++
	w.fns[id] = f
	return func() {
		w.mu.Lock()
		delete(w.fns, id)
		w.mu.Unlock()
	}
}

func (b *Backend) keysChanged() {
	w := &b.keys
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.fns {
		f()
	}
}

// KeysRemoved applies at once, on this instance, that its keyring stopped
// trusting kids (an emergency rotation revoked them, or they retired): the
// requests in flight with tokens they signed end. Counted as a change, so a
// request judged before the verifier dropped them and registered after this
// scan is judged again (see Backend.changes).
func (b *Backend) KeysRemoved(kids []string) {
	b.changes.Add(1)
	if n := b.Flights.EndKeys(kids); n > 0 {
		b.log.Debug("ended requests in flight of signing keys no longer trusted", zap.Strings("kids", kids), zap.Int("requests", n))
	}
}
