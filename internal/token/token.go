package token

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// JWTType is the RFC 9068 §2.1 "typ" header of an access token.
const JWTType = "at+jwt"

// MaxTokenLength refuses absurd bearer values before any parsing.
const MaxTokenLength = 4096

// Bounds on what goes into a token, chosen so that every token Issue makes
// fits in MaxTokenLength, whatever the client, key or time:
//
//	header  {"alg":"ES256","kid":"<43>","typ":"at+jwt"}      82 bytes →  110 base64url
//	claims  punctuation and names 75, sub and client_id 2×31,
//	        jti 22, exp and iat 2×11 digits (until year 5138)   181 bytes
//	        iss and aud, quoted: 2×(MaxURLLength+2)            1028 bytes
//	        scope: MaxScopeLength                              1536 bytes
//	        in all                                             2745 bytes → 3660 base64url
//	sig     ES256 (r‖s) or Ed25519: 64 bytes                              →   86 base64url
//	two dots                                                                   2
//	                                                                        3858 ≤ 4096
//
// The kid is the 43-character RFC 7638 thumbprint and both algorithm names
// have five letters. TestIssueWorstCaseFits checks the sum on real tokens.
const (
	// MaxURLLength bounds the issuer and an audience (a resource) as a token
	// carries them: their JSON string without the quotes, where & < > count
	// six bytes each (see ClaimLength).
	MaxURLLength = 512
	// MaxScopeLength bounds a token's scope claim: the scopes joined by single
	// spaces. Scope tokens need no JSON escaping.
	MaxScopeLength = 1536
)

// ClaimLength is the length of s as a token's claims carry it: its JSON
// string without the quotes.
func ClaimLength(s string) int {
	b, _ := json.Marshal(s) // a string always marshals
	return len(b) - 2
}

// ErrTooLong: the token would exceed MaxTokenLength, so nobody would accept
// it; only a client stored with more scopes than MaxScopeLength allows (or a
// caller bypassing the bounds on the issuer and audience) gets it.
// ErrNoSigningKey: no key signs now (every key of the algorithm was
// revoked, and no successor opened here yet): a passing condition, not a
// fault of the client's.
var ErrNoSigningKey = errors.New("no signing key is active")

var ErrTooLong = errors.New("the token would be longer than " + strconv.Itoa(MaxTokenLength) + " bytes")

// MaxLeeway is the largest clock skew tolerated when checking exp and iat.
const MaxLeeway = time.Minute

// MaxTTL is the longest lifetime a token may be issued with (the app's
// token_ttl is at most this).
const MaxTTL = 24 * time.Hour

// Claims are the RFC 9068 §2.2 claims of an access token.
type Claims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// Issuer mints access tokens.
type Issuer struct {
	Key    *Key
	Issuer string
	TTL    time.Duration

	once sync.Once
	// header is the encoded JOSE header and issJSON the JSON string of the
	// issuer: both the same for every token, so made once.
	header, issJSON string
}

// Issued is a freshly minted token.
type Issued struct {
	Token     string
	ExpiresIn int64 // seconds, as in RFC 6749 §5.1
	// JTI and ExpiresAt are set by IssueFor only (Issue's callers need
	// neither, and the hot path stays free of the allocation).
	JTI       string
	ExpiresAt time.Time
}

// Issue mints a token for clientID with scopes, for audience. Its expiry is
// now+TTL but never later than clientExpires (nil: the client never expires).
//
// The JWT is assembled by hand from parts made once, rather than through
// reflection-based JSON per token; client IDs, scope tokens and jti contain
// nothing JSON must escape, and the strings that might are marshalled.
func (i *Issuer) Issue(clientID string, scopes scope.Set, audience string, clientExpires *time.Time, now time.Time) (Issued, error) {
	return i.issue("", clientID, scopes, audience, clientExpires, now)
}

