package clientassertion

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	jose "github.com/go-jose/go-jose/v4"
)

// Type is the client_assertion_type of a JWT client assertion (RFC 7523 §2.2).
const Type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Limits on an assertion.
const (
	// MaxLength bounds an assertion; a real one is well under 2 KiB (an
	// RSA-4096 signature is 683 characters).
	MaxLength = 8 << 10
	// MaxJTILength bounds a jti, which the store keeps until it expires.
	MaxJTILength = 256
	// DefaultMaxLifetime is how far in the future an assertion's exp may
	// be: an assertion is made for one request, and its jti is kept until it
	// expires.
	DefaultMaxLifetime = 5 * time.Minute
)

// ErrUnknownKey: the assertion names a kid that none of the client's keys
// has. With a jwks_uri the set may have changed: fetch it again, then retry.
var ErrUnknownKey = errors.New("no key of the client has the assertion's kid")

// Assertion is a parsed, not yet verified, client assertion.
type Assertion struct {
	jws    *jose.JSONWebSignature
	alg    string
	kid    string
	claims claims
	// typed: the header's typ is client-authentication+jwt
	// (draft-ietf-oauth-rfc7523bis), which asks for its audience rule.
	typed bool
}

// TypedType is the typ of an explicitly typed client assertion
// (draft-ietf-oauth-rfc7523bis): its aud must be the issuer, as one string.
const TypedType = "client-authentication+jwt"

// checkType accepts no typ, a JWT's (RFC 7519 §5.1) or TypedType, with or
// without the "application/" prefix, in any case (RFC 7515 §4.1.9). Another
// typ is another kind of JWT (an access token, a DPoP proof) the client's
// key signed for another purpose: not an assertion (RFC 8725 §3.11).
func checkType(typ string) (typed bool, err error) {
	t := typ
	if len(t) > len("application/") && strings.EqualFold(t[:len("application/")], "application/") {
		t = t[len("application/"):]
	}
	switch {
	case t == "" && typ == "", strings.EqualFold(t, "jwt"):
		return false, nil
	case strings.EqualFold(t, TypedType):
		return true, nil
	}
	return false, fmt.Errorf("typ %q is not a client assertion's", typ)
}

// claims are the members RFC 7523 §3 speaks of. Pointers tell absent from
// zero; a number in quotes or of the wrong type is an error.
type claims struct {
	Iss *string          `json:"iss"`
	Sub *string          `json:"sub"`
	Aud *json.RawMessage `json:"aud"`
	Exp *float64         `json:"exp"`
	Nbf *float64         `json:"nbf"`
	Iat *float64         `json:"iat"`
	Jti *string          `json:"jti"`
}

