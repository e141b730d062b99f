package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

const (
	testIssuer   = "https://auth.example.test"
	testAudience = "https://api.example.test"
)

var (
	testScopes     = scope.MustParse("ledgers:read")
	testDeployment = []byte("0123456789abcdef")
)

func newVerifier(t testing.TB, keys []*token.Key) *token.Verifier {
	t.Helper()
	v, err := token.NewVerifier(keys, testIssuer, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// sealV1 seals k in the first format, as versions before #15 did, for the
// upgrade tests.
func sealV1(k *token.Key, secret string, now time.Time) (store.SigningKey, error) {
	der, err := k.PKCS8()
	if err != nil {
		return store.SigningKey{}, err
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "blnk-auth signing key seal v1", 32)
	if err != nil {
		return store.SigningKey{}, err
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return store.SigningKey{KID: k.KID, Algorithm: k.Algorithm, Sealed: aead.Seal(nonce, nonce, der, []byte(k.KID+"|"+k.Algorithm)), CreatedAt: now}, nil
}

func testSealer(t testing.TB, secret string, deployment []byte) *sealer {
	t.Helper()
	s, err := newSealer(secret, deployment)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sealKey(t testing.TB, s *sealer, k *token.Key) store.SigningKey {
	t.Helper()
	sk, err := s.sealKey(k, store.SigningKey{CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := testSealer(t, secretA, testDeployment)
	for _, alg := range []string{token.ES256, token.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			k, err := token.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			sk := sealKey(t, s, k)
			if sk.KID != k.KID || sk.Algorithm != alg {
				t.Errorf("sealed key = %q %q", sk.KID, sk.Algorithm)
			}
			if again := sealKey(t, s, k); bytes.Equal(again.Sealed, sk.Sealed) {
				t.Error("sealing twice gave identical bytes: the nonce is not random")
			}
			// Another instance, knowing only the secret and the database, opens it.
			other, err := sealerFor(secretA, testDeployment, sk.Sealed)
			if err != nil {
				t.Fatal(err)
			}
			opened, err := other.openKey(sk)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := k.PKCS8()
			got, _ := opened.PKCS8()
			if opened.KID != k.KID || opened.Algorithm != k.Algorithm || !bytes.Equal(want, got) {
				t.Error("opened key differs from the sealed one")
			}
			iss := &token.Issuer{Key: opened, Issuer: testIssuer, TTL: time.Minute}
			tok, err := iss.Issue("client", testScopes, testAudience, nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := newVerifier(t, []*token.Key{k}).Verify(tok.Token, time.Now()); err != nil {
				t.Errorf("token signed by the opened key: %v", err)
			}
		})
	}
}

func TestOpenWrongSecretOrDeployment(t *testing.T) {
	k, err := token.GenerateKey(token.ES256)
	if err != nil {
		t.Fatal(err)
	}
	sk := sealKey(t, testSealer(t, secretA, testDeployment), k)
	check, err := testSealer(t, secretA, testDeployment).sealCheck()
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*sealer{
		"empty secret":        {secret: "", deployment: testDeployment},
		"other secret":        {secret: secretB, deployment: testDeployment},
		"secret and a space":  {secret: secretA + " ", deployment: testDeployment},
		"secret in uppercase": {secret: strings.ToUpper(secretA), deployment: testDeployment},
		"other deployment":    {secret: secretA, deployment: []byte("0123456789abcdeF")},
		"no deployment":       {secret: secretA},
	} {
		if got, err := s.openKey(sk); !errors.Is(err, ErrWrongSecret) {
			t.Errorf("%s: openKey = %v, %v; want ErrWrongSecret", name, got, err)
		}
		if err := s.openCheck(check); !errors.Is(err, ErrWrongSecret) {
			t.Errorf("%s: openCheck = %v; want ErrWrongSecret", name, err)
		}
	}
	// The check value is not a key, nor a key the check value.
	right := &sealer{secret: secretA, deployment: testDeployment}
	if err := right.openCheck(sk.Sealed); err == nil {
		t.Error("a sealed key opened as the check value")
	}
	if _, err := right.openKey(store.SigningKey{KID: sk.KID, Algorithm: sk.Algorithm, Sealed: check}); err == nil {
		t.Error("the check value opened as a key")
	}
}

func TestOpenTampered(t *testing.T) {
	k, err := token.GenerateKey(token.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	s := testSealer(t, secretA, testDeployment)
	sk := sealKey(t, s, k)
	// Every single bit flip, in header, nonce, ciphertext or tag, is detected
	// (a flip in the Argon2id parameters costs a derivation each: a few).
	for i := range sk.Sealed {
		for _, bit := range []byte{0x01, 0x80} {
			if i >= 2 && i < 8 && bit == 0x80 {
				continue // huge parameters: refused by parseHeader, tested below
			}
			bad := sk
			bad.Sealed = bytes.Clone(sk.Sealed)
			bad.Sealed[i] ^= bit
			if got, err := s.openKey(bad); err == nil {
				t.Fatalf("byte %d ^ %#x: open = %v, want an error", i, bit, got.KID)
			}
		}
	}
	for _, n := range []int{0, 1, headerSize, headerSize + nonceSize, headerSize + nonceSize + tagSize - 1, len(sk.Sealed) - 1} {
		bad := sk
		bad.Sealed = bytes.Clone(sk.Sealed[:n])
		if _, err := s.openKey(bad); err == nil {
			t.Errorf("truncated to %d bytes: open succeeded", n)
		}
	}
	extended := sk
	extended.Sealed = append(bytes.Clone(sk.Sealed), 0)
	if _, err := s.openKey(extended); err == nil {
		t.Error("extended by one byte: open succeeded")
	}
}

// TestHeaderBounds: a stored value cannot make an instance spend minutes or
// gigabytes on its key derivation.
func TestHeaderBounds(t *testing.T) {
	s := testSealer(t, secretA, testDeployment)
	check, err := s.sealCheck()
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]header{
		"4 GiB":        {time: 1, memoryKiB: 4 << 20, threads: 1},
		"1000 passes":  {time: 255, memoryKiB: argonMemoryKiB, threads: 1},
		"0 passes":     {time: 0, memoryKiB: argonMemoryKiB, threads: 1},
		"1 KiB":        {time: 1, memoryKiB: 1, threads: 1},
		"0 lanes":      {time: 1, memoryKiB: argonMemoryKiB, threads: 0},
		"255 lanes":    {time: 1, memoryKiB: argonMemoryKiB, threads: 255},
		"512 MiB":      {time: 1, memoryKiB: 512 << 10, threads: 1},
		"9 passes":     {time: 9, memoryKiB: argonMemoryKiB, threads: 1},
		"version 3":    {version: 3, time: 1, memoryKiB: argonMemoryKiB, threads: 1},
		"other kdf id": {kdf: 2, time: 1, memoryKiB: argonMemoryKiB, threads: 1},
	} {
		if h.version == 0 {
			h.version = formatVersion
		}
		if h.kdf == 0 {
			h.kdf = kdfArgon2id
		}
		h.salt = make([]byte, saltSize)
		bad := append(h.bytes(), check[headerSize:]...)
		if _, err := parseHeader(bad); err == nil {
			t.Errorf("%s: parseHeader accepted it", name)
		}
	}
}

func TestOpenChangedKIDOrAlgorithm(t *testing.T) {
	s := testSealer(t, secretA, testDeployment)
	es, _ := token.GenerateKey(token.ES256)
	ed, _ := token.GenerateKey(token.EdDSA)
	other, _ := token.GenerateKey(token.ES256)
	sealed := sealKey(t, s, es)
	cases := map[string]func(sk *store.SigningKey){
		"other key's kid":   func(sk *store.SigningKey) { sk.KID = other.KID },
		"EdDSA key's kid":   func(sk *store.SigningKey) { sk.KID = ed.KID },
		"empty kid":         func(sk *store.SigningKey) { sk.KID = "" },
		"kid one char more": func(sk *store.SigningKey) { sk.KID += "A" },
		"algorithm EdDSA":   func(sk *store.SigningKey) { sk.Algorithm = token.EdDSA },
		"algorithm none":    func(sk *store.SigningKey) { sk.Algorithm = "none" },
		"algorithm empty":   func(sk *store.SigningKey) { sk.Algorithm = "" },
		// Length prefixes: a kid and algorithm re-split differently differ.
		"kid and alg shifted": func(sk *store.SigningKey) { sk.KID, sk.Algorithm = sk.KID+"ES", "256" },
	}
	for name, mutate := range cases {
		sk := sealed
		sk.Sealed = bytes.Clone(sealed.Sealed)
		mutate(&sk)
		if got, err := s.openKey(sk); err == nil {
			t.Errorf("%s: open = key %q, want an error", name, got.KID)
		}
	}
	moved := sealKey(t, s, ed)
	moved.Sealed = sealed.Sealed
	if _, err := s.openKey(moved); err == nil {
		t.Error("ES256 sealed bytes opened under the EdDSA key's kid and algorithm")
	}
}

func TestOpenV1(t *testing.T) {
	k, _ := token.GenerateKey(token.ES256)
	sk, err := sealV1(k, secretA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := openV1(sk, secretA); err != nil || got.KID != k.KID {
		t.Fatalf("openV1 = %v, %v", got, err)
	}
	if _, err := openV1(sk, secretB); !errors.Is(err, ErrWrongSecret) {
		t.Errorf("openV1 with another secret = %v, want ErrWrongSecret", err)
	}
}
