package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

func sameSchedule(got, want store.KeySchedule) bool {
	return got.ActivatesAt.Equal(want.ActivatesAt) && sameTime(got.RetiresAt, want.RetiresAt) &&
		sameTime(got.RevokedAt, want.RevokedAt) && got.RecordedState == want.RecordedState
}

func checkSchedule(t testing.TB, kr store.Keyring, kid string, want store.KeySchedule) {
	t.Helper()
	for _, k := range kr.Keys {
		if k.KID == kid {
			if !sameSchedule(k.KeySchedule, want) {
				t.Errorf("key %s schedule = {%v %s %s %q}, want {%v %s %s %q}", kid,
					k.ActivatesAt, fmtTime(k.RetiresAt), fmtTime(k.RevokedAt), k.RecordedState,
					want.ActivatesAt, fmtTime(want.RetiresAt), fmtTime(want.RevokedAt), want.RecordedState)
			}
			return
		}
	}
	t.Errorf("key %s not in the keyring", kid)
}

// testKeySchedule: a key's schedule is stored as put, changed by Schedule
// (nil fields leave it), its audit events are written with the update, and
// every written update reaches followers as one change of kind keys.
func testKeySchedule(t *testing.T, s store.Store) {
	rec, _ := StartFollow(t, s)
	from := rec.Mark()

	// A key put without a schedule (an older caller) activates when created.
	legacy := store.SigningKey{KID: "kid-legacy", Algorithm: "ES256", Sealed: sealed(40), CreatedAt: Base}
	activates := Base.Add(time.Hour)
	next := store.SigningKey{KID: "kid-next", Algorithm: "ES256", Sealed: sealed(41), CreatedAt: Base.Add(time.Minute),
		KeySchedule: store.KeySchedule{ActivatesAt: activates, RecordedState: store.KeyPublished}}
	a := auditN(3)
	if _, err := s.UpdateKeyring(ctx(t), put(store.KeyringUpdate{
		Put:    []store.SigningKey{legacy, next},
		Events: []store.KeyEvent{{KID: legacy.KID, Action: store.ActionKeyCreated}, {KID: next.KID, Action: store.ActionKeyCreated}},
		Audit:  a,
	})); err != nil {
		t.Fatalf("UpdateKeyring: %v", err)
	}
	kr := keyring(t, s)
	checkSchedule(t, kr, legacy.KID, store.KeySchedule{ActivatesAt: Base, RecordedState: store.KeyActive})
	checkSchedule(t, kr, next.KID, store.KeySchedule{ActivatesAt: activates, RecordedState: store.KeyPublished})
	evs := allAudit(t, s, next.KID)
	if len(evs) != 1 {
		t.Fatalf("audit events of %s: %+v, want one", next.KID, evs)
	}
	checkEvent(t, evs[0], wantEvent{a: a, action: store.ActionKeyCreated, clientID: next.KID})
	Eventually(t, 10*time.Second, func() bool { return len(keyChanges(rec, from)) == 1 },
		"no single change of kind keys after an update; events: %v", rec.Since(from))

	// Schedule changes only what it sets; a Put of a stored kid keeps the schedule.
	retires := activates.Add(25 * time.Hour)
	revoked := Base.Add(2 * time.Hour)
	from = rec.Mark()
	if _, err := s.UpdateKeyring(ctx(t), put(store.KeyringUpdate{
		Schedule: []store.KeyScheduleChange{
			{KID: legacy.KID, RetiresAt: &retires},
			{KID: next.KID, RecordedState: store.KeyActive},
		},
		Events: []store.KeyEvent{{KID: next.KID, Action: store.ActionKeyActivated}},
		Audit:  auditN(4),
	})); err != nil {
		t.Fatalf("UpdateKeyring: %v", err)
	}
	resealed := next
	resealed.Sealed = []byte("resealed")
	resealed.KeySchedule = store.KeySchedule{ActivatesAt: Base, RecordedState: store.KeyRevoked}
	if _, err := s.UpdateKeyring(ctx(t), put(store.KeyringUpdate{Put: []store.SigningKey{resealed}})); err != nil {
		t.Fatalf("UpdateKeyring: %v", err)
	}
	kr = keyring(t, s)
	checkSchedule(t, kr, legacy.KID, store.KeySchedule{ActivatesAt: Base, RetiresAt: &retires, RecordedState: store.KeyActive})
	checkSchedule(t, kr, next.KID, store.KeySchedule{ActivatesAt: activates, RecordedState: store.KeyActive})
	if evs := allAudit(t, s, next.KID); len(evs) != 2 || evs[0].Action != store.ActionKeyActivated {
		t.Errorf("audit events of %s after activation: %+v", next.KID, evs)
	}

	if _, err := s.UpdateKeyring(ctx(t), put(store.KeyringUpdate{
		Schedule: []store.KeyScheduleChange{{KID: next.KID, RevokedAt: &revoked, RecordedState: store.KeyRevoked}},
		Events:   []store.KeyEvent{{KID: next.KID, Action: store.ActionKeyRevoked}},
		Audit:    auditN(5),
	})); err != nil {
		t.Fatalf("UpdateKeyring: %v", err)
	}
	kr = keyring(t, s)
	checkSchedule(t, kr, next.KID, store.KeySchedule{ActivatesAt: activates, RevokedAt: &revoked, RecordedState: store.KeyRevoked})
	checkSchedule(t, kr, legacy.KID, store.KeySchedule{ActivatesAt: Base, RetiresAt: &retires, RecordedState: store.KeyActive})
	Eventually(t, 10*time.Second, func() bool { return len(keyChanges(rec, from)) == 3 },
		"want three changes of kind keys after three updates; events: %v", rec.Since(from))

	// A refused update writes no schedule, no event and no change.
	from = rec.Mark()
	refusal := errors.New("no")
	_, err := s.UpdateKeyring(ctx(t), func(store.Keyring) (store.KeyringUpdate, error) {
		return store.KeyringUpdate{Schedule: []store.KeyScheduleChange{{KID: legacy.KID, RevokedAt: &revoked}},
			Events: []store.KeyEvent{{KID: legacy.KID, Action: store.ActionKeyRevoked}}}, refusal
	})
	if err != refusal {
		t.Fatalf("refused UpdateKeyring = %v", err)
	}
	checkSchedule(t, keyring(t, s), legacy.KID, store.KeySchedule{ActivatesAt: Base, RetiresAt: &retires, RecordedState: store.KeyActive})
	if evs := allAudit(t, s, legacy.KID); len(evs) != 1 {
		t.Errorf("audit events of %s after a refused update: %+v", legacy.KID, evs)
	}
	// An empty update is no change either; a client change after it is the
	// next thing followers see.
	if _, err := s.UpdateKeyring(ctx(t), put(store.KeyringUpdate{})); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, NewClient("blnk_cid_afterkeys", store.TypeOAuth, Base))
	WaitChange(t, rec, "blnk_cid_afterkeys", from, 10*time.Second, "create after keyring updates")
	if n := len(keyChanges(rec, from)); n != 0 {
		t.Errorf("%d changes of kind keys after a refused and an empty update, want 0", n)
	}
}

func keyChanges(r *Recorder, from int) []store.Change {
	var out []store.Change
	for _, e := range r.Events(from) {
		if e.Kind == "changed" && e.Change.Kind == store.ChangeKeys {
			if e.Change.ClientID != "" || e.Change.JTI != "" {
				continue // not a keys change as specified; the count then fails
			}
			out = append(out, e.Change)
		}
	}
	return out
}
