package keyring

import (
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// t0 is the reference instant of the schedule tests: every time is injected.
var t0 = time.Date(2026, time.January, 2, 3, 4, 5, 0, time.UTC)

var testPolicy = Policy{Period: 30 * 24 * time.Hour, Lead: time.Hour}

func openAt(t *testing.T, st store.Store, p Policy, now time.Time) *Ring {
	t.Helper()
	ring, err := Open(t.Context(), st, Options{Secret: secretA, Algorithm: token.ES256, Policy: p, Now: now})
	if err != nil {
		t.Fatalf("Open at %v: %v", now, err)
	}
	return ring
}

func entry(t *testing.T, r *Ring, kid string) *Entry {
	t.Helper()
	for i := range r.Entries {
		if r.Entries[i].Key.KID == kid {
			return &r.Entries[i]
		}
	}
	t.Fatalf("key %s not in the ring", kid)
	return nil
}

func keyEvents(t *testing.T, st store.Store, kid string) []string {
	t.Helper()
	evs, err := st.ListAudit(t.Context(), store.AuditFilter{ClientID: kid, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, evs[i].Action)
	}
	return out
}

func sameList(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestScheduleLife walks one key through its life on the clock of the test:
// created and active on a first start; its successor published Lead before
// the period ends and not signing until then; the first still trusted until
// the successor's activation plus the longest token lifetime, then retired;
// each transition audited once.
func TestScheduleLife(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		st := open()
		r := openAt(t, st, testPolicy, t0)
		first := r.Signing
		if len(r.Entries) != 1 || entry(t, r, first.KID).State(t0, entry(t, r, first.KID)) != store.KeyActive {
			t.Fatalf("first start: %d keys", len(r.Entries))
		}
		if ev := keyEvents(t, st, first.KID); !sameList(ev, []string{store.ActionKeyCreated, store.ActionKeyActivated}) {
			t.Errorf("first key's events %v", ev)
		}
		due := t0.Add(testPolicy.Period - testPolicy.Lead)
		if got := r.NextEvent(token.ES256, testPolicy, t0); !got.Equal(due) {
			t.Errorf("NextEvent = %v, want the successor's publication %v", got, due)
		}
		// Nothing to do until then: no write, no new key.
		if r := openAt(t, st, testPolicy, due.Add(-time.Second)); len(r.Entries) != 1 {
			t.Fatalf("before due: %d keys", len(r.Entries))
		}

		// Due: a successor is published, activating when the period ends.
		r = openAt(t, st, testPolicy, due)
		if len(r.Entries) != 2 || r.Signing.KID != first.KID {
			t.Fatalf("at due: %d keys, signing %s (want still %s)", len(r.Entries), r.Signing.KID, first.KID)
		}
		second := r.Entries[0]
		activates := t0.Add(testPolicy.Period)
		if !second.ActivatesAt.Equal(activates) || second.State(due, entry(t, r, first.KID)) != store.KeyPublished {
			t.Errorf("successor activates %v (want %v), state %s", second.ActivatesAt, activates, second.State(due, nil))
		}
		if got := kids(r.Keys); !sameList(got, []string{second.Key.KID, first.KID}) {
			t.Errorf("trusted at due: %v; the published successor must be trusted", got)
		}
		retires := activates.Add(RetainDefault)
		if e := entry(t, r, first.KID); e.RetiresAt == nil || !e.RetiresAt.Equal(retires) {
			t.Errorf("first key retires at %v, want %v", e.RetiresAt, retires)
		}
		// Another instance at the same moment, and the next moments, add nothing.
		for _, at := range []time.Time{due, due.Add(time.Minute), activates.Add(-time.Nanosecond)} {
			if r := openAt(t, open(), testPolicy, at); len(r.Entries) != 2 || r.Signing.KID != first.KID {
				t.Fatalf("at %v: %d keys, signing %s", at, len(r.Entries), r.Signing.KID)
			}
		}
		if ev := keyEvents(t, st, second.Key.KID); !sameList(ev, []string{store.ActionKeyCreated}) {
			t.Errorf("successor's events before activation %v", ev)
		}

		// Activation: the successor signs (SigningAt needs no reload), the
		// first is retiring, both trusted.
		if got := r.SigningAt(token.ES256, activates); got.KID != second.Key.KID {
			t.Errorf("SigningAt(activation) = %s, want the successor", got.KID)
		}
		r = openAt(t, st, testPolicy, activates)
		if r.Signing.KID != second.Key.KID || entry(t, r, first.KID).State(activates, entry(t, r, second.Key.KID)) != store.KeyRetiring {
			t.Errorf("after activation: signing %s", r.Signing.KID)
		}
		if got := kids(r.Keys); len(got) != 2 {
			t.Errorf("trusted after activation: %v, want both", got)
		}
		if ev := keyEvents(t, st, second.Key.KID); !sameList(ev, []string{store.ActionKeyCreated, store.ActionKeyActivated}) {
			t.Errorf("successor's events after activation %v", ev)
		}

		// Retirement: out of the trusted keys, audited once.
		r = openAt(t, st, testPolicy, retires.Add(-time.Nanosecond))
		if len(r.TrustedAt(retires.Add(-time.Nanosecond))) != 2 || len(r.TrustedAt(retires)) != 1 {
			t.Errorf("trusted around retirement: %d then %d", len(r.TrustedAt(retires.Add(-time.Nanosecond))), len(r.TrustedAt(retires)))
		}
		r = openAt(t, st, testPolicy, retires)
		if got := kids(r.Keys); !sameList(got, []string{second.Key.KID}) {
			t.Errorf("trusted after retirement %v", got)
		}
		openAt(t, open(), testPolicy, retires.Add(time.Second))
		if ev := keyEvents(t, st, first.KID); !sameList(ev, []string{store.ActionKeyCreated, store.ActionKeyActivated, store.ActionKeyRetired}) {
			t.Errorf("first key's events %v", ev)
		}
	})
}

