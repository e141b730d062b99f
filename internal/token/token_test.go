package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

const (
	testIssuer   = "https://auth.example.test"
	testAudience = "https://api.example.test"
	testClient   = "blnk_cid_0123456789ABCDEFabcdef"
)

var testScopes = scope.MustParse("ledgers:read balances:write")

func genKey(t testing.TB, alg string) *Key {
	t.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newVerifier(t testing.TB, keys []*Key, leeway time.Duration, cacheSize int64) *Verifier {
	t.Helper()
	v, err := NewVerifier(keys, testIssuer, leeway, cacheSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func issue(t testing.TB, k *Key, ttl time.Duration, now time.Time) Issued {
	t.Helper()
	iss := &Issuer{Key: k, Issuer: testIssuer, TTL: ttl}
	tok, err := iss.Issue(testClient, testScopes, testAudience, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// decodeJSONSegment decodes one base64url segment of a compact JWS into a map,
// independently of the JWT library.
func decodeJSONSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q: %v", seg, err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("segment %s: %v", raw, err)
	}
	return m
}

func parts(t *testing.T, tok string) (header, payload map[string]any) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("token has %d parts, want 3: %q", len(p), tok)
	}
	if p[2] == "" {
		t.Fatal("token has no signature")
	}
	return decodeJSONSegment(t, p[0]), decodeJSONSegment(t, p[1])
}

func numberClaim(t *testing.T, claims map[string]any, name string) int64 {
	t.Helper()
	n, ok := claims[name].(json.Number)
	if !ok {
		t.Fatalf("claim %q = %#v, want a number", name, claims[name])
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("claim %q = %v: %v", name, n, err)
	}
	return v
}

func TestIssueHeaderAndClaims(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			k := genKey(t, alg)
			now := time.Unix(1_700_000_000, 987_654_321)
			iss := &Issuer{Key: k, Issuer: testIssuer, TTL: 15 * time.Minute}
			tok, err := iss.Issue(testClient, scope.MustParse("b a c:d"), testAudience, nil, now)
			if err != nil {
				t.Fatal(err)
			}
			if tok.ExpiresIn != 900 {
				t.Errorf("ExpiresIn = %d, want 900", tok.ExpiresIn)
			}
			header, claims := parts(t, tok.Token)
			wantHeader := map[string]any{"alg": alg, "typ": "at+jwt", "kid": k.KID}
			if !maps.Equal(header, wantHeader) {
				t.Errorf("header = %v, want %v", header, wantHeader)
			}
			wantClaims := []string{"aud", "client_id", "exp", "iat", "iss", "jti", "scope", "sub"}
			if got := slices.Sorted(maps.Keys(claims)); !slices.Equal(got, wantClaims) {
				t.Errorf("claims %v, want exactly %v", got, wantClaims)
			}
			if claims["iss"] != testIssuer {
				t.Errorf("iss = %v", claims["iss"])
			}
			if claims["sub"] != testClient || claims["client_id"] != testClient {
				t.Errorf("sub = %v, client_id = %v, want both %q", claims["sub"], claims["client_id"], testClient)
			}
			if aud, ok := claims["aud"].([]any); !ok || len(aud) != 1 || aud[0] != testAudience {
				t.Errorf("aud = %#v, want [%q] (an array)", claims["aud"], testAudience)
			}
			iat, exp := numberClaim(t, claims, "iat"), numberClaim(t, claims, "exp")
			if iat != 1_700_000_000 {
				t.Errorf("iat = %d, want %d", iat, 1_700_000_000)
			}
			if exp != iat+900 {
				t.Errorf("exp = %d, want iat+TTL = %d", exp, iat+900)
			}
			if jti, _ := claims["jti"].(string); len(jti) < 16 {
				t.Errorf("jti = %#v, want a random string", claims["jti"])
			}
			if claims["scope"] != "a b c:d" {
				t.Errorf("scope = %#v, want %q", claims["scope"], "a b c:d")
			}
			// The signature is a valid alg signature by k.
			_, err = jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithoutClaimsValidation()).
				Parse(tok.Token, func(*jwt.Token) (any, error) { return k.Public(), nil })
			if err != nil {
				t.Errorf("signature does not verify with the public key: %v", err)
			}
		})
	}
}

