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
