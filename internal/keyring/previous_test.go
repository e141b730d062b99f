package keyring

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

const secretC = "Hx7Lm2Qp9Vw4Rt6Yk1Nb8Zc3Fd5Gs0Aj2Ue7Io4Pl9="

// TestSecretPrevious (issue #13's secret_previous, on #15's format): an
// instance given a new secret and the old one as secret_previous seals the
// stored keys (and the session key) again under the new secret, in one
// transaction; the keys themselves do not change, so tokens issued before
// keep working, and so do instances still running with the keys in memory.
// From then on the new secret alone opens them and the old one alone does
// not; secrets that open nothing change nothing.
func TestSecretPrevious(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		// Instance A starts with the old secret, and issues a token.
		a := load(t, open(), secretA, token.ES256)
		issued, err := (&token.Issuer{Key: a.Signing, Issuer: testIssuer, TTL: time.Hour}).Issue("blnk_cid_x", testScopes, testAudience, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		before := storedKeys(t, open())

		// Neither secret opens anything: refused, nothing written.
		if _, err := Load(t.Context(), open(), secretC, token.ES256, secretB); err == nil || !strings.Contains(err.Error(), a.Signing.KID) {
			t.Fatalf("unrelated secrets: %v, want a refusal naming %s", err, a.Signing.KID)
		}
		// A weak new secret is refused even though the previous one opens.
		if _, err := Load(t.Context(), open(), strings.Repeat("ab", 20), token.ES256, secretA); err == nil || !strings.Contains(err.Error(), "openssl rand") {
			t.Fatalf("weak new secret: %v", err)
		}
		if after := storedKeys(t, open()); !bytes.Equal(after[0].Sealed, before[0].Sealed) {
			t.Fatal("a refused start changed the stored keys")
		}

		// Instance B starts with the new secret and secret_previous.
		b, err := Load(t.Context(), open(), secretB, token.ES256, secretA)
		if err != nil {
			t.Fatalf("new secret with secret_previous: %v", err)
		}
		if !b.Resealed || b.Signing.KID != a.Signing.KID || !bytes.Equal(b.SessionKey, a.SessionKey) {
			t.Fatalf("after the roll: resealed %v, signing %s (was %s), same session key %v", b.Resealed, b.Signing.KID, a.Signing.KID, bytes.Equal(b.SessionKey, a.SessionKey))
		}
		if _, err := newVerifier(t, b.Keys).Verify(issued.Token, time.Now()); err != nil {
			t.Errorf("a token issued before the roll: %v", err)
		}

		// The new secret alone opens the keys now; a second start re-seals nothing.
		again := load(t, open(), secretB, token.ES256)
		if again.Resealed || again.Signing.KID != a.Signing.KID {
			t.Errorf("new secret alone: resealed %v, signing %s", again.Resealed, again.Signing.KID)
		}
		if again := load(t, open(), secretB, token.ES256, secretA); again.Resealed {
			t.Error("secret_previous left in place re-seals on every start")
		}
		// The old secret alone no longer does, and says so, writing nothing.
		sealedNow := storedKeys(t, open())
		if _, err := Load(t.Context(), open(), secretA, token.ES256); err == nil || !strings.Contains(err.Error(), "same secret") {
			t.Errorf("old secret alone after the roll: %v", err)
		}
		if after := storedKeys(t, open()); !bytes.Equal(after[0].Sealed, sealedNow[0].Sealed) {
			t.Error("the old secret's failed start changed the stored keys")
		}
	})
}

// TestSecretPreviousUpgrade: keys in the first format sealed under the old
// secret are opened with secret_previous and sealed under the new secret.
func TestSecretPreviousUpgrade(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		k, _ := token.GenerateKey(token.EdDSA)
		v1, err := sealV1(k, secretA, time.Now().UTC())
		if err != nil {
			t.Fatal(err)
		}
		insertRaw(t, open(), v1)
		ring, err := Load(t.Context(), open(), secretB, token.EdDSA, secretA)
		if err != nil || ring.Signing.KID != k.KID {
			t.Fatalf("Load = %+v, %v; want the old key", ring, err)
		}
		if again := load(t, open(), secretB, token.EdDSA); again.Signing.KID != k.KID {
			t.Errorf("new secret alone: signing %s", again.Signing.KID)
		}
	})
}

// TestSecretPreviousUpgradeWeak: upgrading from the first format while
// changing the secret refuses a weak new secret, as changing it on the
// current format does, and writes nothing.
func TestSecretPreviousUpgradeWeak(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		k, _ := token.GenerateKey(token.EdDSA)
		v1, err := sealV1(k, secretA, time.Now().UTC())
		if err != nil {
			t.Fatal(err)
		}
		insertRaw(t, open(), v1)
		if _, err := Load(t.Context(), open(), strings.Repeat("ab", 20), token.EdDSA, secretA); err == nil || !strings.Contains(err.Error(), "new secret") {
			t.Fatalf("Load with a weak new secret = %v, want a refusal", err)
		}
		if ring := load(t, open(), secretA, token.EdDSA); ring.Signing.KID != k.KID {
			t.Errorf("after the refusal the old secret signs with %s", ring.Signing.KID)
		}
	})
}