func TestIssueJTIUnique(t *testing.T) {
	k := genKey(t, EdDSA)
	iss := &Issuer{Key: k, Issuer: testIssuer, TTL: time.Minute}
	now := time.Now()
	seen := make(map[string]bool, 1000)
	for range 1000 {
		tok, err := iss.Issue(testClient, testScopes, testAudience, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		_, claims := parts(t, tok.Token)
		jti, _ := claims["jti"].(string)
		if jti == "" || seen[jti] {
			t.Fatalf("jti %q empty or repeated after %d tokens", jti, len(seen))
		}
		seen[jti] = true
	}
}

func TestIssueExpiryCappedAtClientExpiry(t *testing.T) {
	k := genKey(t, ES256)
	iss := &Issuer{Key: k, Issuer: testIssuer, TTL: 15 * time.Minute}
	base := time.Unix(1_700_000_000, 0)
	now := base.Add(123 * time.Millisecond)
	at := func(d time.Duration) *time.Time { x := base.Add(d); return &x }
	cases := []struct {
		name      string
		expires   *time.Time
		wantExp   int64 // seconds after base
		wantError bool
	}{
		{"never", nil, 900, false},
		{"after TTL", at(time.Hour), 900, false},
		{"exactly at TTL", at(15 * time.Minute), 900, false},
		{"in 30s", at(30 * time.Second), 30, false},
		{"in 30.9s, truncated", at(30*time.Second + 900*time.Millisecond), 30, false},
		{"in 1s", at(time.Second), 1, false},
		{"within the second", at(999 * time.Millisecond), 0, true},
		{"now", &now, 0, true},
		{"at the truncated now", at(0), 0, true},
		{"an hour ago", at(-time.Hour), 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := iss.Issue(testClient, testScopes, testAudience, c.expires, now)
			if c.wantError {
				if err == nil {
					t.Fatalf("Issue = %+v, want an error", tok)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, claims := parts(t, tok.Token)
			if got := numberClaim(t, claims, "exp"); got != base.Unix()+c.wantExp {
				t.Errorf("exp = base%+d, want base%+d", got-base.Unix(), c.wantExp)
			}
			if c.expires != nil && time.Unix(numberClaim(t, claims, "exp"), 0).After(*c.expires) {
				t.Error("token outlives its client")
			}
			if tok.ExpiresIn != c.wantExp {
				t.Errorf("ExpiresIn = %d, want %d", tok.ExpiresIn, c.wantExp)
			}
		})
	}
}

func TestVerifyAcceptsFreshToken(t *testing.T) {
	es, ed := genKey(t, ES256), genKey(t, EdDSA)
	for _, cacheSize := range []int64{0, 100} {
		v := newVerifier(t, []*Key{es, ed}, 30*time.Second, cacheSize)
		for _, k := range []*Key{es, ed} {
			t.Run(fmt.Sprintf("%s/cache%d", k.Algorithm, cacheSize), func(t *testing.T) {
				now := time.Now()
				tok := issue(t, k, 5*time.Minute, now)
				_, claims := parts(t, tok.Token)
				got, err := v.Verify(tok.Token, now)
				if err != nil {
					t.Fatal(err)
				}
				if got.ClientID != testClient {
					t.Errorf("ClientID = %q", got.ClientID)
				}
				if got.Scopes.String() != testScopes.String() {
					t.Errorf("Scopes = %q, want %q", got.Scopes, testScopes)
				}
				if !slices.Equal(got.Audience, []string{testAudience}) {
					t.Errorf("Audience = %q", got.Audience)
				}
				if !got.HasAudience(testAudience) || got.HasAudience("https://other.example.test") || got.HasAudience("") {
					t.Error("HasAudience is wrong")
				}
				iat := now.Truncate(time.Second)
				if !got.IssuedAt.Equal(iat) {
					t.Errorf("IssuedAt = %v, want %v", got.IssuedAt, iat)
				}
				if !got.ExpiresAt.Equal(iat.Add(5 * time.Minute)) {
					t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, iat.Add(5*time.Minute))
				}
				if got.JTI == "" || got.JTI != claims["jti"] {
					t.Errorf("JTI = %q, want %v", got.JTI, claims["jti"])
				}
			})
		}
	}
}

// sign signs claims with k under exactly the given header (alg is set to k's).
func sign(t *testing.T, k *Key, header map[string]any, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	tok.Header = maps.Clone(header)
	tok.Header["alg"] = k.Algorithm
	s, err := tok.SignedString(k.private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handBuilt assembles a compact JWS from raw JSON with sig computed by mac
// (nil: empty signature).
func handBuilt(header, payload any, mac func(signingInput string) []byte) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	var sig []byte
	if mac != nil {
		sig = mac(input)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func hmacSHA256(secret []byte) func(string) []byte {
	return func(input string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

// publicKeyEncodings are the byte strings an alg-confusion attacker would try
// as an HMAC secret: every common serialization of the public key.
func publicKeyEncodings(t *testing.T, k *Key) map[string][]byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{
		"PKIX DER": der,
		"PEM":      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"JWK x":    []byte(k.JWK()["x"]),
	}
	jwkJSON, _ := json.Marshal(k.JWK())
	out["JWK JSON"] = jwkJSON
	switch pub := k.Public().(type) {
	case *ecdsa.PublicKey:
		raw, err := pub.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out["raw point"] = raw
	case ed25519.PublicKey:
		out["raw key"] = pub
	}
	return out
}

// goodClaims are valid claims for a token issued at iat.
func goodClaims(iat time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":       testIssuer,
		"sub":       testClient,
		"client_id": testClient,
		"aud":       []string{testAudience},
		"iat":       iat.Unix(),
		"exp":       iat.Add(5 * time.Minute).Unix(),
		"jti":       "test-jti",
		"scope":     "ledgers:read",
	}
}

func with(c jwt.MapClaims, name string, value any) jwt.MapClaims {
	c = maps.Clone(c)
	if value == nil {
		delete(c, name)
	} else {
		c[name] = value
	}
	return c
}

func TestVerifyRejects(t *testing.T) {
	const leeway = 30 * time.Second
	es, ed := genKey(t, ES256), genKey(t, EdDSA)
	now := time.Now()
	good := goodClaims(now)
	hdr := func(k *Key) map[string]any { return map[string]any{"typ": "at+jwt", "kid": k.KID} }

	cases := map[string]string{}
	for _, k := range []*Key{es, ed} {
		alg := k.Algorithm
		// Another key of the same algorithm that claims our kid.
		impostor := genKey(t, alg)
		impostor.KID = k.KID
		cases[alg+"/other key, same kid"] = issue(t, impostor, 5*time.Minute, now).Token
		cases[alg+"/unknown kid"] = sign(t, k, map[string]any{"typ": "at+jwt", "kid": "nope"}, good)
		cases[alg+"/no kid"] = sign(t, k, map[string]any{"typ": "at+jwt"}, good)
		cases[alg+"/kid not a string"] = sign(t, k, map[string]any{"typ": "at+jwt", "kid": 1}, good)
		cases[alg+"/typ JWT"] = sign(t, k, map[string]any{"typ": "JWT", "kid": k.KID}, good)
		cases[alg+"/typ jwt"] = sign(t, k, map[string]any{"typ": "jwt", "kid": k.KID}, good)
		cases[alg+"/typ empty"] = sign(t, k, map[string]any{"typ": "", "kid": k.KID}, good)
		cases[alg+"/typ not a string"] = sign(t, k, map[string]any{"typ": 1, "kid": k.KID}, good)
		cases[alg+"/typ missing"] = sign(t, k, map[string]any{"kid": k.KID}, good)
		cases[alg+"/typ application/jwt"] = sign(t, k, map[string]any{"typ": "application/jwt", "kid": k.KID}, good)
		cases[alg+"/wrong iss"] = sign(t, k, hdr(k), with(good, "iss", "https://evil.example.test"))
		cases[alg+"/iss with trailing slash"] = sign(t, k, hdr(k), with(good, "iss", testIssuer+"/"))
		cases[alg+"/no iss"] = sign(t, k, hdr(k), with(good, "iss", nil))
		cases[alg+"/no exp"] = sign(t, k, hdr(k), with(good, "exp", nil))
		cases[alg+"/exp not a number"] = sign(t, k, hdr(k), with(good, "exp", "soon"))
		cases[alg+"/expired beyond leeway"] = sign(t, k, hdr(k), with(with(good,
			"iat", now.Add(-10*time.Minute).Unix()), "exp", now.Add(-leeway-5*time.Second).Unix()))
		cases[alg+"/iat in the future beyond leeway"] = sign(t, k, hdr(k), with(with(good,
			"iat", now.Add(leeway+5*time.Second).Unix()), "exp", now.Add(10*time.Minute).Unix()))
		cases[alg+"/nbf in the future beyond leeway"] = sign(t, k, hdr(k), with(good, "nbf", now.Add(leeway+5*time.Second).Unix()))
		cases[alg+"/no sub"] = sign(t, k, hdr(k), with(good, "sub", nil))
		cases[alg+"/no client_id"] = sign(t, k, hdr(k), with(good, "client_id", nil))
		cases[alg+"/empty sub and client_id"] = sign(t, k, hdr(k), with(with(good, "sub", ""), "client_id", ""))
		cases[alg+"/no aud"] = sign(t, k, hdr(k), with(good, "aud", nil))
		cases[alg+"/empty aud"] = sign(t, k, hdr(k), with(good, "aud", []string{}))
		cases[alg+"/invalid scope"] = sign(t, k, hdr(k), with(good, "scope", "a  b"))
		cases[alg+"/scope not a string"] = sign(t, k, hdr(k), with(good, "scope", []string{"a"}))

		// alg "none", unsigned, in its spellings.
		for _, none := range []string{"none", "None", "NONE", "nOnE"} {
			h := map[string]any{"alg": none, "typ": "at+jwt", "kid": k.KID}
			cases[alg+"/alg "+none] = handBuilt(h, good, nil)
			cases[alg+"/alg "+none+" with the real signature"] = handBuilt(h, good, func(string) []byte {
				real := strings.Split(issue(t, k, time.Minute, now).Token, ".")[2]
				sig, _ := base64.RawURLEncoding.DecodeString(real)
				return sig
			})
		}
		// Classic alg confusion: HMAC keyed with the public key.
		for enc, secret := range publicKeyEncodings(t, k) {
			for _, hs := range []string{"HS256", "HS384", "HS512"} {
				h := map[string]any{"alg": hs, "typ": "at+jwt", "kid": k.KID}
				mac := hmacSHA256(secret)
				if hs != "HS256" {
					// The verifier must refuse before checking, so any MAC will do.
					mac = func(in string) []byte { return bytes.Repeat([]byte{1}, 48) }
				}
				cases[alg+"/"+hs+" keyed with "+enc] = handBuilt(h, good, mac)
			}
		}
	}
	// Algorithm and key disagree: an EdDSA signature under the ES256 key's kid.
	cases["EdDSA signature, ES256 kid"] = sign(t, ed, map[string]any{"typ": "at+jwt", "kid": es.KID}, good)
	cases["ES256 signature, EdDSA kid"] = sign(t, es, map[string]any{"typ": "at+jwt", "kid": ed.KID}, good)

	// Sanity: the baseline of the hand-made tokens verifies, so each rejection
	// is caused by what the case changed.
	for _, k := range []*Key{es, ed} {
		v := newVerifier(t, []*Key{es, ed}, leeway, 0)
		for _, typ := range []string{"at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"} {
			if _, err := v.Verify(sign(t, k, map[string]any{"typ": typ, "kid": k.KID}, good), now); err != nil {
				t.Fatalf("%s: baseline with typ %q rejected: %v", k.Algorithm, typ, err)
			}
		}
		if _, err := v.Verify(sign(t, k, hdr(k), with(good, "aud", testAudience)), now); err != nil {
			t.Fatalf("%s: aud as a single string rejected: %v", k.Algorithm, err)
		}
	}

	for _, cacheSize := range []int64{0, 100} {
		v := newVerifier(t, []*Key{es, ed}, leeway, cacheSize)
		esOnly := newVerifier(t, []*Key{es}, leeway, cacheSize)
		for _, name := range slices.Sorted(maps.Keys(cases)) {
			raw := cases[name]
			t.Run(fmt.Sprintf("cache%d/%s", cacheSize, name), func(t *testing.T) {
				for _, v := range []*Verifier{v, esOnly} {
					for range 2 { // a refusal is not cached as a success
						got, err := v.Verify(raw, now)
						if !errors.Is(err, ErrInvalid) {
							t.Fatalf("Verify = %+v, %v; want ErrInvalid", got, err)
						}
						if got != nil {
							t.Fatalf("Verify returned %+v with an error", got)
						}
						t.Log(err)
					}
				}
			})
		}
	}
}

// TestVerifyMissingIAT: RFC 9068 §2.2 makes iat REQUIRED. A token without it,
// even one signed by our own key, must be refused, not crash the verifier.
func TestVerifyMissingIAT(t *testing.T) {
	k := genKey(t, ES256)
	v := newVerifier(t, []*Key{k}, 0, 0)
	raw := sign(t, k, map[string]any{"typ": "at+jwt", "kid": k.KID}, with(goodClaims(time.Now()), "iat", nil))
	var (
		got *Verified
		err error
	)
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Verify of a token without iat panicked: %v", r)
			}
		}()
		got, err = v.Verify(raw, time.Now())
	}()
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify = %+v, %v; want ErrInvalid", got, err)
	}
}

