package keyring

import (
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// TestScheduleSkewAuditsForward: two instances whose clocks differ by two
// seconds, around a key's retirement. The one ahead records it retired; the
// one behind, still seeing it retiring, must not record it active again
// (with a key.activated event), which the one ahead would then record
// retired again, and so on: each write is a change on the feed that makes
// the other reload, so the two would write audit events and change-log
// entries in a loop until the clocks agree. A state is recorded only
// forward: published, active, retired; revoked.
func TestScheduleSkewAuditsForward(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		st := open()
		first := openAt(t, st, testPolicy, t0).Signing
		if _, err := Rotate(t.Context(), st, Options{Secret: secretA, Algorithm: token.ES256, Policy: testPolicy, Now: t0}, false); err != nil {
			t.Fatal(err)
		}
		r := openAt(t, st, testPolicy, t0)
		retires := entry(t, r, first.KID).RetiresAt
		if retires == nil {
			t.Fatal("the replaced key has no retirement")
		}
		ahead, behind := retires.Add(time.Second), retires.Add(-time.Second)
		for range 3 {
			openAt(t, st, testPolicy, ahead)
			openAt(t, st, testPolicy, behind)
		}
		want := []string{store.ActionKeyCreated, store.ActionKeyActivated, store.ActionKeyRetired}
		if ev := keyEvents(t, st, first.KID); !sameList(ev, want) {
			t.Errorf("events of the retired key, clocks 2s apart: %v, want %v", ev, want)
		}
		kr, err := st.Keyring(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kr.Keys {
			if k.KID == first.KID && k.RecordedState != store.KeyRetired {
				t.Errorf("recorded state %q, want retired", k.RecordedState)
			}
		}
	})
}

// TestScheduleSkewEmergency: instance A makes an emergency rotation; B's
// clock is 2s behind, so the new key's activation time is in B's future.
// B must sign with that key, which was made to sign at once, rather than
// find no signing key and make one more of its own (an extra key no
// verifier outside has seen, signing at once, with no retirement).
func TestScheduleSkewEmergency(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		st := open()
		openAt(t, st, testPolicy, t0)
		aNow := t0.Add(10 * time.Second)
		after, err := Rotate(t.Context(), st, Options{Secret: secretA, Algorithm: token.ES256, Policy: testPolicy, Now: aNow}, true)
		if err != nil {
			t.Fatal(err)
		}
		emergency := after.Signing
		b := openAt(t, st, testPolicy, aNow.Add(-2*time.Second))
		if len(b.Entries) != 2 {
			t.Errorf("%d keys after B reloads, want 2 (the revoked one and the emergency one)", len(b.Entries))
		}
		if b.Signing == nil || b.Signing.KID != emergency.KID {
			t.Errorf("B signs with %v, want the emergency key %s", b.Signing, emergency.KID)
		}
	})
}
