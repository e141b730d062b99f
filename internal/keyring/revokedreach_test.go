package keyring

import (
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// waitUntil polls cond for at most d; it reports whether cond held.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// TestLiveFeedLostRevocationArrives: instance B's change feed is down (its
// database pool is not), and instance A makes an emergency rotation. B must
// stop trusting the revoked key within about RefreshInterval, as it stops
// trusting its cached clients and denylist after 1s without the feed; it
// may not wait for the one-minute backstop.
func TestLiveFeedLostRevocationArrives(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		off := Policy{Lead: time.Hour}
		a, _ := startLive(t, open(), off)
		b, bVerifier := startLive(t, open(), off)
		b.FollowFeed(func() bool { return false }) // the feed is lost, and no Changed comes
		old := b.Signing(time.Now()).KID
		if !bVerifier.Trusts(old) {
			t.Fatal("B does not trust its own signing key")
		}
		if _, err := a.Rotate(t.Context(), store.Audit{Actor: "cli"}, true); err != nil {
			t.Fatal(err)
		}
		if !waitUntil(5*time.Second, func() bool { return !bVerifier.Trusts(old) }) {
			t.Fatalf("B, its change feed lost, still trusts the key %s revoked 5s ago (it waits for the %s backstop)", old, backstop)
		}
	})
}

// TestLiveOldSecretStillRevokes: during a secret change (secret_previous),
// an instance still running with the old secret alone can no longer open the
// keyring once another instance resealed it. A revocation is stored in the
// clear, so it must still reach that instance: an emergency rotation made
// because the old secret leaked must not leave one instance trusting the
// revoked key until it restarts.
func TestLiveOldSecretStillRevokes(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		off := Policy{Lead: time.Hour}
		b, bVerifier := startLive(t, open(), off) // secretA, the old secret
		old := b.Signing(time.Now()).KID

		// Instance A starts with the new secret and the old one as previous:
		// it reseals the keyring under secretB.
		st := open()
		o := Options{Secret: secretB, Previous: []string{secretA}, Algorithm: token.ES256, Policy: off}
		ring, err := Open(t.Context(), st, o)
		if err != nil {
			t.Fatal(err)
		}
		if !ring.Resealed {
			t.Fatal("the keyring was not resealed: the test would prove nothing")
		}
		if _, err := Rotate(t.Context(), st, Options{Secret: secretB, Algorithm: token.ES256, Policy: off}, true); err != nil {
			t.Fatal(err)
		}
		b.Changed() // the change feed delivers
		if !waitUntil(5*time.Second, func() bool { return !bVerifier.Trusts(old) }) {
			t.Fatalf("B, still on the old secret, trusts the revoked key %s", old)
		}
		if got := b.Published(time.Now()); len(got) != 0 {
			t.Errorf("B's JWKS still publishes %d keys, the revoked one included", len(got))
		}
	})
}

// TestLiveRevokedKIDNoReload: after an emergency rotation every client
// still holds tokens of the revoked key. Their kid is one this instance
// knows it stopped trusting: refused at once, without the unknown-kid
// reload (a keyring read, and a wait of up to RefreshInterval per request).
func TestLiveRevokedKIDNoReload(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		off := Policy{Lead: time.Hour}
		bStore := &countingStore{Store: open()}
		b, bVerifier := startLive(t, bStore, off)
		now := time.Now()
		old, err := b.Issue("blnk_cid_x", scope.MustParse("mcp:read"), "https://api.example.com", nil, now)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := startLive(t, open(), off)
		if _, err := a.Rotate(t.Context(), store.Audit{Actor: "cli"}, true); err != nil {
			t.Fatal(err)
		}
		if err := b.Reload(t.Context()); err != nil { // the change feed delivers
			t.Fatal(err)
		}
		before := bStore.reads.Load()
		for range 3 {
			if _, err := bVerifier.Verify(old.Token, time.Now()); err == nil {
				t.Fatal("a token of the revoked key verified")
			}
		}
		if reads := bStore.reads.Load() - before; reads != 0 {
			t.Errorf("%d keyring reads for tokens of a key known revoked, want 0", reads)
		}
	})
}