func TestVerifyLeeway(t *testing.T) {
	const leeway = 30 * time.Second
	k := genKey(t, ES256)
	lenient := newVerifier(t, []*Key{k}, leeway, 0)
	strict := newVerifier(t, []*Key{k}, 0, 0)
	now := time.Now()

	// Issued 70s ago with a 1m TTL: expired 10-11s ago, within the leeway.
	expiredRecently := issue(t, k, time.Minute, now.Add(-70*time.Second)).Token
	if _, err := lenient.Verify(expiredRecently, now); err != nil {
		t.Errorf("token expired within the leeway rejected: %v", err)
	}
	if _, err := strict.Verify(expiredRecently, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("expired token accepted without leeway: %v", err)
	}
	// Expired 60-61s ago: beyond the leeway.
	expiredLong := issue(t, k, time.Minute, now.Add(-2*time.Minute)).Token
	if _, err := lenient.Verify(expiredLong, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("token expired beyond the leeway: %v", err)
	}
	// Issued 10s in the future (a clock ahead of ours): within the leeway.
	early := issue(t, k, time.Minute, now.Add(10*time.Second)).Token
	if _, err := lenient.Verify(early, now); err != nil {
		t.Errorf("iat 10s ahead rejected with a 30s leeway: %v", err)
	}
	// Issued 2 minutes in the future: refused.
	future := issue(t, k, 5*time.Minute, now.Add(2*time.Minute)).Token
	if _, err := lenient.Verify(future, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("iat 2m ahead accepted: %v", err)
	}
}

