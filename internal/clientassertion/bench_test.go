package clientassertion

import "testing"

func BenchmarkParseKeySetEC(b *testing.B) {
	keys := newKeys(b)
	set := jwks(b, keys["ES256"])
	for b.Loop() {
		if _, err := ParseKeySet(set); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyES256(b *testing.B) {
	keys := newKeys(b)
	ks, _ := ParseKeySet(jwks(b, keys["ES256"]))
	s := sign(b, keys["ES256"], goodClaims(), false)
	for b.Loop() {
		a, err := Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := policy.Verify(a, clientID, ks, now); err != nil {
			b.Fatal(err)
		}
	}
}
