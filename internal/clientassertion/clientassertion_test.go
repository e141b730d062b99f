package clientassertion

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	clientID = "client-1"
	issuer   = "https://auth.example.com"
	tokenURL = "https://auth.example.com/oauth/token"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

var policy = Policy{Audiences: []string{issuer, tokenURL}, Leeway: 30 * time.Second}

// testKey is a private key with its public JWK.
type testKey struct {
	priv crypto.Signer
	alg  jose.SignatureAlgorithm
	kid  string
}

func newKeys(t testing.TB) map[string]testKey {
	t.Helper()
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]testKey{
		"ES256": {ec256, jose.ES256, "ec"},
		"ES384": {ec384, jose.ES384, "ec384"},
		"EdDSA": {ed, jose.EdDSA, "ed"},
		"RS256": {rs, jose.RS256, "rsa"},
		"PS256": {rs, jose.PS256, "rsa"},
	}
}

// jwks renders the public halves of keys (one entry per kid).
func jwks(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k.kid] {
			continue
		}
		seen[k.kid] = true
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goodClaims() map[string]any {
	return map[string]any{
		"iss": clientID, "sub": clientID, "aud": issuer,
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": "jti-1",
	}
}

// sign signs claims with k using go-jose, with kid in the header unless noKID.
func sign(t testing.TB, k testKey, claims map[string]any, noKID bool) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if !noKID {
		opts = opts.WithHeader(jose.HeaderKey("kid"), k.kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func verify(t testing.TB, assertion string, set []byte) (Verified, error) {
	t.Helper()
	ks, err := ParseKeySet(set)
	if err != nil {
		t.Fatalf("ParseKeySet: %v", err)
	}
	a, err := Parse(assertion)
	if err != nil {
		return Verified{}, err
	}
	return policy.Verify(a, clientID, ks, now)
}

func TestVerifyAccepts(t *testing.T) {
	keys := newKeys(t)
	all := jwks(t, keys["ES256"], keys["ES384"], keys["EdDSA"], keys["RS256"])
	for alg, k := range keys {
		for _, noKID := range []bool{false, true} {
			v, err := verify(t, sign(t, k, goodClaims(), noKID), all)
			if err != nil {
				t.Errorf("%s (no kid %v): %v", alg, noKID, err)
				continue
			}
			if v.JTI != "jti-1" || !v.UsableUntil.Equal(now.Add(time.Minute+30*time.Second)) {
				t.Errorf("%s: %+v", alg, v)
			}
		}
	}
	// The token endpoint as aud, an array of one, fractional dates, no iat.
	c := goodClaims()
	c["aud"] = []string{tokenURL}
	c["exp"] = float64(now.Add(time.Minute).UnixMilli()) / 1000
	delete(c, "iat")
	if _, err := verify(t, sign(t, keys["ES256"], c, false), all); err != nil {
		t.Errorf("aud [token endpoint], fractional exp: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	keys := newKeys(t)
	ec := keys["ES256"]
	set := jwks(t, ec, keys["EdDSA"], keys["RS256"])
	other := newKeys(t)["ES256"] // same kid "ec", another client's key
	with := func(k string, v any) map[string]any {
		c := goodClaims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	b64 := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(goodClaims())
	cases := []struct {
		name      string
		assertion string
	}{
		{"wrong key, same kid", sign(t, other, goodClaims(), false)},
		{"wrong key, no kid", sign(t, other, goodClaims(), true)},
		{"aud another server", sign(t, ec, with("aud", "https://evil.example.com"), false)},
		{"aud issuer with a trailing slash", sign(t, ec, with("aud", issuer+"/"), false)},
		{"aud two values", sign(t, ec, with("aud", []string{issuer, "https://evil.example.com"}), false)},
		{"aud missing", sign(t, ec, with("aud", nil), false)},
		{"iss another client", sign(t, ec, with("iss", "client-2"), false)},
		{"sub another client", sign(t, ec, with("sub", "client-2"), false)},
		{"sub missing", sign(t, ec, with("sub", nil), false)},
		{"expired", sign(t, ec, with("exp", now.Add(-31*time.Second).Unix()), false)},
		{"exp missing", sign(t, ec, with("exp", nil), false)},
		{"exp as a string", sign(t, ec, with("exp", "1900000000"), false)},
		{"valid too long", sign(t, ec, with("exp", now.Add(6*time.Minute).Unix()), false)},
		{"nbf in the future", sign(t, ec, with("nbf", now.Add(time.Minute).Unix()), false)},
		{"iat in the future", sign(t, ec, with("iat", now.Add(time.Minute).Unix()), false)},
		{"jti missing", sign(t, ec, with("jti", nil), false)},
		{"jti empty", sign(t, ec, with("jti", ""), false)},
		{"jti too long", sign(t, ec, with("jti", strings.Repeat("j", MaxJTILength+1)), false)},
		{"unknown kid", sign(t, testKey{ec.priv, ec.alg, "nope"}, goodClaims(), false)},
		{"RSA key named by an ES256 header", sign(t, testKey{ec.priv, jose.ES256, "rsa"}, goodClaims(), false)},
		{"EC key named by an EdDSA header", sign(t, testKey{keys["EdDSA"].priv, jose.EdDSA, "ec"}, goodClaims(), false)},
		{"alg none", b64([]byte(`{"alg":"none"}`)) + "." + b64(payload) + "."},
		{"HS256", hs256(t, payload)},
		{"JSON serialization", `{"payload":"` + b64(payload) + `","signatures":[]}`},
		{"duplicate iss", dupClaims(t, ec)},
		{"iss twice, in two cases", rawClaims(t, ec, `{"iss":"client-2","ISS":"`+clientID+`","sub":"`+clientID+`","aud":"`+issuer+`","exp":`+jsonInt(now.Add(time.Minute).Unix())+`,"jti":"d"}`)},
		{"ISS alone", rawClaims(t, ec, `{"ISS":"`+clientID+`","sub":"`+clientID+`","aud":"`+issuer+`","exp":`+jsonInt(now.Add(time.Minute).Unix())+`,"jti":"d"}`)},
		{"Exp in another case", rawClaims(t, ec, `{"iss":"`+clientID+`","sub":"`+clientID+`","aud":"`+issuer+`","Exp":`+jsonInt(now.Add(time.Minute).Unix())+`,"jti":"d"}`)},
		{"jti and JTI", rawClaims(t, ec, `{"iss":"`+clientID+`","sub":"`+clientID+`","aud":"`+issuer+`","exp":`+jsonInt(now.Add(time.Minute).Unix())+`,"jti":"d","JTI":"e"}`)},
	}
	for _, tc := range cases {
		if _, err := verify(t, tc.assertion, set); err == nil {
			t.Errorf("%s: accepted", tc.name)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
	if _, err := verify(t, sign(t, testKey{ec.priv, ec.alg, "nope"}, goodClaims(), false), set); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown kid: %v, want ErrUnknownKey", err)
	}
}

// hs256 is an HS256 JWS keyed with a public key's bytes (the classic
// algorithm confusion).
func hs256(t *testing.T, payload []byte) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := s.Sign(payload)
	out, _ := obj.CompactSerialize()
	return out
}

// dupClaims is an assertion whose payload names iss twice: the client's
// last, as encoding/json would read it, another's first.
func dupClaims(t *testing.T, k testKey) string {
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, (&jose.SignerOptions{}).WithHeader("kid", k.kid))
	exp := now.Add(time.Minute).Unix()
	payload := []byte(`{"iss":"client-2","iss":"` + clientID + `","sub":"` + clientID + `","aud":"` + issuer + `","exp":` + jsonInt(exp) + `,"jti":"d"}`)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

// rawClaims is an assertion with exactly payload as its claims.
func rawClaims(t *testing.T, k testKey, payload string) string {
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, (&jose.SignerOptions{}).WithHeader("kid", k.kid))
	obj, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

func jsonInt(v int64) string { b, _ := json.Marshal(v); return string(b) }

func TestParseKeySetRefuses(t *testing.T) {
	keys := newKeys(t)
	ec := keys["ES256"]
	privJWK, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.priv, KeyID: "p"}}})
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallJWK, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: small.Public(), KeyID: "s"}}})
	oct, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: []byte(strings.Repeat("k", 32)), KeyID: "o"}}})
	encKey, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.priv.Public(), KeyID: "e", Use: "enc"}}})
	wrongAlg, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.priv.Public(), KeyID: "w", Algorithm: "RS256"}}})
	hsAlg, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.priv.Public(), KeyID: "w", Algorithm: "HS256"}}})
	noKIDs, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.priv.Public()}, {Key: keys["EdDSA"].priv.Public()}}})
	var many jose.JSONWebKeySet
	for i := range MaxKeys + 1 {
		many.Keys = append(many.Keys, jose.JSONWebKey{Key: ec.priv.Public(), KeyID: string(rune('a' + i))})
	}
	manyJWK, _ := json.Marshal(many)
	one := string(jwks(t, ec))
	for name, set := range map[string]string{
		"private key":           string(privJWK),
		"RSA 1024":              string(smallJWK),
		"symmetric key":         string(oct),
		"use enc":               string(encKey),
		"alg not the key's":     string(wrongAlg),
		"alg HS256":             string(hsAlg),
		"two keys without kid":  string(noKIDs),
		"too many keys":         string(manyJWK),
		"no keys":               `{"keys":[]}`,
		"not a set":             `[]`,
		"duplicate keys member": `{"keys":[],` + one[1:],
		"trailing data":         one + `{}`,
		"trailing bracket":      one + `]`,
		"keys and KEYS":         `{"keys":[` + one[9:len(one)-2] + `],"KEYS":[{"kty":"oct","k":"c2VjcmV0"}]}`,
		"KEYS only":             `{"KEYS":[` + one[9:len(one)-2] + `]}`,
		"private D":             strings.Replace(one, `"kty"`, `"D":"AAAA","kty"`, 1),
		"kty and KTY":           strings.Replace(one, `"kty"`, `"KTY":"oct","kty"`, 1),
		"duplicate kid":         `{"keys":[` + one[9:len(one)-2] + `,` + one[9:len(one)-2] + `]}`,
		"too large":             `{"keys":[],"x":"` + strings.Repeat("x", MaxKeySetSize) + `"}`,
	} {
		if _, err := ParseKeySet([]byte(set)); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if _, err := ParseKeySet([]byte(one)); err != nil {
		t.Errorf("a good set: %v", err)
	}
}