// Parse reads an assertion in JWS Compact Serialization (RFC 7515 §7.1)
// signed with one of Algorithms, without verifying it.
func Parse(s string) (*Assertion, error) {
	if len(s) > MaxLength {
		return nil, fmt.Errorf("the assertion is longer than %d bytes", MaxLength)
	}
	jws, err := jose.ParseSignedCompact(s, joseAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("not a JWS signed with one of %v: %v", Algorithms, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("not one signature")
	}
	h := jws.Signatures[0].Protected
	// An assertion is a JWT (RFC 7523 §3): base64url payload, no extension a
	// verifier must understand. go-jose implements RFC 7797's b64: false,
	// which other verifiers refuse; refuse it, and any crit, here too.
	for _, name := range []jose.HeaderKey{"crit", "b64"} {
		if _, has := h.ExtraHeaders[name]; has {
			return nil, fmt.Errorf("the header has %q: no JWS extension is accepted", name)
		}
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if _, has := h.ExtraHeaders[jose.HeaderType]; has && typ == "" {
		return nil, errors.New("typ is not a string")
	}
	typed, err := checkType(typ)
	if err != nil {
		return nil, err
	}
	a := &Assertion{jws: jws, alg: h.Algorithm, kid: h.KeyID, typed: typed}
	if err := strictUnmarshal(jws.UnsafePayloadWithoutVerification(), &a.claims, "iss", "sub", "aud", "exp", "nbf", "iat", "jti"); err != nil {
		return nil, fmt.Errorf("the claims are not a JSON object of the expected members: %v", err)
	}
	return a, nil
}

// Issuer is the iss the assertion claims, unverified: which client says it
// signed it, so that its keys can be looked up. "" if absent.
func (a *Assertion) Issuer() string {
	if a.claims.Iss == nil {
		return ""
	}
	return *a.claims.Iss
}

// KeyID is the kid of the assertion's header, "" if none.
func (a *Assertion) KeyID() string { return a.kid }

// Policy is what the authorization server requires of an assertion.
type Policy struct {
	// Audiences are the values aud may have (the issuer first, then the
	// token endpoint): aud must be exactly one of them, alone. A typed
	// assertion (TypedType) must have the first, the issuer.
	Audiences []string
	// MaxLifetime bounds exp: at most this far after now (plus Leeway).
	// DefaultMaxLifetime when 0.
	MaxLifetime time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway time.Duration
}

// Verified is what a verified assertion says.
type Verified struct {
	// JTI identifies the assertion; it must be used once only.
	JTI string
	// UsableUntil is exp plus the leeway: until then the assertion would be
	// accepted, so its jti must be remembered that long.
	UsableUntil time.Time
}

// Verify checks RFC 7523 §3 for clientID: a signature by a key of keys that
// fits the algorithm (the kid's key if the header names one), iss and sub
// equal to clientID, aud one of p.Audiences, exp present, not past and not
// too far ahead, nbf and iat (if present) not in the future, and a jti. It
// does not check that the jti is new: that is the caller's, with a store.
func (p Policy) Verify(a *Assertion, clientID string, keys *KeySet, now time.Time) (Verified, error) {
	if err := a.verifySignature(keys); err != nil {
		return Verified{}, err
	}
	c := &a.claims
	switch {
	case c.Iss == nil || *c.Iss != clientID:
		return Verified{}, errors.New("iss is not the client ID")
	case c.Sub == nil || *c.Sub != clientID:
		return Verified{}, errors.New("sub is not the client ID")
	case c.Jti == nil || *c.Jti == "":
		return Verified{}, errors.New("jti is required")
	case len(*c.Jti) > MaxJTILength:
		return Verified{}, fmt.Errorf("jti is longer than %d bytes", MaxJTILength)
	case strings.IndexFunc(*c.Jti, unicode.IsControl) >= 0:
		// PostgreSQL cannot store a NUL in text (its replay insert would fail
		// where SQLite's succeeds); no control character belongs in an ID.
		return Verified{}, errors.New("jti has control characters")
	}
	if err := p.checkAudience(c.Aud, a.typed); err != nil {
		return Verified{}, err
	}
	if c.Exp == nil {
		return Verified{}, errors.New("exp is required")
	}
	exp, ok := numericDate(*c.Exp)
	if !ok {
		return Verified{}, errors.New("exp is out of range")
	}
	maxLife := p.MaxLifetime
	if maxLife <= 0 {
		maxLife = DefaultMaxLifetime
	}
	switch {
	case !now.Before(exp.Add(p.Leeway)):
		return Verified{}, errors.New("the assertion has expired")
	case exp.After(now.Add(maxLife + p.Leeway)):
		return Verified{}, fmt.Errorf("the assertion is valid for more than %s", maxLife)
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"nbf", c.Nbf}, {"iat", c.Iat}} {
		if f.v == nil {
			continue
		}
		t, ok := numericDate(*f.v)
		if !ok || t.After(now.Add(p.Leeway)) {
			return Verified{}, fmt.Errorf("%s is in the future", f.name)
		}
	}
	return Verified{JTI: *c.Jti, UsableUntil: exp.Add(p.Leeway)}, nil
}

// verifySignature finds the key and checks the signature.
func (a *Assertion) verifySignature(keys *KeySet) error {
	if keys == nil || keys.Len() == 0 {
		return errors.New("the client has no keys")
	}
	if a.kid != "" && !keys.hasKID(a.kid) {
		return ErrUnknownKey
	}
	cands := keys.candidates(a.alg, a.kid, a.kid != "")
	if len(cands) == 0 {
		return fmt.Errorf("no key of the client fits algorithm %s", a.alg)
	}
	for _, k := range cands {
		if _, err := a.jws.Verify(k.Key); err == nil {
			return nil
		}
	}
	return errors.New("the signature does not verify")
}

// checkAudience: aud is one string (or an array of one) equal to one of
// p.Audiences. An array naming other audiences too is refused, so an
// assertion made for another server cannot be replayed here. A typed
// assertion (TypedType) follows draft-ietf-oauth-rfc7523bis: aud is the
// issuer, p.Audiences[0], as one JSON string.
func (p Policy) checkAudience(raw *json.RawMessage, typed bool) error {
	if raw == nil {
		return errors.New("aud is required")
	}
	var aud string
	if typed {
		if err := json.Unmarshal(*raw, &aud); err != nil || len(p.Audiences) == 0 || aud != p.Audiences[0] {
			return errors.New("a client-authentication+jwt assertion's aud must be the issuer, as one string")
		}
		return nil
	}
	if err := json.Unmarshal(*raw, &aud); err != nil {
		var list []string
		if err := json.Unmarshal(*raw, &list); err != nil || len(list) != 1 {
			return errors.New("aud must be one string")
		}
		aud = list[0]
	}
	for _, want := range p.Audiences {
		if aud == want {
			return nil
		}
	}
	return errors.New("aud is neither the issuer nor the token endpoint")
}

// numericDate is RFC 7519 §2's NumericDate as a time, if it is one a clock
// can mean (year 1970 to 9999).
func numericDate(v float64) (time.Time, bool) {
	if math.IsNaN(v) || v < 0 || v > 253402300799 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