func TestVerifyWrongIssuer(t *testing.T) {
	k := genKey(t, EdDSA)
	v := newVerifier(t, []*Key{k}, 0, 0)
	other := &Issuer{Key: k, Issuer: "https://other.example.test", TTL: time.Minute}
	tok, err := other.Issue(testClient, testScopes, testAudience, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok.Token, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of another issuer: %v", err)
	}
}

func TestVerifyTokenLength(t *testing.T) {
	k := genKey(t, ES256)
	v := newVerifier(t, []*Key{k}, 0, 0)
	iss := &Issuer{Key: k, Issuer: testIssuer, TTL: time.Minute}
	now := time.Now()
	// Grow the scope list until the token passes MaxTokenLength: the last
	// token within the limit verifies, the first one beyond does not.
	var list []string
	var last string
	for i := 0; ; i++ {
		list = append(list, fmt.Sprintf("s%03d:%s", i, strings.Repeat("x", 90)))
		tok, err := iss.Issue(testClient, scope.MustParse(strings.Join(list, " ")), testAudience, nil, now)
		if err != nil && !errors.Is(err, ErrTooLong) {
			t.Fatal(err)
		}
		if err != nil {
			if len(last) == 0 {
				t.Fatal("no token within the limit")
			}
			if _, err := v.Verify(last, now); err != nil {
				t.Errorf("token of %d bytes (limit %d) rejected: %v", len(last), MaxTokenLength, err)
			}
			// Issue refuses to make the next one; sign it by hand.
			jt := jwt.NewWithClaims(k.method, Claims{
				RegisteredClaims: jwt.RegisteredClaims{Issuer: testIssuer, Subject: testClient, Audience: jwt.ClaimStrings{testAudience},
					ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: "AAAAAAAAAAAAAAAAAAAAAA"},
				ClientID: testClient, Scope: strings.Join(list, " "),
			})
			jt.Header["kid"], jt.Header["typ"] = k.KID, JWTType
			long, err := jt.SignedString(k.private)
			if err != nil {
				t.Fatal(err)
			}
			if len(long) <= MaxTokenLength {
				t.Fatalf("Issue refused a token of %d bytes (limit %d)", len(long), MaxTokenLength)
			}
			if _, err := v.Verify(long, now); !errors.Is(err, ErrInvalid) {
				t.Errorf("token of %d bytes (limit %d): %v, want ErrInvalid", len(long), MaxTokenLength, err)
			}
			// It is refused for its length alone: the signature is fine.
			_, err = jwt.NewParser(jwt.WithValidMethods([]string{ES256})).
				ParseWithClaims(long, &Claims{}, func(*jwt.Token) (any, error) { return k.Public(), nil })
			if err != nil {
				t.Errorf("oversized token is not otherwise valid: %v", err)
			}
			break
		}
		last = tok.Token
	}
	huge := strings.Repeat("A", 1<<20)
	if _, err := v.Verify(huge, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("1 MiB garbage: %v", err)
	}
}

