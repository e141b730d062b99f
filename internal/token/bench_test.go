package token

import (
	"testing"
	"time"
)

func benchmarkIssue(b *testing.B, alg string) {
	iss := &Issuer{Key: genKey(b, alg), Issuer: testIssuer, TTL: 15 * time.Minute}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Issue(testClient, testScopes, testAudience, nil, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssueES256(b *testing.B) { benchmarkIssue(b, ES256) }
func BenchmarkIssueEdDSA(b *testing.B) { benchmarkIssue(b, EdDSA) }

func benchmarkVerifyUncached(b *testing.B, alg string) {
	k := genKey(b, alg)
	v := newVerifier(b, []*Key{k}, 0, 0)
	now := time.Now()
	raw := issue(b, k, 15*time.Minute, now).Token
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(raw, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyES256Uncached(b *testing.B) { benchmarkVerifyUncached(b, ES256) }
func BenchmarkVerifyEdDSAUncached(b *testing.B) { benchmarkVerifyUncached(b, EdDSA) }

func BenchmarkVerifyCached(b *testing.B) {
	k := genKey(b, ES256)
	v := newVerifier(b, []*Key{k}, 0, 1000)
	now := time.Now()
	raw := issue(b, k, 15*time.Minute, now).Token
	want := waitCached(b, v, raw, now)
	b.ReportAllocs()
	for b.Loop() {
		if got, err := v.Verify(raw, now); err != nil || got != want {
			b.Fatalf("Verify = %p, %v; want the cached %p", got, err, want)
		}
	}
}

// BenchmarkIssueForES256 mints a token for a person (authorization-code flow).
func BenchmarkIssueForES256(b *testing.B) {
	k, err := GenerateKey(ES256)
	if err != nil {
		b.Fatal(err)
	}
	iss := &Issuer{Key: k, Issuer: "https://auth.example.com", TTL: time.Hour}
	scopes := testScopes
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.IssueFor("oidc:https://idp.example.com#248289761001", "blnk_cid_0123456789ABCDEFabcdef", scopes, "https://api.example.com", nil, now); err != nil {
			b.Fatal(err)
		}
	}
}
