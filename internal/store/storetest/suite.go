// Package storetest is the conformance suite for store.Store. Every
// implementation (PostgreSQL, and any embedded store added later) must pass
// Run. The suite only uses the store.Store interface, so it says nothing about
// how an implementation keeps its data.
//
// Its helpers (Recorder, StartFollow, Eventually, NewClient, CheckClient) are
// exported so implementation-specific tests can reuse them.
package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// Base is the reference instant of the suite: UTC, microsecond precision (the
// precision every store must keep).
var Base = time.Date(2025, time.March, 14, 15, 9, 26, 535897000, time.UTC)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called; it may use t.Cleanup to dispose of what it created. Run
// closes every store it opens when its subtest ends, before open's own
// cleanups run. Subtests run in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateGetRoundTrip", testRoundTrip},
		{"NoAliasing", testNoAliasing},
		{"CreateDuplicate", testDuplicate},
		{"NotFound", testNotFound},
		{"Revoke", testRevoke},
		{"Delete", testDelete},
		{"ListPagination", testPagination},
		{"ListFilters", testFilters},
		{"TouchLastUsed", testTouchLastUsed},
		{"Keyring", testKeyring},
		{"KeyringConcurrent", testKeyringConcurrent},
		{"KeySchedule", testKeySchedule},
		{"Follow", testFollow},
		{"Update", testUpdate},
		{"UpdateRevoked", testUpdateRevoked},
		{"RollSecret", testRollSecret},
		{"RollSecretRevoked", testRollSecretRevoked},
		{"SecretMatches", testSecretMatches},
		{"MutationRacesRevoke", testMutationRacesRevoke},
		{"Audit", testAuditEvents},
		{"AuditPaging", testAuditPaging},
		{"RevokeToken", testRevokeToken},
		{"TokenRevoked", testTokenRevoked},
		{"Guard", testGuard},
		{"GuardSeesConcurrentChange", testGuardSeesConcurrentChange},
		{"RateLimit", testRateLimit},
		{"RateLimitRefused", testRateLimitRefused},
		{"Ping", testPing},
		{"Sessions", testSessions},
		{"ClientKeys", testClientKeys},
		{"ClientKeysRefused", testClientKeysRefused},
		{"Assertions", testAssertions},
		{"AssertionsConcurrent", testAssertionsConcurrent},
		{"RedirectURIsUpdate", testRedirectURIsUpdate},
		{"Grants", testGrants},
		{"Codes", testCodes},
		{"RefreshRotation", testRefreshRotation},
		{"RefreshRevokesAccess", testRefreshRevokesAccess},
		{"PersonClientRevoked", testPersonClientRevoked},
		{"ChangeTimes", testChangeTimes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(s.Close)
			tc.fn(t, s)
		})
	}
}

// ctx returns a context for store calls that ends with the test (it derives
// from t.Context, so it must not be used in a cleanup), or after a minute so
// that a hung store fails the test rather than the whole binary. One context
// per test, created on first use.
func ctx(t testing.TB) context.Context {
	if c, ok := contexts.Load(t); ok {
		return c.(context.Context)
	}
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	if prev, loaded := contexts.LoadOrStore(t, c); loaded {
		cancel()
		return prev.(context.Context)
	}
	t.Cleanup(func() {
		cancel()
		contexts.Delete(t)
	})
	return c
}

var contexts sync.Map // testing.TB → context.Context

func ptr(t time.Time) *time.Time { return &t }

func hashPtr(h credential.Hash) *credential.Hash { return &h }