func TestVerifyGarbage(t *testing.T) {
	k := genKey(t, ES256)
	for _, cacheSize := range []int64{0, 10} {
		v := newVerifier(t, []*Key{k}, 0, cacheSize)
		valid := issue(t, k, time.Minute, time.Now()).Token
		p := strings.Split(valid, ".")
		garbage := []string{
			"", ".", "..", "...", "a", "a.b", "a.b.c", "a.b.c.d", "a.b.c.d.e",
			// Not valid + "\n": encoding/base64 skips CR and LF even in
			// strict mode, so golang-jwt accepts them inside the signature.
			"Bearer " + valid, valid + ".", "." + valid, valid + " ", " " + valid, valid + "\t",
			p[0] + "." + p[1], p[0] + "." + p[1] + ".", p[0] + ".." + p[2], "." + p[1] + "." + p[2],
			p[0] + "=." + p[1] + "." + p[2],              // padding is not base64url
			p[0] + "." + p[1] + "." + stdBase64(t, p[2]), // padded, not base64url
			"eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
			"\x00\x01\x02", "é.é.é", "null.null.null", "{}.{}.{}",
			base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","typ":"at+jwt"}`)) + "..",
		}
		for _, g := range garbage {
			got, err := v.Verify(g, time.Now())
			if !errors.Is(err, ErrInvalid) || got != nil {
				t.Errorf("Verify(%q) = %+v, %v; want ErrInvalid", g, got, err)
			}
		}
	}
}

