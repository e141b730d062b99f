package clientassertion

import (
	"testing"
	"time"
)

// FuzzVerify: whatever a client sends as client_assertion, Parse and Verify
// return an error or a verified assertion, never panic; and nothing but the
// one key's genuine signature with the right claims verifies.
func FuzzVerify(f *testing.F) {
	keys := newKeys(f)
	k := keys["ES256"]
	set, err := ParseKeySet(jwks(f, k, keys["EdDSA"], keys["RS256"]))
	if err != nil {
		f.Fatal(err)
	}
	good := sign(f, k, goodClaims(), false)
	f.Add(good)
	f.Add(sign(f, keys["EdDSA"], goodClaims(), true))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		_ = a.Issuer()
		v, err := policy.Verify(a, clientID, set, now)
		if err == nil && s != good && (v.JTI == "" || v.UsableUntil.Before(now) || v.UsableUntil.After(now.Add(6*time.Minute))) {
			t.Fatalf("verified %q as %+v", s, v)
		}
	})
}