// MaxSubjectLength bounds the "sub" of a token issued to a person (its JSON
// string without quotes): with it, every token still fits MaxTokenLength
// (the 31 bytes of a client ID's sub counted above grow by at most 129 raw
// bytes, 172 in base64url, and 3858+172 ≤ 4096).
const MaxSubjectLength = 160

// ErrSubjectTooLong: the person's identifier is longer than MaxSubjectLength.
var ErrSubjectTooLong = errors.New("the subject is longer than " + strconv.Itoa(MaxSubjectLength) + " bytes")

// IssueFor is Issue for a token a client holds on behalf of a person (the
// authorization-code flow): "sub" is subject, the person, and "client_id"
// the client (RFC 9068 §2.2).
func (i *Issuer) IssueFor(subject, clientID string, scopes scope.Set, audience string, clientExpires *time.Time, now time.Time) (Issued, error) {
	if subject == "" || ClaimLength(subject) > MaxSubjectLength {
		return Issued{}, ErrSubjectTooLong
	}
	sub, err := json.Marshal(subject)
	if err != nil {
		return Issued{}, err
	}
	return i.issue(string(sub), clientID, scopes, audience, clientExpires, now)
}

// issue mints a token; subJSON is the JSON string of "sub", or "" for the client ID.
func (i *Issuer) issue(subJSON, clientID string, scopes scope.Set, audience string, clientExpires *time.Time, now time.Time) (Issued, error) {
	now = now.Truncate(time.Second)
	exp := now.Add(i.TTL)
	if clientExpires != nil && clientExpires.Before(exp) {
		exp = clientExpires.Truncate(time.Second)
	}
	if !exp.After(now) {
		return Issued{}, errors.New("client expires within a second")
	}
	i.once.Do(func() {
		h, _ := json.Marshal(map[string]string{"alg": i.Key.Algorithm, "kid": i.Key.KID, "typ": JWTType})
		i.header = base64.RawURLEncoding.EncodeToString(h)
		iss, _ := json.Marshal(i.Issuer)
		i.issJSON = string(iss)
	})
	aud, err := json.Marshal(audience)
	if err != nil {
		return Issued{}, err
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	var jtiText [22]byte
	base64.RawURLEncoding.Encode(jtiText[:], jti[:])

	claims := make([]byte, 0, 256)
	claims = append(claims, `{"iss":`...)
	claims = append(claims, i.issJSON...)
	if subJSON == "" {
		claims = append(claims, `,"sub":"`...)
		claims = append(claims, clientID...)
		claims = append(claims, `","aud":[`...)
	} else {
		claims = append(claims, `,"sub":`...)
		claims = append(claims, subJSON...)
		claims = append(claims, `,"aud":[`...)
	}
	claims = append(claims, aud...)
	claims = append(claims, `],"exp":`...)
	claims = strconv.AppendInt(claims, exp.Unix(), 10)
	claims = append(claims, `,"iat":`...)
	claims = strconv.AppendInt(claims, now.Unix(), 10)
	claims = append(claims, `,"jti":"`...)
	claims = append(claims, jtiText[:]...)
	claims = append(claims, `","client_id":"`...)
	claims = append(claims, clientID...)
	claims = append(claims, `","scope":"`...)
	claims = append(claims, scopes.String()...)
	claims = append(claims, `"}`...)

	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(i.header)+1+enc.EncodedLen(len(claims))+1+128)
	buf = append(buf, i.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, claims)
	sig, err := i.Key.method.Sign(string(buf), i.Key.private)
	if err != nil {
		return Issued{}, fmt.Errorf("signing access token: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	if len(buf) > MaxTokenLength {
		return Issued{}, ErrTooLong
	}
	out := Issued{Token: string(buf), ExpiresIn: int64(exp.Sub(now) / time.Second)}
	if subJSON != "" {
		out.JTI, out.ExpiresAt = string(jtiText[:]), exp
	}
	return out, nil
}

// Verified is what a valid token says.
type Verified struct {
	raw string
	// KID is the key that signed it: a cached token is refused once that key
	// is no longer trusted, and requests in flight with it end.
	KID      string
	ClientID string
	// Subject is "sub": the client ID, or the person a client acts for
	// (authorization-code flow).
	Subject   string
	Scopes    scope.Set
	Audience  []string
	ExpiresAt time.Time
	IssuedAt  time.Time
	JTI       string
	// BoxedScopes is Scopes.String() as an interface value, made once per
	// verification so request paths storing it in interface-typed maps
	// (placeholders) do not allocate per request.
	BoxedScopes any
}

// HasAudience reports whether aud is one of the token's audiences.
func (v *Verified) HasAudience(aud string) bool {
	for _, a := range v.Audience {
		if a == aud {
			return true
		}
	}
	return false
}

// ErrInvalid is wrapped by every verification failure: the token is not one
// this gateway issued, or it has expired.
var ErrInvalid = errors.New("invalid access token")

// Verifier checks tokens against the gateway's public keys. Signature checks
// cost tens of microseconds, so a token verified once is remembered, keyed by
// its full text and only until it expires.
type Verifier struct {
	// keys are the trusted keys by kid; SetKeys replaces them as keys
	// rotate.
	keys   atomic.Pointer[map[string]*Key]
	issuer string
	leeway time.Duration
	parser *jwt.Parser
	cache  *ristretto.Cache[string, *Verified]

	// Refresh, if not nil, is called when a token names a kid the verifier
	// does not trust: another instance may have published or activated a key
	// a moment ago. It reloads the keys (calling SetKeys) and reports whether
	// it did; the kid is then looked up once more. It must bound its own cost
	// (collapse concurrent calls, reload at most so often): anyone can send a
	// made-up kid. Set it before the first Verify.
	Refresh func(kid string) bool
}

// NewVerifier trusts keys, for tokens from issuer. cacheSize bounds the verified-token cache (0 disables it).
func NewVerifier(keys []*Key, issuer string, leeway time.Duration, cacheSize int64) (*Verifier, error) {
	if leeway < 0 || leeway > MaxLeeway {
		return nil, fmt.Errorf("leeway %s out of range (0 to %s)", leeway, MaxLeeway)
	}
	v := &Verifier{issuer: issuer, leeway: leeway}
	v.SetKeys(keys)
	// Only the algorithms our keys may have: never "none", never HMAC with a
	// public key; the key named by kid must have the token's algorithm.
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{ES256, EdDSA}),
		jwt.WithIssuer(issuer),
		jwt.WithLeeway(leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	)
	if cacheSize > 0 {
		c, err := ristretto.NewCache(&ristretto.Config[string, *Verified]{
			NumCounters:        cacheSize * 10,
			MaxCost:            cacheSize,
			BufferItems:        64,
			IgnoreInternalCost: true,
		})
		if err != nil {
			return nil, err
		}
		v.cache = c
	}
	return v, nil
}