func stdBase64(t *testing.T, seg string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// TestVerifyFlippedCharacter changes each character of valid tokens, payload
// first, to another base64url character: every one must be refused.
func TestVerifyFlippedCharacter(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			k := genKey(t, alg)
			v := newVerifier(t, []*Key{k}, 0, 0)
			valid := issue(t, k, time.Minute, time.Now()).Token
			if _, err := v.Verify(valid, time.Now()); err != nil {
				t.Fatal(err)
			}
			dot1 := strings.IndexByte(valid, '.')
			dot2 := dot1 + 1 + strings.IndexByte(valid[dot1+1:], '.')
			// A payload flip that still decodes: the signature alone stops it.
			payload, _ := base64.RawURLEncoding.DecodeString(valid[dot1+1 : dot2])
			forged := bytes.Replace(payload, []byte(testClient), []byte("blnk_cid_0123456789ABCDEFabcdeg"), -1)
			forgedTok := valid[:dot1+1] + base64.RawURLEncoding.EncodeToString(forged) + valid[dot2:]
			if _, err := v.Verify(forgedTok, time.Now()); !errors.Is(err, ErrInvalid) {
				t.Errorf("payload with another client ID: %v", err)
			}
			for i := range len(valid) {
				if valid[i] == '.' {
					continue
				}
				b := []byte(valid)
				b[i] = b64url[(strings.IndexByte(b64url, b[i])+1)%len(b64url)]
				if got, err := v.Verify(string(b), time.Now()); !errors.Is(err, ErrInvalid) {
					part := "header"
					if i > dot2 {
						part = "signature"
					} else if i > dot1 {
						part = "payload"
					}
					t.Fatalf("%s character %d changed: Verify = %+v, %v; want ErrInvalid", part, i, got, err)
				}
			}
		})
	}
}

