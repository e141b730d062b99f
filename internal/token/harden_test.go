package token

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// signedRaw signs the exact header and claims JSON text with k, so a test can
// send what no JSON encoder would produce (a name twice).
func signedRaw(t *testing.T, k *Key, header, claims string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	sig, err := k.method.Sign(input, k.private)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

// TestVerifyDefenceInDepth (issue #15, item 5): tokens our own key signed but
// that the issuer never mints are refused. This matters once a signing key has
// leaked, or if a bug ever minted such a token: no token without a jti (it
// could not be revoked), none living longer than the longest configurable
// lifetime, none with a "crit" header (RFC 7515 §4.1.11: we understand no
// extension, so we must refuse), none with a header parameter or claim named
// twice (RFC 7519 §4: parsers disagree on which one wins).
func TestVerifyDefenceInDepth(t *testing.T) {
	const leeway = 30 * time.Second
	for _, k := range []*Key{genKey(t, ES256), genKey(t, EdDSA)} {
		now := time.Now()
		good := goodClaims(now)
		hdr := map[string]any{"typ": "at+jwt", "kid": k.KID}
		iat, exp := now.Unix(), now.Add(5*time.Minute).Unix()
		header := fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"at+jwt"}`, k.Algorithm, k.KID)
		claims := func(extra string) string {
			return fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":[%q],"exp":%d,"iat":%d,"jti":"j1","client_id":%q,"scope":"ledgers:read"%s}`,
				testIssuer, testClient, testAudience, exp, iat, testClient, extra)
		}
		longest := now.Add(-time.Minute)
		cases := map[string]string{
			"no jti":           sign(t, k, hdr, with(good, "jti", nil)),
			"empty jti":        sign(t, k, hdr, with(good, "jti", "")),
			"jti not a string": sign(t, k, hdr, with(good, "jti", 7)),
			"lifetime beyond the longest token_ttl plus leeway": sign(t, k, hdr, with(with(good,
				"iat", longest.Unix()), "exp", longest.Add(MaxTTL+leeway+time.Second).Unix())),
			"crit header":             sign(t, k, map[string]any{"typ": "at+jwt", "kid": k.KID, "crit": []string{"exp"}}, good),
			"empty crit header":       sign(t, k, map[string]any{"typ": "at+jwt", "kid": k.KID, "crit": []string{}}, good),
			"duplicate sub":           signedRaw(t, k, header, claims(fmt.Sprintf(`,"sub":%q`, "blnk_cid_someoneElse0000000000"))),
			"duplicate scope":         signedRaw(t, k, header, claims(`,"scope":"*"`)),
			"duplicate exp":           signedRaw(t, k, header, claims(fmt.Sprintf(`,"exp":%d`, now.Add(1000*time.Hour).Unix()))),
			"duplicate, escaped name": signedRaw(t, k, header, claims(`,"sco\u0070e":"*"`)),
			// encoding/json matches a struct's fields case-insensitively, the
			// last one winning: "SCOPE" would replace "scope".
			"duplicate in another case": signedRaw(t, k, header, claims(`,"SCOPE":"*"`)),
			"duplicate exp, other case": signedRaw(t, k, header, claims(fmt.Sprintf(`,"Exp":%d`, now.Add(1000*time.Hour).Unix()))),
			"duplicate header kid":      signedRaw(t, k, fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"at+jwt","kid":"other"}`, k.Algorithm, k.KID), claims("")),
			"duplicate header alg":      signedRaw(t, k, fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"at+jwt","alg":"none"}`, k.Algorithm, k.KID), claims("")),
			"claims not a JSON object":  signedRaw(t, k, header, `["iss"]`),
		}
		v := newVerifier(t, []*Key{k}, leeway, 0)
		// Baselines: the hand-signed claims and the longest lifetime verify,
		// so each refusal comes from what its case changed.
		if _, err := v.Verify(signedRaw(t, k, header, claims("")), now); err != nil {
			t.Fatalf("%s: hand-signed baseline refused: %v", k.Algorithm, err)
		}
		atMost := sign(t, k, hdr, with(with(good, "iat", longest.Unix()), "exp", longest.Add(MaxTTL+leeway).Unix()))
		if _, err := v.Verify(atMost, now); err != nil {
			t.Fatalf("%s: a token living MaxTTL plus leeway refused: %v", k.Algorithm, err)
		}
		for name, raw := range cases {
			t.Run(k.Algorithm+"/"+name, func(t *testing.T) {
				got, err := v.Verify(raw, now)
				if !errors.Is(err, ErrInvalid) || got != nil {
					t.Fatalf("Verify = %+v, %v; want ErrInvalid", got, err)
				}
				t.Log(err)
			})
		}
	}
}

func TestUniqueNames(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	for in, want := range map[string]bool{
		`{}`:                                  true,
		` { } `:                               true,
		`{"a":1,"b":"x","c":[1,{"a":2}]}`:     true,
		`{"a":{"b":1,"b":2},"b":3}`:           true, // nested names are the nested object's own
		`{"a":"\",\"a\":1","b":2}`:            true, // a name inside a string is no name
		` {"a" : 1 , "b" : [ ] } `:            true,
		`{"a":1,"a":2}`:                       false,
		`{"a":1,"A":2}`:                       false,
		`{"a":1,"\u0041":2}`:                  false,
		`{"a":{"x":[1,2]},"b":true,"a":null}`: false,
		`[]`:                                  false,
		`{"a":1`:                              false,
		`{"a":1}x`:                            false,
		``:                                    false,
	} {
		if got := uniqueNames(enc([]byte(in))); got != want {
			t.Errorf("uniqueNames(%s) = %v, want %v", in, got, want)
		}
	}
	var many strings.Builder
	many.WriteString("{")
	for i := range maxMembers + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"m%d":1`, i)
	}
	many.WriteString("}")
	if uniqueNames(enc([]byte(many.String()))) {
		t.Errorf("uniqueNames accepted %d members", maxMembers+1)
	}
	if uniqueNames("not base64!") {
		t.Error("uniqueNames accepted a segment that is not base64url")
	}
}