// SetKeys replaces the trusted keys. A token signed by a key no longer in
// keys is refused from now on, even if it was verified and cached before.
func (v *Verifier) SetKeys(keys []*Key) {
	m := make(map[string]*Key, len(keys))
	for _, k := range keys {
		m[k.KID] = k
	}
	v.keys.Store(&m)
}

// Trusts reports whether the key kid is trusted now.
func (v *Verifier) Trusts(kid string) bool {
	_, ok := (*v.keys.Load())[kid]
	return ok
}

// Close releases the cache.
func (v *Verifier) Close() {
	if v.cache != nil {
		v.cache.Close()
	}
}

// Verify checks raw's signature, typ, iss, exp and iat. Audience is the
// caller's to check (it depends on the route). now decides expiry of a token
// served from the cache; a first verification checks exp and iat against the
// system clock (the JWT parser's), which is what callers pass as now anyway.
func (v *Verifier) Verify(raw string, now time.Time) (*Verified, error) {
	if t, ok, err := v.Cached(raw, now); ok || err != nil {
		return t, err
	}
	t, err := v.verify(raw)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.SetWithTTL(raw, t, 1, t.ExpiresAt.Add(v.leeway).Sub(now))
	}
	return t, nil
}

// ErrMalformed: the bearer value is not an RFC 6750 §2.1 b64token, so it
// cannot be a token at all (a 400, where ErrInvalid is a 401).
var ErrMalformed = errors.New("malformed bearer token")

