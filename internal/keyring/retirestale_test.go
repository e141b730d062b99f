package keyring

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// failingStore is a real store whose keyring reads can be made to fail (the
// database unreachable).
type failingStore struct {
	store.Store
	down atomic.Bool
}

func (f *failingStore) Keyring(ctx context.Context) (store.Keyring, error) {
	if f.down.Load() {
		return store.Keyring{}, errors.New("database unreachable")
	}
	return f.Store.Keyring(ctx)
}

// TestLiveRetiresWithoutStore: a replaced key retires at its retirement
// time even if the keyring cannot be read then: the JWKS stops publishing
// it (it decides by the clock), so the verifier must stop trusting it too,
// rather than trust it for as long as the database is away.
func TestLiveRetiresWithoutStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		st := &failingStore{Store: open()}
		p := Policy{Lead: 500 * time.Millisecond, Retain: time.Second}
		l, v := startLive(t, st, p)
		old := l.Signing(time.Now()).KID
		if _, err := l.Rotate(t.Context(), store.Audit{Actor: "cli"}, false); err != nil {
			t.Fatal(err)
		}
		st.down.Store(true)
		retires := time.Now().Add(p.Lead + p.Retain)
		time.Sleep(time.Until(retires))
		if !waitUntil(3*time.Second, func() bool {
			for _, k := range l.Published(time.Now()) {
				if k.KID == old {
					return false
				}
			}
			return !v.Trusts(old)
		}) {
			t.Fatalf("the retired key %s: published %v, trusted by the verifier %v", old, len(l.Published(time.Now())), v.Trusts(old))
		}
	})
}