// waitCached verifies raw until the verifier answers from its cache: two
// consecutive calls return the same pointer.
func waitCached(t testing.TB, v *Verifier, raw string, now time.Time) *Verified {
	t.Helper()
	prev, err := v.Verify(raw, now)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v.cache.Wait()
		got, err := v.Verify(raw, now)
		if err != nil {
			t.Fatal(err)
		}
		if got == prev {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatal("token never cached")
		}
		prev = got
	}
}

func TestVerifyCacheReturnsSamePointer(t *testing.T) {
	k := genKey(t, ES256)
	v := newVerifier(t, []*Key{k}, 0, 100)
	now := time.Now()
	a := issue(t, k, time.Minute, now).Token
	b := issue(t, k, time.Minute, now).Token
	first, err := v.Verify(a, now)
	if err != nil {
		t.Fatal(err)
	}
	v.cache.Wait()
	second, err := v.Verify(a, now)
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		// ristretto may drop a Set; it must not be dropped forever.
		second = waitCached(t, v, a, now)
	}
	for range 3 {
		if got, err := v.Verify(a, now); err != nil || got != second {
			t.Fatalf("cached Verify = %p, %v; want %p", got, err, second)
		}
	}
	other := waitCached(t, v, b, now)
	if other == second || other.JTI == second.JTI {
		t.Error("two tokens share a cache entry")
	}
	// The uncached verifier builds a new result each time.
	u := newVerifier(t, []*Key{k}, 0, 0)
	x, _ := u.Verify(a, now)
	y, _ := u.Verify(a, now)
	if x == nil || x == y {
		t.Errorf("uncached Verify returned %p twice", x)
	}
}

func TestVerifyCachedTokenExpires(t *testing.T) {
	const leeway = 30 * time.Second
	k := genKey(t, EdDSA)
	v := newVerifier(t, []*Key{k}, leeway, 100)
	now := time.Now()
	raw := issue(t, k, time.Minute, now).Token
	cached := waitCached(t, v, raw, now)
	exp := cached.ExpiresAt

	if got, err := v.Verify(raw, exp.Add(leeway-time.Second)); err != nil || got != cached {
		t.Errorf("within the leeway after exp: %p, %v; want the cached %p", got, err, cached)
	}
	for _, at := range []time.Time{exp.Add(leeway), exp.Add(leeway + time.Second), exp.Add(time.Hour)} {
		if got, err := v.Verify(raw, at); !errors.Is(err, ErrInvalid) || got != nil {
			t.Errorf("cached token at exp%+v: %+v, %v; want ErrInvalid", at.Sub(exp), got, err)
		}
	}
}

