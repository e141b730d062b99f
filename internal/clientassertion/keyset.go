// Package clientassertion authenticates OAuth clients by JWT: RFC 7523 §2.2
// client assertions (private_key_jwt, OpenID Connect Core §9) signed with a
// key of the client's registered JWK Set (RFC 7517 §5). It knows nothing of
// clients, stores or HTTP: the authorization server finds the client and its
// keys, this package judges the assertion.
package clientassertion

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientmetadata"
)

// Limits on a registered JWK Set.
const (
	// MaxKeySetSize bounds a JWK Set's JSON, inline or fetched.
	MaxKeySetSize = 64 << 10
	// MaxKeys bounds the keys of one set: an assertion without kid is tried
	// against each key fitting its algorithm.
	MaxKeys = 16
	// MinRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
	MinRSABits = 2048
)

// Algorithms are the JWS algorithms (RFC 7518 §3, RFC 8037) an assertion may
// be signed with: asymmetric only. "none" and the HMAC algorithms (which
// would need a secret shared with the server) are refused.
var Algorithms = []string{"ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}

var joseAlgorithms = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// KeySet is a client's public keys, checked.
type KeySet struct {
	keys []jose.JSONWebKey
}

// Len is the number of keys.
func (ks *KeySet) Len() int { return len(ks.keys) }

// privateMembers are the JWK members that carry private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4, RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParseKeySet reads and checks a JWK Set: at most MaxKeys keys, each an
// asymmetric public key (EC P-256/P-384/P-521, Ed25519, RSA of at least
// MinRSABits) meant for signatures, with distinct kids. A set holding a
// private key is refused: whoever pasted it has leaked it.
func ParseKeySet(b []byte) (*KeySet, error) {
	if len(b) > MaxKeySetSize {
		return nil, fmt.Errorf("the JWK Set is larger than %d bytes", MaxKeySetSize)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	// The rules a fetched jwks_uri document must pass too: members in one
	// case only, kty present, no symmetric key, no private key material.
	if err := clientmetadata.CheckJWKS(b); err != nil {
		var ce *clientmetadata.Error
		if errors.As(err, &ce) && ce.Detail != "" {
			return nil, fmt.Errorf("the JWK Set is not acceptable: %s", strings.TrimPrefix(ce.Detail, "jwks "))
		}
		return nil, fmt.Errorf("the JWK Set is not acceptable: %v", err)
	}
	if err := strictUnmarshal(b, &raw, "keys"); err != nil {
		return nil, fmt.Errorf("the JWK Set is not a JSON object with a \"keys\" array: %v", err)
	}
	if len(raw.Keys) == 0 {
		return nil, errors.New("the JWK Set has no keys")
	}
	if len(raw.Keys) > MaxKeys {
		return nil, fmt.Errorf("the JWK Set has more than %d keys", MaxKeys)
	}
	ks := &KeySet{keys: make([]jose.JSONWebKey, 0, len(raw.Keys))}
	kids := map[string]bool{}
	for i, rk := range raw.Keys {
		var members map[string]json.RawMessage
		if err := strictUnmarshal(rk, &members); err != nil {
			return nil, fmt.Errorf("key %d is not a JSON object: %v", i, err)
		}
		for _, m := range privateMembers {
			if _, has := members[m]; has {
				return nil, fmt.Errorf("key %d holds private or symmetric key material (%q): register public keys only", i, m)
			}
		}
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(rk); err != nil {
			return nil, fmt.Errorf("key %d: %v", i, err)
		}
		if err := checkKey(&k); err != nil {
			return nil, fmt.Errorf("key %d: %v", i, err)
		}
		if kids[k.KeyID] {
			if k.KeyID == "" {
				return nil, errors.New("more than one key without a kid: give each key a kid")
			}
			return nil, fmt.Errorf("kid %q is used twice", k.KeyID)
		}
		kids[k.KeyID] = true
		ks.keys = append(ks.keys, k)
	}
	return ks, nil
}

// checkKey: an asymmetric public signature key of a strength we accept.
func checkKey(k *jose.JSONWebKey) error {
	if !k.IsPublic() || !k.Valid() {
		return errors.New("not a valid public key")
	}
	switch pub := k.Key.(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if ecAlgorithm(pub.Curve) == "" {
			return errors.New("unsupported elliptic curve (use P-256, P-384 or P-521)")
		}
	case *rsa.PublicKey:
		if pub.N.BitLen() < MinRSABits {
			return fmt.Errorf("RSA key of %d bits; at least %d are required", pub.N.BitLen(), MinRSABits)
		}
	default:
		return fmt.Errorf("unsupported key type %T", k.Key)
	}
	if k.Use != "" && k.Use != "sig" {
		return fmt.Errorf("use is %q; a signing key has \"sig\"", k.Use)
	}
	if k.Algorithm != "" && !fits(k, k.Algorithm) {
		return fmt.Errorf("alg %q does not fit the key (or is not one of %v)", k.Algorithm, Algorithms)
	}
	return nil
}

// ecAlgorithm is the one JWS algorithm of an EC curve (RFC 7518 §3.4).
func ecAlgorithm(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

// fits reports whether k may verify a signature made with alg: the key's
// type (and curve) must be alg's, and a key that names its alg only that.
func fits(k *jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch pub := k.Key.(type) {
	case ed25519.PublicKey:
		return alg == "EdDSA"
	case *ecdsa.PublicKey:
		return alg == ecAlgorithm(pub.Curve)
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	}
	return false
}

// candidates are the keys that may verify a signature by alg with kid: the
// key with that kid, or with no kid every key fitting alg.
func (ks *KeySet) candidates(alg, kid string, kidSet bool) []*jose.JSONWebKey {
	var out []*jose.JSONWebKey
	for i := range ks.keys {
		k := &ks.keys[i]
		if kidSet && k.KeyID != kid {
			continue
		}
		if fits(k, alg) {
			out = append(out, k)
		}
	}
	return out
}

// hasKID reports whether a key of the set has kid.
func (ks *KeySet) hasKID(kid string) bool {
	for i := range ks.keys {
		if ks.keys[i].KeyID == kid {
			return true
		}
	}
	return false
}

// strictUnmarshal is json.Unmarshal refusing what readers disagree on: an
// object naming a member twice at its top level, even in two cases (Go's
// encoding/json matches names case-insensitively and keeps the last;
// others keep the first, or match exactly), a member spelled in another case
// than one of exact (encoding/json would read "ISS" as iss; a reader that
// matches exactly would see no iss), and trailing data.
func strictUnmarshal(b []byte, v any, exact ...string) error {
	if err := checkMembers(b, exact); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// checkMembers fails if b is not an object, names a member twice (compared
// as encoding/json compares them), or spells one of exact in another case.
func checkMembers(b []byte, exact []string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		f := fold(name)
		if seen[f] {
			return fmt.Errorf("member %q appears twice (names compared without case)", name)
		}
		seen[f] = true
		for _, e := range exact {
			if f == e && name != e {
				return fmt.Errorf("member %q: write it %q (names are case-sensitive)", name, e)
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

// fold is name as Go's encoding/json compares member names (each rune r as
// ToUpper(ToLower(r)), so the Kelvin sign is "K"), lower-cased back to
// compare with the lower-case names of the JOSE specs.
func fold(name string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(unicode.ToLower(r))) }, name)
}
