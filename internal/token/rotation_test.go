package token

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestVerifierUnknownKIDRefreshes: a token signed by a key the verifier does
// not trust yet asks Refresh once; when Refresh brings the key, the token
// verifies; when it does not, it is refused. A known kid never calls it.
func TestVerifierUnknownKIDRefreshes(t *testing.T) {
	old, fresh := genKey(t, ES256), genKey(t, ES256)
	v := newVerifier(t, []*Key{old}, 0, 100)
	var calls atomic.Int32
	v.Refresh = func(kid string) bool {
		calls.Add(1)
		if kid != fresh.KID {
			return false
		}
		v.SetKeys([]*Key{fresh, old})
		return true
	}
	now := time.Now()
	if _, err := v.Verify(issue(t, old, time.Hour, now).Token, now); err != nil || calls.Load() != 0 {
		t.Fatalf("known kid: %v, %d refreshes", err, calls.Load())
	}
	if _, err := v.Verify(issue(t, fresh, time.Hour, now).Token, now); err != nil || calls.Load() != 1 {
		t.Fatalf("kid published elsewhere a moment ago: %v, %d refreshes (want verified after 1)", err, calls.Load())
	}
	stranger := genKey(t, ES256)
	if _, err := v.Verify(issue(t, stranger, time.Hour, now).Token, now); !errors.Is(err, ErrInvalid) || calls.Load() != 2 {
		t.Fatalf("unknown kid after a refresh: %v, %d refreshes", err, calls.Load())
	}
}

// TestVerifierSetKeysRefusesCached: once a key is no longer trusted (revoked
// by an emergency rotation), a token it signed is refused even though the
// verified-token cache remembers it; its successor's tokens still verify.
func TestVerifierSetKeysRefusesCached(t *testing.T) {
	old, fresh := genKey(t, ES256), genKey(t, EdDSA)
	v := newVerifier(t, []*Key{old, fresh}, 0, 100)
	now := time.Now()
	tokOld, tokNew := issue(t, old, time.Hour, now).Token, issue(t, fresh, time.Hour, now).Token
	for _, tok := range []string{tokOld, tokNew} {
		if _, err := v.VerifyBearer(tok, now); err != nil {
			t.Fatal(err)
		}
	}
	v.cache.Wait()
	if _, ok, _ := v.Cached(tokOld, now); !ok {
		t.Fatal("the token was not cached: the test would prove nothing")
	}
	v.SetKeys([]*Key{fresh})
	if _, err := v.VerifyBearer(tokOld, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("cached token of a revoked key: %v, want ErrInvalid", err)
	}
	if _, err := v.Verify(tokOld, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify of a revoked key's token: %v", err)
	}
	if _, err := v.VerifyBearer(tokNew, now); err != nil {
		t.Errorf("the successor's token: %v", err)
	}
}

// TestVerifierAlgorithmMustMatchKey: with keys of both algorithms trusted, a
// token whose alg differs from its kid's key is refused.
func TestVerifierAlgorithmMustMatchKey(t *testing.T) {
	es, ed := genKey(t, ES256), genKey(t, EdDSA)
	v := newVerifier(t, []*Key{es, ed}, 0, 0)
	now := time.Now()
	tok := issue(t, ed, time.Hour, now).Token
	// Re-sign with the ES256 key under the EdDSA key's kid.
	forged := sign(t, es, map[string]any{"alg": ES256, "kid": ed.KID, "typ": JWTType}, goodClaims(now))
	if _, err := v.Verify(tok, now); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(forged, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("alg not matching the kid's key: %v", err)
	}
}