func TestVerifyConcurrent(t *testing.T) {
	k := genKey(t, ES256)
	v := newVerifier(t, []*Key{k}, 0, 1000)
	now := time.Now()
	toks := make([]string, 8)
	for i := range toks {
		toks[i] = issue(t, k, time.Minute, now).Token
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := v.Verify(toks[(g+i)%len(toks)], now); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNewVerifierLeeway(t *testing.T) {
	k := genKey(t, ES256)
	for _, l := range []time.Duration{0, time.Second, MaxLeeway} {
		v, err := NewVerifier([]*Key{k}, testIssuer, l, 10)
		if err != nil {
			t.Errorf("leeway %v: %v", l, err)
			continue
		}
		v.Close()
	}
	if MaxLeeway != 60*time.Second {
		t.Errorf("MaxLeeway = %v, want 60s", MaxLeeway)
	}
	for _, l := range []time.Duration{-time.Nanosecond, MaxLeeway + time.Nanosecond, 61 * time.Second, time.Hour} {
		if v, err := NewVerifier([]*Key{k}, testIssuer, l, 10); err == nil {
			v.Close()
			t.Errorf("leeway %v accepted", l)
		}
	}
}

// TestIssueWorstCaseFits: the arithmetic behind MaxURLLength and
// MaxScopeLength. With the longest issuer and audience (their JSON escapes
// included), the longest scope claim and eleven-digit times, a token of
// either algorithm is exactly the 3858 bytes the comment on the bounds adds
// up, within MaxTokenLength; one that would not fit is refused.
func TestIssueWorstCaseFits(t *testing.T) {
	pad := func(prefix string) string {
		u := prefix + strings.Repeat("&", (MaxURLLength-ClaimLength(prefix))/6)
		u += strings.Repeat("p", MaxURLLength-ClaimLength(u))
		if ClaimLength(u) != MaxURLLength {
			t.Fatalf("pad: %d", ClaimLength(u))
		}
		return u
	}
	issuer, audience := pad("https://auth.example.test/"), pad("https://api.example.test/")
	var list []string
	for i := 0; len(strings.Join(list, " ")) < MaxScopeLength; i++ {
		n := min(scope.MaxLength, MaxScopeLength-len(strings.Join(list, " "))-1)
		list = append(list, fmt.Sprintf("s%02d:", i)+strings.Repeat("<", n-4))
	}
	scopes := scope.MustParse(strings.Join(list, " "))
	if len(scopes.String()) != MaxScopeLength {
		t.Fatalf("scopes of %d bytes", len(scopes.String()))
	}
	far := time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC) // eleven-digit exp and iat
	for _, alg := range []string{ES256, EdDSA} {
		k := genKey(t, alg)
		iss := &Issuer{Key: k, Issuer: issuer, TTL: 24 * time.Hour}
		tok, err := iss.Issue(testClient, scopes, audience, nil, far)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if len(tok.Token) != 3858 || len(tok.Token) > MaxTokenLength {
			t.Errorf("%s: worst-case token of %d bytes, want the 3858 the bounds add up to", alg, len(tok.Token))
		}
		// A person's longest subject (escaped quotes count twice) adds at most 172.
		person, err := iss.IssueFor(strings.Repeat(`"`, MaxSubjectLength/2), testClient, scopes, audience, nil, far)
		if err != nil || len(person.Token) > 3858+172 || len(person.Token) > MaxTokenLength {
			t.Errorf("%s: worst-case person token of %d bytes (%v)", alg, len(person.Token), err)
		}
		// Today's times are shorter; the token verifies.
		v, err := NewVerifier([]*Key{k}, issuer, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		tok, err = iss.Issue(testClient, scopes, audience, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := v.Verify(tok.Token, now); err != nil || got.Scopes.String() != scopes.String() || !got.HasAudience(audience) {
			t.Errorf("%s: the longest token does not verify: %v", alg, err)
		}
		// Past the bounds, Issue refuses rather than mint a token nobody accepts.
		wide := scope.MustParse(scopes.String() + " " + strings.Repeat("w", scope.MaxLength) + " " + strings.Repeat("v", scope.MaxLength))
		if _, err := iss.Issue(testClient, wide, audience, nil, far); !errors.Is(err, ErrTooLong) {
			t.Errorf("%s: token over the limit: err = %v, want ErrTooLong", alg, err)
		}
	}
}