// TestScheduleLate: an instance that was down when a successor was due
// publishes it at once and activates it only after the lead, never earlier.
func TestScheduleLate(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		st := open()
		openAt(t, st, testPolicy, t0)
		late := t0.Add(3 * testPolicy.Period)
		r := openAt(t, st, testPolicy, late)
		if len(r.Entries) != 2 || !r.Entries[0].ActivatesAt.Equal(late.Add(testPolicy.Lead)) {
			t.Fatalf("late: %d keys, successor activates %v, want %v", len(r.Entries), r.Entries[0].ActivatesAt, late.Add(testPolicy.Lead))
		}
		if r.Signing.KID == r.Entries[0].Key.KID {
			t.Error("a late successor signs before its lead")
		}
	})
}

// TestScheduleOff: a zero period never rotates by itself.
func TestScheduleOff(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		st := open()
		off := Policy{Lead: time.Hour}
		openAt(t, st, off, t0)
		if r := openAt(t, st, off, t0.Add(10*365*24*time.Hour)); len(r.Entries) != 1 {
			t.Errorf("rotation off: %d keys after ten years", len(r.Entries))
		}
		if !openAt(t, st, off, t0).NextEvent(token.ES256, off, t0).IsZero() {
			t.Error("rotation off: a next event")
		}
	})
}

// TestRotateByHand: rotate publishes a successor activating after the lead
// (again: the same one); rotate now activates a new key at once and revokes
// every other, which are no longer trusted.
func TestRotateByHand(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		st := open()
		o := Options{Secret: secretA, Algorithm: token.ES256, Policy: testPolicy, Now: t0, Audit: store.Audit{Actor: "cli"}}
		first := openAt(t, st, testPolicy, t0).Signing
		o.Now = t0.Add(time.Minute)
		r, err := Rotate(t.Context(), st, o, false)
		if err != nil {
			t.Fatal(err)
		}
		next := r.Entries[0]
		if len(r.Entries) != 2 || !next.ActivatesAt.Equal(o.Now.Add(testPolicy.Lead)) || r.Signing.KID != first.KID {
			t.Fatalf("rotate: %d keys, successor activates %v, signing %s", len(r.Entries), next.ActivatesAt, r.Signing.KID)
		}
		if r, err := Rotate(t.Context(), st, o, false); err != nil || len(r.Entries) != 2 {
			t.Fatalf("rotate again: %v, %d keys; want the published successor kept", err, len(r.Entries))
		}

		o.Now = t0.Add(2 * time.Minute)
		r, err = Rotate(t.Context(), st, o, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Entries) != 3 || r.Signing.KID != r.Entries[0].Key.KID || !r.Entries[0].ActivatesAt.Equal(o.Now) {
			t.Fatalf("rotate now: %d keys, signing %s", len(r.Entries), r.Signing.KID)
		}
		if got := kids(r.Keys); !sameList(got, []string{r.Signing.KID}) {
			t.Errorf("trusted after rotate now: %v, want only the new key", got)
		}
		for _, kid := range []string{first.KID, next.Key.KID} {
			e := entry(t, r, kid)
			if e.RevokedAt == nil || e.State(o.Now, nil) != store.KeyRevoked {
				t.Errorf("key %s after rotate now: %s", kid, e.State(o.Now, nil))
			}
			ev := keyEvents(t, st, kid)
			if len(ev) == 0 || ev[len(ev)-1] != store.ActionKeyRevoked {
				t.Errorf("key %s events %v, want revoked last", kid, ev)
			}
		}
		// A revoked key stays revoked: a reload later trusts only the new key.
		if r := openAt(t, open(), testPolicy, o.Now.Add(time.Hour)); len(r.Keys) != 1 {
			t.Errorf("later: %d trusted keys", len(r.Keys))
		}
	})
}

// TestRotateConcurrent: instances due at the same moment publish one
// successor between them.
func TestRotateConcurrent(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		openAt(t, open(), testPolicy, t0)
		due := t0.Add(testPolicy.Period - testPolicy.Lead)
		stores := []store.Store{open(), open(), open(), open()}
		var wg sync.WaitGroup
		for _, st := range stores {
			wg.Go(func() {
				if _, err := Open(t.Context(), st, Options{Secret: secretA, Algorithm: token.ES256, Policy: testPolicy, Now: due}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		kr, err := stores[0].Keyring(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(kr.Keys) != 2 {
			t.Errorf("%d keys after a concurrent rotation, want 2", len(kr.Keys))
		}
	})
}

func TestPolicyCheck(t *testing.T) {
	if err := (Policy{Period: time.Hour, Lead: time.Hour}).Check(); err == nil {
		t.Error("a period not longer than the lead passed")
	}
	if err := (Policy{Lead: time.Hour}).Check(); err != nil {
		t.Errorf("rotation off: %v", err)
	}
}
