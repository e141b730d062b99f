// Package token mints and verifies the gateway's access tokens: JWTs per RFC
// 9068, signed with an asymmetric key (package keyring keeps it at rest).
package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Supported signing algorithms. ES256 is the default: every JOSE library and
// OAuth resource server verifies it, and its keys and signatures are small.
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// ValidAlgorithm reports whether alg can sign tokens.
func ValidAlgorithm(alg string) bool { return alg == ES256 || alg == EdDSA }

// Key is a signing key pair.
type Key struct {
	KID       string
	Algorithm string
	private   crypto.Signer
	method    jwt.SigningMethod
}

// Public returns the public half.
func (k *Key) Public() crypto.PublicKey { return k.private.Public() }

// GenerateKey makes a new key for alg.
func GenerateKey(alg string) (*Key, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported signing algorithm %q (want %s or %s)", alg, ES256, EdDSA)
	}
	if err != nil {
		return nil, err
	}
	return newKey(alg, priv)
}

func newKey(alg string, priv crypto.Signer) (*Key, error) {
	k := &Key{Algorithm: alg, private: priv, method: jwt.GetSigningMethod(alg)}
	if k.method == nil {
		return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	// The kid is the RFC 7638 thumbprint: stable, and derived from the key itself.
	jwk := k.JWK()
	var canonical string
	switch alg {
	case ES256:
		canonical = `{"crv":"P-256","kty":"EC","x":"` + jwk["x"] + `","y":"` + jwk["y"] + `"}`
	case EdDSA:
		canonical = `{"crv":"Ed25519","kty":"OKP","x":"` + jwk["x"] + `"}`
	}
	sum := sha256.Sum256([]byte(canonical))
	k.KID = base64.RawURLEncoding.EncodeToString(sum[:])
	return k, nil
}

// JWK is the public key as an RFC 7517 JSON Web Key.
func (k *Key) JWK() map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	out := map[string]string{"alg": k.Algorithm, "use": "sig", "kid": k.KID}
	switch pub := k.Public().(type) {
	case *ecdsa.PublicKey:
		raw, _ := pub.Bytes() // uncompressed: 0x04 || X || Y
		out["kty"], out["crv"], out["x"], out["y"] = "EC", "P-256", b64(raw[1:33]), b64(raw[33:65])
	case ed25519.PublicKey:
		out["kty"], out["crv"], out["x"] = "OKP", "Ed25519", b64(pub)
	}
	if out["kid"] == "" {
		delete(out, "kid")
	}
	return out
}

// PKCS8 is the private key in PKCS #8 DER, for sealing it at rest.
func (k *Key) PKCS8() ([]byte, error) { return x509.MarshalPKCS8PrivateKey(k.private) }

// ParsePKCS8 is the key stored as kid for alg from its PKCS #8 DER private
// key; the kid must be the key's thumbprint.
func ParsePKCS8(kid, alg string, der []byte) (*Key, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s (%s): %w", kid, alg, err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key %s (%s): not a signing key", kid, alg)
	}
	k, err := newKey(alg, signer)
	if err != nil {
		return nil, err
	}
	if k.KID != kid {
		return nil, fmt.Errorf("signing key %s (%s): stored kid does not match the key", kid, alg)
	}
	return k, nil
}
