package keyring

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

const (
	testIssuer   = "https://auth.example.test"
	testAudience = "https://api.example.test"
)

var testScopes = scope.MustParse("ledgers:read")

func newVerifier(t testing.TB, keys []*token.Key) *token.Verifier {
	t.Helper()
	v, err := token.NewVerifier(keys, testIssuer, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

const sealSecret = "correct horse battery staple"

func TestSealOpenRoundTrip(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, alg := range []string{token.ES256, token.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			k, err := token.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			sk, err := Seal(k, sealSecret, now)
			if err != nil {
				t.Fatal(err)
			}
			if sk.KID != k.KID || sk.Algorithm != alg || !sk.CreatedAt.Equal(now) {
				t.Errorf("sealed key = %q %q %v", sk.KID, sk.Algorithm, sk.CreatedAt)
			}
			again, err := Seal(k, sealSecret, now)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(again.Sealed, sk.Sealed) {
				t.Error("sealing twice gave identical bytes: the nonce is not random")
			}
			opened, err := Open(sk, sealSecret)
			if err != nil {
				t.Fatal(err)
			}
			if opened.KID != k.KID || opened.Algorithm != k.Algorithm {
				t.Errorf("opened key %q %q, want %q %q", opened.KID, opened.Algorithm, k.KID, k.Algorithm)
			}
			want, _ := k.PKCS8()
			got, _ := opened.PKCS8()
			if !bytes.Equal(want, got) {
				t.Error("opened private key differs from the sealed one")
			}
			// A token signed with the opened key verifies against the original.
			iss := &token.Issuer{Key: opened, Issuer: testIssuer, TTL: time.Minute}
			tok, err := iss.Issue("client", testScopes, testAudience, nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			v := newVerifier(t, []*token.Key{k})
			if _, err := v.Verify(tok.Token, time.Now()); err != nil {
				t.Errorf("token signed by the opened key: %v", err)
			}
		})
	}
}

func TestOpenWrongSecret(t *testing.T) {
	for _, alg := range []string{token.ES256, token.EdDSA} {
		k, err := token.GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		sk, err := Seal(k, sealSecret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"", "wrong", sealSecret + " ", strings.ToUpper(sealSecret)} {
			if got, err := Open(sk, secret); !errors.Is(err, ErrWrongSecret) {
				t.Errorf("%s: Open with secret %q = %v, %v; want ErrWrongSecret", alg, secret, got, err)
			}
		}
	}
}

func TestOpenTampered(t *testing.T) {
	for _, alg := range []string{token.ES256, token.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			k, err := token.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			sk, err := Seal(k, sealSecret, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			// Every single bit flip, in nonce, ciphertext or tag, is detected.
			for i := range sk.Sealed {
				for _, bit := range []byte{0x01, 0x80} {
					bad := sk
					bad.Sealed = bytes.Clone(sk.Sealed)
					bad.Sealed[i] ^= bit
					if got, err := Open(bad, sealSecret); err == nil {
						t.Fatalf("byte %d ^ %#x: Open = %v, want an error", i, bit, got.KID)
					}
				}
			}
			for _, n := range []int{0, 1, 11, 12, 13, len(sk.Sealed) - 1} {
				bad := sk
				bad.Sealed = bytes.Clone(sk.Sealed[:n])
				if _, err := Open(bad, sealSecret); err == nil {
					t.Errorf("truncated to %d bytes: Open succeeded", n)
				}
			}
			extended := sk
			extended.Sealed = append(bytes.Clone(sk.Sealed), 0)
			if _, err := Open(extended, sealSecret); err == nil {
				t.Error("extended by one byte: Open succeeded")
			}
		})
	}
}

func TestOpenChangedKIDOrAlgorithm(t *testing.T) {
	es, err := token.GenerateKey(token.ES256)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := token.GenerateKey(token.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	other, err := token.GenerateKey(token.ES256)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := Seal(es, sealSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(sk *store.SigningKey){
		"other key's kid":   func(sk *store.SigningKey) { sk.KID = other.KID },
		"EdDSA key's kid":   func(sk *store.SigningKey) { sk.KID = ed.KID },
		"empty kid":         func(sk *store.SigningKey) { sk.KID = "" },
		"kid one char more": func(sk *store.SigningKey) { sk.KID += "A" },
		"algorithm EdDSA":   func(sk *store.SigningKey) { sk.Algorithm = token.EdDSA },
		"algorithm ES384":   func(sk *store.SigningKey) { sk.Algorithm = "ES384" },
		"algorithm none":    func(sk *store.SigningKey) { sk.Algorithm = "none" },
		"algorithm empty":   func(sk *store.SigningKey) { sk.Algorithm = "" },
		// The separator must not let "kid|alg" be re-split differently.
		"kid and alg shifted": func(sk *store.SigningKey) { sk.KID, sk.Algorithm = sk.KID+"|ES", "256" },
	}
	for name, mutate := range cases {
		sk := sealed
		sk.Sealed = bytes.Clone(sealed.Sealed)
		mutate(&sk)
		if got, err := Open(sk, sealSecret); err == nil {
			t.Errorf("%s: Open = key %q, want an error", name, got.KID)
		}
	}
	// A sealed blob moved onto another key's row does not open either.
	edSealed, err := Seal(ed, sealSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	moved := edSealed
	moved.Sealed = sealed.Sealed
	if _, err := Open(moved, sealSecret); err == nil {
		t.Error("ES256 sealed bytes opened under the EdDSA key's kid and algorithm")
	}
}
