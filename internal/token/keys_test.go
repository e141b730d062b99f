package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

var algorithms = []string{ES256, EdDSA}

// thumbprint computes the RFC 7638 JWK thumbprint independently of the
// package: the required members of the key type, in lexicographic order, with
// no whitespace, hashed with SHA-256 and base64url-encoded without padding.
func thumbprint(t *testing.T, jwk map[string]string) string {
	t.Helper()
	var members []string
	switch jwk["kty"] {
	case "EC": // RFC 7638 §3.2
		members = []string{"kty", "crv", "x", "y"}
	case "OKP": // RFC 8037 §2
		members = []string{"kty", "crv", "x"}
	default:
		t.Fatalf("unexpected kty %q", jwk["kty"])
	}
	slices.Sort(members)
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(m)
		value, _ := json.Marshal(jwk[m])
		b.Write(name)
		b.WriteByte(':')
		b.Write(value)
	}
	b.WriteByte('}')
	sum := sha256.Sum256([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// decodeMember decodes a base64url JWK member, which must have no padding.
func decodeMember(t *testing.T, jwk map[string]string, name string) []byte {
	t.Helper()
	v, ok := jwk[name]
	if !ok {
		t.Fatalf("JWK has no %q member: %v", name, jwk)
	}
	if strings.ContainsAny(v, "=+/") {
		t.Fatalf("JWK %q = %q is not unpadded base64url", name, v)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil {
		t.Fatalf("JWK %q = %q: %v", name, v, err)
	}
	return b
}

func TestGenerateKeyES256JWK(t *testing.T) {
	k, err := GenerateKey(ES256)
	if err != nil {
		t.Fatal(err)
	}
	if k.Algorithm != ES256 {
		t.Errorf("Algorithm = %q", k.Algorithm)
	}
	pub, ok := k.Public().(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("Public() is %T, want *ecdsa.PublicKey", k.Public())
	}
	if pub.Curve != elliptic.P256() {
		t.Errorf("curve is %v, want P-256", pub.Curve.Params().Name)
	}
	jwk := k.JWK()
	want := map[string]string{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": k.KID}
	for name, v := range want {
		if jwk[name] != v {
			t.Errorf("JWK %q = %q, want %q", name, jwk[name], v)
		}
	}
	for name := range jwk {
		if !slices.Contains([]string{"kty", "crv", "alg", "use", "kid", "x", "y"}, name) {
			t.Errorf("JWK has unexpected member %q (private key material must never appear)", name)
		}
	}
	x, y := decodeMember(t, jwk, "x"), decodeMember(t, jwk, "y")
	if len(x) != 32 || len(y) != 32 {
		t.Fatalf("x, y are %d and %d bytes, want 32 (RFC 7518 §6.2.1.2)", len(x), len(y))
	}
	point := append(append([]byte{4}, x...), y...)
	parsed, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		t.Fatalf("JWK x, y are not a P-256 point: %v", err)
	}
	if !parsed.Equal(pub) {
		t.Error("JWK x, y do not match the public key")
	}
	if got := thumbprint(t, jwk); k.KID != got {
		t.Errorf("KID = %q, want RFC 7638 thumbprint %q", k.KID, got)
	}
}

func TestGenerateKeyEdDSAJWK(t *testing.T) {
	k, err := GenerateKey(EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := k.Public().(ed25519.PublicKey)
	if !ok {
		t.Fatalf("Public() is %T, want ed25519.PublicKey", k.Public())
	}
	jwk := k.JWK()
	want := map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.KID}
	for name, v := range want {
		if jwk[name] != v {
			t.Errorf("JWK %q = %q, want %q", name, jwk[name], v)
		}
	}
	for name := range jwk {
		if !slices.Contains([]string{"kty", "crv", "alg", "use", "kid", "x"}, name) {
			t.Errorf("JWK has unexpected member %q", name)
		}
	}
	x := decodeMember(t, jwk, "x")
	if len(x) != ed25519.PublicKeySize || !bytes.Equal(x, pub) {
		t.Errorf("JWK x = %x, want the public key %x", x, []byte(pub))
	}
	if got := thumbprint(t, jwk); k.KID != got {
		t.Errorf("KID = %q, want RFC 7638 thumbprint %q", k.KID, got)
	}
}

// TestKIDRFC8037Vector checks the thumbprint against the published example of
// RFC 8037 Appendix A.1-A.3.
func TestKIDRFC8037Vector(t *testing.T) {
	seed, _ := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	k, err := newKey(EdDSA, ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	if got := k.JWK()["x"]; got != "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" {
		t.Errorf("x = %q", got)
	}
	if want := "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; k.KID != want {
		t.Errorf("KID = %q, want %q", k.KID, want)
	}
}

func TestGenerateKeyUnique(t *testing.T) {
	for _, alg := range algorithms {
		a, err := GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		if a.KID == b.KID {
			t.Errorf("%s: two generated keys share KID %q", alg, a.KID)
		}
	}
}

func TestGenerateKeyUnsupported(t *testing.T) {
	for _, alg := range []string{"", "none", "HS256", "RS256", "ES384", "es256", "Ed25519"} {
		if k, err := GenerateKey(alg); err == nil {
			t.Errorf("GenerateKey(%q) = %v, want an error", alg, k)
		}
		if ValidAlgorithm(alg) {
			t.Errorf("ValidAlgorithm(%q) = true", alg)
		}
	}
	for _, alg := range algorithms {
		if !ValidAlgorithm(alg) {
			t.Errorf("ValidAlgorithm(%q) = false", alg)
		}
	}
}
