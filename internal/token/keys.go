// Package token mints and verifies the gateway's access tokens: JWTs per RFC
// 9068, signed with an asymmetric key that is generated on first start and kept
// in the store sealed under the operator's secret.
package token

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
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

// sealingKey derives the AES-256 key that seals signing keys from the
// operator's secret; the info string versions the scheme.
func sealingKey(secret string) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(secret), nil, "blnk-auth signing key seal v1", 32)
}

// Seal encrypts k with AES-256-GCM under a key derived from secret. The kid and
// algorithm are authenticated, so a sealed key cannot be moved to another row.
func Seal(k *Key, secret string, now time.Time) (store.SigningKey, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.private)
	if err != nil {
		return store.SigningKey{}, err
	}
	aead, err := newAEAD(secret)
	if err != nil {
		return store.SigningKey{}, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return store.SigningKey{}, err
	}
	sealed := aead.Seal(nonce, nonce, der, []byte(k.KID+"|"+k.Algorithm))
	return store.SigningKey{KID: k.KID, Algorithm: k.Algorithm, Sealed: sealed, CreatedAt: now}, nil
}

// ErrWrongSecret: the stored key does not open with this secret.
var ErrWrongSecret = errors.New("the signing key in the database does not decrypt with the configured secret: every gateway instance on one database must use the same secret")

// Open decrypts a sealed key.
func Open(sk store.SigningKey, secret string) (*Key, error) {
	aead, err := newAEAD(secret)
	if err != nil {
		return nil, err
	}
	if len(sk.Sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("signing key %s: sealed data too short", sk.KID)
	}
	nonce, ct := sk.Sealed[:aead.NonceSize()], sk.Sealed[aead.NonceSize():]
	der, err := aead.Open(nil, nonce, ct, []byte(sk.KID+"|"+sk.Algorithm))
	if err != nil {
		return nil, ErrWrongSecret
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", sk.KID, err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key %s: not a signing key", sk.KID)
	}
	k, err := newKey(sk.Algorithm, signer)
	if err != nil {
		return nil, err
	}
	if k.KID != sk.KID {
		return nil, fmt.Errorf("signing key %s: stored kid does not match the key", sk.KID)
	}
	return k, nil
}

func newAEAD(secret string) (cipher.AEAD, error) {
	key, err := sealingKey(secret)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
