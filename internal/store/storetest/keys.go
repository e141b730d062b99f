package storetest

import (
	"bytes"
	"errors"
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

func checkKeys(t testing.TB, got []store.SigningKey, want ...store.SigningKey) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("keyring holds %d keys, want %d", len(got), len(want))
	}
	for i := range want {
		checkKey(t, got[i], want[i])
	}
}

func keyring(t testing.TB, s store.Store) store.Keyring {
	t.Helper()
	kr, err := s.Keyring(ctx(t))
	if err != nil {
		t.Fatalf("Keyring: %v", err)
	}
	return kr
}

func sealed(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// put is an UpdateKeyring decision that writes u whatever it sees.
func put(u store.KeyringUpdate) func(store.Keyring) (store.KeyringUpdate, error) {
	return func(store.Keyring) (store.KeyringUpdate, error) { return u, nil }
}

func testKeyring(t *testing.T, s store.Store) {
	kr := keyring(t, s)
	if len(kr.DeploymentID) < 16 || bytes.Equal(kr.DeploymentID, make([]byte, len(kr.DeploymentID))) {
		t.Errorf("new database: deployment ID %x, want 16 random bytes", kr.DeploymentID)
	}
	if kr.Check != nil || kr.SessionKey != nil || len(kr.Keys) != 0 {
		t.Errorf("new database: check %x, session key %x, %d keys; want none", kr.Check, kr.SessionKey, len(kr.Keys))
	}
	deployment := kr.DeploymentID

	// decide sees the keyring as it is, and what it returns is written.
	first := store.SigningKey{KID: "kid-es-1", Algorithm: "ES256", Sealed: sealed(120), CreatedAt: Base}
	got, err := s.UpdateKeyring(ctx(t), func(cur store.Keyring) (store.KeyringUpdate, error) {
		if !bytes.Equal(cur.DeploymentID, deployment) || cur.Check != nil || len(cur.Keys) != 0 {
			t.Errorf("decide saw %+v", cur)
		}
		return store.KeyringUpdate{Check: []byte("check-1"), SessionKey: []byte("session-1"), Put: []store.SigningKey{first}}, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeyring: %v", err)
	}
	for _, kr := range []store.Keyring{got, keyring(t, s)} {
		if !bytes.Equal(kr.DeploymentID, deployment) || string(kr.Check) != "check-1" || string(kr.SessionKey) != "session-1" {
			t.Errorf("keyring after update: deployment %x, check %q, session key %q", kr.DeploymentID, kr.Check, kr.SessionKey)
		}
		checkKeys(t, kr.Keys, first)
	}

	// Another key is added, newest first; a Put of a stored kid replaces its
	// sealed value only; a nil Check leaves the check value.
	ed := store.SigningKey{KID: "kid-ed-1", Algorithm: "EdDSA", Sealed: sealed(64), CreatedAt: Base.Add(2 * time.Minute)}
	resealed := store.SigningKey{KID: first.KID, Algorithm: "EdDSA", Sealed: []byte("resealed"), CreatedAt: Base.Add(time.Hour)}
	if _, err := s.UpdateKeyring(ctx(t), put(store.KeyringUpdate{Put: []store.SigningKey{ed, resealed}})); err != nil {
		t.Fatalf("UpdateKeyring: %v", err)
	}
	kr = keyring(t, s)
	want := first
	want.Sealed = resealed.Sealed
	checkKeys(t, kr.Keys, ed, want)
	if string(kr.Check) != "check-1" || string(kr.SessionKey) != "session-1" {
		t.Errorf("check and session key after an update without them: %q %q", kr.Check, kr.SessionKey)
	}

	// decide's error aborts with nothing written, and comes back as it is.
	refusal := errors.New("wrong secret")
	_, err = s.UpdateKeyring(ctx(t), func(store.Keyring) (store.KeyringUpdate, error) {
		return store.KeyringUpdate{Check: []byte("check-2"), SessionKey: []byte("session-2"), Put: []store.SigningKey{{KID: "kid-3", Algorithm: "ES256", Sealed: []byte{1}, CreatedAt: Base}}}, refusal
	})
	if err != refusal {
		t.Errorf("UpdateKeyring with a refusing decide = %v, want its error", err)
	}
	after := keyring(t, s)
	checkKeys(t, after.Keys, ed, want)
	if string(after.Check) != "check-1" || string(after.SessionKey) != "session-1" {
		t.Errorf("a refused update wrote the check %q, session key %q", after.Check, after.SessionKey)
	}

	// An empty update writes nothing and returns the keyring.
	got, err = s.UpdateKeyring(ctx(t), put(store.KeyringUpdate{}))
	if err != nil || string(got.Check) != "check-1" || len(got.Keys) != 2 {
		t.Errorf("empty UpdateKeyring = %+v, %v", got, err)
	}
}

func testKeyringConcurrent(t *testing.T, s store.Store) {
	// Instances starting together agree on one key: several rounds, each a
	// race of n callers that add a key of a new algorithm only if none is
	// there. Each decide must see what the one before it wrote.
	const rounds, n = 10, 8
	var want []store.SigningKey
	for round := range rounds {
		alg := fmt.Sprintf("ALG%02d", round)
		got := make([]store.Keyring, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				got[i], errs[i] = s.UpdateKeyring(ctx(t), func(cur store.Keyring) (store.KeyringUpdate, error) {
					for _, k := range cur.Keys {
						if k.Algorithm == alg {
							return store.KeyringUpdate{}, nil
						}
					}
					return store.KeyringUpdate{Put: []store.SigningKey{{
						KID:       fmt.Sprintf("kid-%s-%d", alg, i),
						Algorithm: alg,
						Sealed:    []byte{byte(round), byte(i)},
						CreatedAt: Base.Add(time.Duration(round)*time.Hour + time.Duration(i)*time.Second),
					}}}, nil
				})
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("UpdateKeyring %s/%d: %v", alg, i, errs[i])
			}
			if len(got[i].Keys) != round+1 {
				t.Fatalf("UpdateKeyring %s/%d: %d keys, want %d", alg, i, len(got[i].Keys), round+1)
			}
			checkKey(t, got[i].Keys[0], got[0].Keys[0])
		}
		want = append([]store.SigningKey{got[0].Keys[0]}, want...) // newest first
	}
	checkKeys(t, keyring(t, s).Keys, want...)
}
