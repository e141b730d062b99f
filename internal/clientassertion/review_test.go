package clientassertion

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// signWith signs the good claims, with edit applied, with extra protected
// header members.
func signWith(t *testing.T, k testKey, edit func(map[string]any), header map[string]any, b64 bool) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", k.kid)
	for name, v := range header {
		opts = opts.WithHeader(jose.HeaderKey(name), v)
	}
	if !b64 {
		opts = opts.WithBase64(false)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := goodClaims()
	if edit != nil {
		edit(c)
	}
	payload, _ := json.Marshal(c)
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

// TestVerifyRefusesReview: what the first review found accepted.
//
//   - A jti with control characters: PostgreSQL cannot store a NUL in text,
//     so the replay table's insert failed and the token endpoint answered 503
//     on Postgres where SQLite accepted: the two stores read one assertion
//     two ways. A jti is an identifier; control characters have no business
//     in it.
//   - A crit header (here b64: false, RFC 7797, which go-jose implements):
//     an assertion is a JWT (RFC 7523 §3), whose payload is base64url; a
//     header naming extensions this server must understand is refused, as
//     other verifiers refuse it.
//   - An explicit typ of another kind of JWT (an access token, a DPoP
//     proof): RFC 8725 §3.11, a JWT made for another purpose with the
//     client's key is not a client assertion.
//   - typ client-authentication+jwt (draft-ietf-oauth-rfc7523bis) with an
//     aud other than the issuer as one JSON string: a client that types its
//     assertion so asks for the bis draft's audience rule.
func TestVerifyRefusesReview(t *testing.T) {
	keys := newKeys(t)
	ec := keys["ES256"]
	set := jwks(t, ec)
	jti := func(v string) func(map[string]any) { return func(c map[string]any) { c["jti"] = v } }
	aud := func(v any) func(map[string]any) { return func(c map[string]any) { c["aud"] = v } }
	typed := map[string]any{"typ": "client-authentication+jwt"}
	cases := []struct {
		name      string
		assertion string
	}{
		{"jti with a NUL", signWith(t, ec, jti("a\x00b"), nil, true)},
		{"jti with a newline", signWith(t, ec, jti("a\nb"), nil, true)},
		{"jti with DEL", signWith(t, ec, jti("a\x7fb"), nil, true)},
		{"jti with a C1 control", signWith(t, ec, jti("a\u0085b"), nil, true)},
		{"crit b64 false", signWith(t, ec, nil, nil, false)},
		{"crit naming an extension", signWith(t, ec, nil, map[string]any{"crit": []string{"exp"}, "exp": 1}, true)},
		{"typ at+jwt", signWith(t, ec, nil, map[string]any{"typ": "at+jwt"}, true)},
		{"typ dpop+jwt", signWith(t, ec, nil, map[string]any{"typ": "dpop+jwt"}, true)},
		{"typed, aud the token endpoint", signWith(t, ec, aud(tokenURL), typed, true)},
		{"typed, aud an array of the issuer", signWith(t, ec, aud([]string{issuer}), typed, true)},
	}
	for _, tc := range cases {
		if _, err := verify(t, tc.assertion, set); err == nil {
			t.Errorf("%s: accepted", tc.name)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
	// Still accepted: the typs a JWT library writes, a typed assertion to
	// the issuer, and a jti of printable Unicode.
	for name, a := range map[string]string{
		"typ JWT":                 signWith(t, ec, nil, map[string]any{"typ": "JWT"}, true),
		"typ application/jwt":     signWith(t, ec, nil, map[string]any{"typ": "application/jwt"}, true),
		"typed, aud the issuer":   signWith(t, ec, aud(issuer), typed, true),
		"typed (media type form)": signWith(t, ec, aud(issuer), map[string]any{"typ": "application/client-authentication+jwt"}, true),
		"jti of printable text":   signWith(t, ec, jti("é-🔑 x"), nil, true),
	} {
		if _, err := verify(t, a, set); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestKeyHeadersIgnored: jwk, jku, x5u and x5c headers never choose the
// key: an assertion signed by an attacker's key that embeds that key (or
// points at it) under the client's kid, or with no kid, is refused.
func TestKeyHeadersIgnored(t *testing.T) {
	keys := newKeys(t)
	ec := keys["ES256"]
	set := jwks(t, ec)
	attacker := newKeys(t)["ES256"] // kid "ec", as the client's key
	pub := jose.JSONWebKey{Key: attacker.priv.Public(), KeyID: "ec"}
	for name, h := range map[string]map[string]any{
		"jwk": {"jwk": pub},
		"jku": {"jku": "https://attacker.example/jwks.json"},
		"x5u": {"x5u": "https://attacker.example/cert.pem"},
	} {
		if _, err := verify(t, signWith(t, attacker, nil, h, true), set); err == nil {
			t.Errorf("%s header: accepted a signature by the attacker's key", name)
		}
	}
}

// TestParseKeySetRefusesHugeRSA: an RSA modulus above 8192 bits is refused
// (go-jose v4 refuses it when it reads the JWK; this pins that, so that an
// upgrade cannot lift it unnoticed). Verifying under a 65536-bit modulus costs about 150 ms of CPU (8192 bits:
// about 2 ms); an assertion without kid is tried against every key that
// fits, and anyone may send one naming a client, so a client whose jwks_uri
// serves a few such keys would make every unauthenticated request cost
// seconds of CPU. Go's crypto/tls stops at 8192 bits too.
func TestParseKeySetRefusesHugeRSA(t *testing.T) {
	for _, bits := range []int{8192 + 8, 16384, 65536} {
		n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
		n.SetBit(n, 0, 1)
		n.Add(n, new(big.Int).Lsh(big.NewInt(0x5eed), 64))
		b64 := base64.RawURLEncoding.EncodeToString
		set := `{"keys":[{"kty":"RSA","kid":"r","n":"` + b64(n.Bytes()) + `","e":"AQAB"}]}`
		if _, err := ParseKeySet([]byte(set)); err == nil {
			t.Errorf("an RSA key of %d bits was accepted", bits)
		} else {
			t.Logf("%d: %v", bits, err)
		}
	}
}
