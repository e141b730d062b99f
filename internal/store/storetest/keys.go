package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

func checkKey(t testing.TB, got, want store.SigningKey) {
	t.Helper()
	if got.KID != want.KID || got.Algorithm != want.Algorithm || string(got.Sealed) != string(want.Sealed) || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("signing key = {%s %s %x %v}, want {%s %s %x %v}",
			got.KID, got.Algorithm, got.Sealed, got.CreatedAt, want.KID, want.Algorithm, want.Sealed, want.CreatedAt)
	}
}

func checkKeys(t testing.TB, s store.Store, want ...store.SigningKey) {
	t.Helper()
	got, err := s.SigningKeys(ctx(t))
	if err != nil {
		t.Fatalf("SigningKeys: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("SigningKeys returned %d keys, want %d", len(got), len(want))
	}
	for i := range want {
		checkKey(t, got[i], want[i])
	}
}

func sealed(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func testSigningKeys(t *testing.T, s store.Store) {
	checkKeys(t, s)
	first := store.SigningKey{KID: "kid-es-1", Algorithm: "ES256", Sealed: sealed(120), CreatedAt: Base}
	got, err := s.EnsureSigningKey(ctx(t), first)
	if err != nil {
		t.Fatalf("EnsureSigningKey: %v", err)
	}
	checkKey(t, got, first)
	checkKeys(t, s, first)

	// Another instance starting with its own key of the same algorithm gets
	// the first one, even when its key is newer.
	second := store.SigningKey{KID: "kid-es-2", Algorithm: "ES256", Sealed: []byte{0, 1, 2}, CreatedAt: Base.Add(time.Hour)}
	got, err = s.EnsureSigningKey(ctx(t), second)
	if err != nil {
		t.Fatalf("second EnsureSigningKey: %v", err)
	}
	checkKey(t, got, first)
	checkKeys(t, s, first)

	// A key of another algorithm is added.
	ed := store.SigningKey{KID: "kid-ed-1", Algorithm: "EdDSA", Sealed: sealed(64), CreatedAt: Base.Add(2 * time.Minute)}
	got, err = s.EnsureSigningKey(ctx(t), ed)
	if err != nil {
		t.Fatalf("EnsureSigningKey(EdDSA): %v", err)
	}
	checkKey(t, got, ed)
	checkKeys(t, s, ed, first) // newest first

	got, err = s.EnsureSigningKey(ctx(t), first)
	if err != nil {
		t.Fatalf("EnsureSigningKey(first again): %v", err)
	}
	checkKey(t, got, first)
	checkKeys(t, s, ed, first)
}

func testSigningKeysConcurrent(t *testing.T, s store.Store) {
	// Instances starting together agree on one key: several rounds, each a
	// race of n callers to create the first key of a new algorithm.
	const rounds, n = 10, 8
	var want []store.SigningKey
	for round := range rounds {
		alg := fmt.Sprintf("ALG%02d", round)
		got := make([]store.SigningKey, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				got[i], errs[i] = s.EnsureSigningKey(ctx(t), store.SigningKey{
					KID:       fmt.Sprintf("kid-%s-%d", alg, i),
					Algorithm: alg,
					Sealed:    []byte{byte(round), byte(i)},
					CreatedAt: Base.Add(time.Duration(round)*time.Hour + time.Duration(i)*time.Second),
				})
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("EnsureSigningKey %s/%d: %v", alg, i, errs[i])
			}
			if got[i].KID != got[0].KID {
				t.Fatalf("concurrent EnsureSigningKey(%s) returned different keys: %s and %s", alg, got[0].KID, got[i].KID)
			}
			checkKey(t, got[i], got[0])
		}
		want = append([]store.SigningKey{got[0]}, want...) // newest first
	}
	checkKeys(t, s, want...)
}
