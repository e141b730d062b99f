package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// sealingKey derives the AES-256 key that seals signing keys from the
// operator's secret; the info string versions the scheme.
func sealingKey(secret string) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(secret), nil, "blnk-auth signing key seal v1", 32)
}

// Seal encrypts k with AES-256-GCM under a key derived from secret. The kid and
// algorithm are authenticated, so a sealed key cannot be moved to another row.
func Seal(k *token.Key, secret string, now time.Time) (store.SigningKey, error) {
	der, err := k.PKCS8()
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
func Open(sk store.SigningKey, secret string) (*token.Key, error) {
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
	return token.ParsePKCS8(sk.KID, sk.Algorithm, der)
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