// VerifyBearer is Verify for a bearer value straight from a request: on a
// miss of the verified-token cache it first checks the value's syntax
// (IsB64Token), returning ErrMalformed, then verifies it. The cache is
// consulted once: a cached token is byte-identical to one that passed the
// check, and scanning hundreds of bytes per request was a fifth of the
// request path's time.
func (v *Verifier) VerifyBearer(raw string, now time.Time) (*Verified, error) {
	if t, ok, err := v.Cached(raw, now); ok || err != nil {
		return t, err
	}
	if !IsB64Token(raw) {
		return nil, ErrMalformed
	}
	t, err := v.verify(raw)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.SetWithTTL(raw, t, 1, t.ExpiresAt.Add(v.leeway).Sub(now))
	}
	return t, nil
}

// b64tokenChars marks the bytes of RFC 6750 §2.1's b64token before padding:
// ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/". A table, because every
// uncached token is scanned, several hundred bytes of it.
var b64tokenChars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", byte(c)) >= 0
	}
	return t
}()

// IsB64Token checks RFC 6750 §2.1's b64token, 1*( ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/" ) *"=", at most MaxTokenLength bytes.
func IsB64Token(s string) bool {
	if s == "" || len(s) > MaxTokenLength {
		return false
	}
	i := 0
	for i < len(s) && b64tokenChars[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// Cached answers from the verified-token cache alone: ok when raw is a token
// verified before (byte for byte: ristretto keeps only hashes of keys, so the
// full text is compared and a hash collision is harmless), err when that
// token has expired since. A miss is (nil, false, nil).
func (v *Verifier) Cached(raw string, now time.Time) (*Verified, bool, error) {
	if v.cache == nil {
		return nil, false, nil
	}
	t, ok := v.cache.Get(raw)
	if !ok || t.raw != raw {
		return nil, false, nil
	}
	if !now.Before(t.ExpiresAt.Add(v.leeway)) {
		return nil, false, fmt.Errorf("%w: token has expired", ErrInvalid)
	}
	if _, ok := (*v.keys.Load())[t.KID]; !ok {
		// Its key was revoked (an emergency rotation) or retired since.
		return nil, false, fmt.Errorf("%w: signing key no longer trusted", ErrInvalid)
	}
	return t, true, nil
}

// maxMembers bounds the members of a header or claims object: ours have 3
// and 8.
const maxMembers = 32

// uniqueNames reports whether the base64url JSON object seg names each of its
// members once, comparing names after unescaping ("sco\u0070e" is "scope")
// and without regard to case, as encoding/json matches struct fields. A
// scanner rather than a decoder: it allocates only the decoded segment, and
// runs on every uncached verification.
func uniqueNames(seg string) bool {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return false
	}
	var names [maxMembers][]byte
	n := 0
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' || n == maxMembers {
			return false
		}
		end, escaped := skipString(b, i)
		if end < 0 {
			return false
		}
		name := b[i+1 : end-1]
		if escaped {
			var s string
			if json.Unmarshal(b[i:end], &s) != nil {
				return false
			}
			name = []byte(s)
		}
		for _, prev := range names[:n] {
			if bytes.EqualFold(prev, name) {
				return false
			}
		}
		names[n] = name
		n++
		if i = skipSpace(b, end); i >= len(b) || b[i] != ':' {
			return false
		}
		if i = skipValue(b, skipSpace(b, i+1)); i < 0 {
			return false
		}
		switch i = skipSpace(b, i); {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at b[i] (a
// quote), and whether it holds an escape; -1 if it does not end.
func skipString(b []byte, i int) (int, bool) {
	escaped := false
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i + 1, escaped
		}
	}
	return -1, escaped
}

// skipValue returns the index after the JSON value starting at b[i], or -1.
// The parser has already decoded the whole text, so it need not validate.
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			end, _ := skipString(b, i)
			if end < 0 {
				return -1
			}
			i = end
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			i++
		case ',':
			if depth == 0 {
				return i
			}
			i++
		default:
			i++
		}
		if depth == 0 && i < len(b) && (b[i] == ',' || b[i] == '}' || b[i] == ']') {
			return i
		}
	}
	if depth == 0 {
		return i
	}
	return -1
}

