package keyring

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// countingStore is a real store that counts keyring reads.
type countingStore struct {
	store.Store
	reads atomic.Int64
}

func (c *countingStore) Keyring(ctx context.Context) (store.Keyring, error) {
	c.reads.Add(1)
	return c.Store.Keyring(ctx)
}

func startLive(t *testing.T, st store.Store, p Policy) (*Live, *token.Verifier) {
	t.Helper()
	o := Options{Secret: secretA, Algorithm: token.ES256, Policy: p}
	ring, err := Open(t.Context(), st, o)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(ring.Keys, "https://auth.example.com", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	l := NewLive(st, o, ring, "https://auth.example.com", time.Hour, v, nil, nil)
	t.Cleanup(l.Close)
	return l, v
}

// TestLiveUnknownKIDReloads: instance B, not told of a change (no change
// feed here), verifies a token signed by a key instance A activated a moment
// ago: the unknown kid makes it reload. A flood of made-up kids costs at
// most one keyring read per RefreshInterval.
func TestLiveUnknownKIDReloads(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		off := Policy{Lead: time.Hour}
		a, _ := startLive(t, open(), off)
		bStore := &countingStore{Store: open()}
		_, bVerifier := startLive(t, bStore, off)

		if _, err := a.Rotate(t.Context(), store.Audit{Actor: "cli"}, true); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		tok, err := a.Issue("blnk_cid_x", scope.MustParse("mcp:read"), "https://api.example.com", nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if bVerifier.Trusts(a.Signing(now).KID) {
			t.Fatal("B knew the new key already: the test would prove nothing")
		}
		if _, err := bVerifier.Verify(tok.Token, now); err != nil {
			t.Fatalf("B refused a token of the key A activated a moment ago: %v", err)
		}

		// Made-up kids from many goroutines for 2.5s.
		stranger, _ := token.GenerateKey(token.ES256)
		forged, err := (&token.Issuer{Key: stranger, Issuer: "https://auth.example.com", TTL: time.Hour}).Issue("blnk_cid_x", scope.MustParse("mcp:read"), "https://api.example.com", nil, now)
		if err != nil {
			t.Fatal(err)
		}
		before := bStore.reads.Load()
		started := time.Now()
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for time.Since(started) < 2500*time.Millisecond {
					if _, err := bVerifier.Verify(forged.Token, time.Now()); err == nil {
						t.Error("a token of an unknown key verified")
						return
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(started)
		reads := bStore.reads.Load() - before
		if max := int64(elapsed/RefreshInterval) + 2; reads > max || reads == 0 {
			t.Errorf("%d keyring reads in %s of unknown kids, want between 1 and %d", reads, elapsed, max)
		}
	})
}

// TestLiveSwitchesOnTime: a key published ahead signs from its activation
// on, without a reload, and the verifier trusted it from its publication.
func TestLiveSwitchesOnTime(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		l, v := startLive(t, open(), Policy{Lead: time.Hour})
		first := l.Signing(time.Now())
		if _, err := l.Rotate(t.Context(), store.Audit{Actor: "cli"}, false); err != nil {
			t.Fatal(err)
		}
		published := l.Published(time.Now())
		if len(published) != 2 || l.Signing(time.Now()).KID != first.KID {
			t.Fatalf("after rotate: %d published, signing %s", len(published), l.Signing(time.Now()).KID)
		}
		next := published[0]
		if !v.Trusts(next.KID) {
			t.Error("the published key is not trusted before it signs")
		}
		later := time.Now().Add(time.Hour + time.Second)
		if got := l.Signing(later); got.KID != next.KID {
			t.Errorf("signing after the lead: %s, want %s", got.KID, next.KID)
		}
		tok, err := l.Issue("blnk_cid_x", scope.MustParse("mcp:read"), "https://api.example.com", nil, later)
		if err != nil {
			t.Fatal(err)
		}
		if kid := headerKID(t, tok.Token); kid != next.KID {
			t.Errorf("token after activation signed by %s, want %s", kid, next.KID)
		}
	})
}

func headerKID(t *testing.T, tok string) string {
	t.Helper()
	head, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}
