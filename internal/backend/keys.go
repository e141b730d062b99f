package backend

import "sync"

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