func (v *Verifier) verify(raw string) (*Verified, error) {
	if len(raw) > MaxTokenLength {
		return nil, fmt.Errorf("%w: token too long", ErrInvalid)
	}
	// The base64 decoder skips line breaks; refuse them so one token has one spelling.
	if strings.ContainsAny(raw, "\r\n") {
		return nil, fmt.Errorf("%w: line break in token", ErrInvalid)
	}
	var claims Claims
	var kid string
	tok, err := v.parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, JWTType) && !strings.EqualFold(typ, "application/"+JWTType) {
			return nil, errors.New(`"typ" header is not at+jwt`)
		}
		// RFC 7515 §4.1.11: an extension listed in "crit" must be understood;
		// we understand none, and never send one.
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New(`"crit" header`)
		}
		kid, _ = t.Header["kid"].(string)
		k, ok := (*v.keys.Load())[kid]
		if !ok && kid != "" && v.Refresh != nil && v.Refresh(kid) {
			k, ok = (*v.keys.Load())[kid]
		}
		if !ok {
			return nil, errors.New("unknown signing key")
		}
		if t.Method.Alg() != k.Algorithm {
			return nil, errors.New("algorithm does not match the key")
		}
		return k.Public(), nil
	})
	if err != nil || !tok.Valid {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// sub is the client itself, or the person it acts for: the client is
	// always client_id, which decides access.
	if claims.ClientID == "" || claims.Subject == "" {
		return nil, fmt.Errorf("%w: client_id or sub missing", ErrInvalid)
	}
	if len(claims.Audience) == 0 {
		return nil, fmt.Errorf("%w: no audience", ErrInvalid)
	}
	if claims.IssuedAt == nil { // RFC 9068 §2.2: required; read below
		return nil, fmt.Errorf("%w: no iat", ErrInvalid)
	}
	// Refusals below concern tokens our key signed that Issue never makes:
	// they matter once a key leaks, and cost nothing next to the signature.
	if claims.ID == "" { // RFC 9068 §2.2: required; a token without one cannot be revoked
		return nil, fmt.Errorf("%w: no jti", ErrInvalid)
	}
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > MaxTTL+v.leeway {
		return nil, fmt.Errorf("%w: lifetime longer than %s", ErrInvalid, MaxTTL)
	}
	// JSON parsers disagree on which of two equal names wins (RFC 7519 §4
	// lets a JWT with duplicates be refused), so no token may have any.
	header, payload, _ := strings.Cut(raw, ".")
	payload, _, _ = strings.Cut(payload, ".")
	if !uniqueNames(header) || !uniqueNames(payload) {
		return nil, fmt.Errorf("%w: a header parameter or claim named twice", ErrInvalid)
	}
	scopes, err := scope.Parse(claims.Scope)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &Verified{
		raw:         raw,
		KID:         kid,
		ClientID:    claims.ClientID,
		Subject:     claims.Subject,
		Scopes:      scopes,
		Audience:    claims.Audience,
		ExpiresAt:   claims.ExpiresAt.Time,
		IssuedAt:    claims.IssuedAt.Time,
		JTI:         claims.ID,
		BoxedScopes: scopes.String(),
	}, nil
}
