package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/argon2"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// Argon2id parameters of new sealed values: OWASP's 19 MiB, two passes, one
// lane (about 0.1 s on one core), paid once per secret and salt by each
// process. Stored values carry their own, so these may rise later.
const (
	argonTime      = 2
	argonMemoryKiB = 19 * 1024
	argonThreads   = 1
)

// ErrWrongSecret: what the store holds does not open with the secret.
var ErrWrongSecret = errors.New("does not open with the configured secret")

// sealer seals and opens values of one database under one secret.
type sealer struct {
	secret     string
	deployment []byte
	// head is the header of values it seals: a salt of its own, the default
	// parameters.
	head header
}

// newSealer seals with a new random salt.
func newSealer(secret string, deployment []byte) (*sealer, error) {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	return &sealer{secret: secret, deployment: deployment, head: header{
		version: formatVersion, kdf: kdfArgon2id, time: argonTime, memoryKiB: argonMemoryKiB, threads: argonThreads, salt: salt,
	}}, nil
}

// sealerFor seals like the value sealed (same salt and parameters), which
// must be of the current format.
func sealerFor(secret string, deployment, sealed []byte) (*sealer, error) {
	h, err := parseHeader(sealed)
	if err != nil {
		return nil, err
	}
	return &sealer{secret: secret, deployment: deployment, head: h}, nil
}

// aad is what a value is bound to besides its ciphertext: its header, the
// database, and what it is (purpose), each length-prefixed so no two
// different triples read alike.
func (s *sealer) aad(head []byte, purpose ...string) []byte {
	out := append([]byte("blnk-auth keyring"), head...)
	for _, p := range append([]string{string(s.deployment)}, purpose...) {
		out = append(out, byte(len(p)>>8), byte(len(p)))
		out = append(out, p...)
	}
	return out
}

func (s *sealer) seal(plaintext []byte, purpose ...string) ([]byte, error) {
	aead, err := deriveAEAD(s.secret, s.head)
	if err != nil {
		return nil, err
	}
	head := s.head.bytes()
	out := make([]byte, headerSize+nonceSize, headerSize+nonceSize+len(plaintext)+tagSize)
	copy(out, head)
	if _, err := rand.Read(out[headerSize:]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[headerSize:], plaintext, s.aad(head, purpose...)), nil
}

// open opens a value sealed by this secret for this database and purpose,
// whatever its salt and parameters.
func (s *sealer) open(sealed []byte, purpose ...string) ([]byte, error) {
	h, err := parseHeader(sealed)
	if err != nil {
		return nil, err
	}
	aead, err := deriveAEAD(s.secret, h)
	if err != nil {
		return nil, err
	}
	nonce := sealed[headerSize : headerSize+nonceSize]
	pt, err := aead.Open(nil, nonce, sealed[headerSize+nonceSize:], s.aad(sealed[:headerSize], purpose...))
	if err != nil {
		return nil, ErrWrongSecret
	}
	return pt, nil
}

// checkText is the check value's plaintext: what it proves is that the
// secret opens it, so any constant will do.
const checkText = "blnk-auth keyring check"

func (s *sealer) sealCheck() ([]byte, error) { return s.seal([]byte(checkText), "check") }

func (s *sealer) openCheck(check []byte) error {
	pt, err := s.open(check, "check")
	if err != nil {
		return err
	}
	if string(pt) != checkText {
		return ErrWrongSecret
	}
	return nil
}

// sealKey seals k; its kid and algorithm are bound to the value, so it cannot
// be moved to another row.
func (s *sealer) sealKey(k *token.Key, sk store.SigningKey) (store.SigningKey, error) {
	der, err := k.PKCS8()
	if err != nil {
		return store.SigningKey{}, err
	}
	sk.KID, sk.Algorithm = k.KID, k.Algorithm
	sk.Sealed, err = s.seal(der, "signing key", k.KID, k.Algorithm)
	return sk, err
}

func (s *sealer) openKey(sk store.SigningKey) (*token.Key, error) {
	der, err := s.open(sk.Sealed, "signing key", sk.KID, sk.Algorithm)
	if err != nil {
		return nil, err
	}
	return token.ParsePKCS8(sk.KID, sk.Algorithm, der)
}

// derived remembers the AEADs derived in this process, by secret, salt and
// parameters: an instance pays Argon2id once per secret and salt, not once
// per key or config reload. Bounded: cleared when full.
var derived = struct {
	sync.Mutex
	m map[[32]byte]cipher.AEAD
}{m: map[[32]byte]cipher.AEAD{}}

const maxDerived = 64

func deriveAEAD(secret string, h header) (cipher.AEAD, error) {
	mac := sha256.New()
	mac.Write(h.bytes())
	mac.Write([]byte(secret))
	var id [32]byte
	mac.Sum(id[:0])
	derived.Lock()
	aead, ok := derived.m[id]
	derived.Unlock()
	if ok {
		return aead, nil
	}
	key := argon2.IDKey([]byte(secret), h.salt, h.time, h.memoryKiB, h.threads, 32)
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	derived.Lock()
	if len(derived.m) >= maxDerived {
		clear(derived.m)
	}
	derived.m[id] = aead
	derived.Unlock()
	return aead, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// openV1 opens a key sealed in the first format (nonce ‖ AES-256-GCM under
// HKDF-SHA256(secret), no salt, the kid and algorithm as AAD), to seal it
// again in the current one.
func openV1(sk store.SigningKey, secret string) (*token.Key, error) {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "blnk-auth signing key seal v1", 32)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sk.Sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("sealed data too short")
	}
	nonce, ct := sk.Sealed[:aead.NonceSize()], sk.Sealed[aead.NonceSize():]
	der, err := aead.Open(nil, nonce, ct, []byte(sk.KID+"|"+sk.Algorithm))
	if err != nil {
		return nil, ErrWrongSecret
	}
	return token.ParsePKCS8(sk.KID, sk.Algorithm, der)
}
