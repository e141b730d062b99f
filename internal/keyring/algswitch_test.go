package keyring

import (
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// TestScheduleAlgorithmSwitch: every instance moves from ES256 to EdDSA
// (signing_algorithm). The ES256 key then has no instance to rotate it:
// once a whole period has passed with no ES256 successor (a running ES256
// instance would have published one a lead before), it must retire like a
// replaced key, not stay published and trusted for ever.
func TestScheduleAlgorithmSwitch(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		st := open()
		es := openAt(t, st, testPolicy, t0).Signing
		openEd := func(now time.Time) *Ring {
			t.Helper()
			r, err := Open(t.Context(), st, Options{Secret: secretA, Algorithm: token.EdDSA, Policy: testPolicy, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		switched := t0.Add(time.Hour)
		if r := openEd(switched); entry(t, r, es.KID).RetiresAt != nil {
			t.Fatal("the ES256 key was given a retirement while an ES256 instance may still run")
		}
		overdue := t0.Add(testPolicy.Period + time.Second)
		r := openEd(overdue)
		retires := entry(t, r, es.KID).RetiresAt
		if retires == nil {
			t.Fatalf("a period after the switch, the ES256 key has no retirement: trusted for ever")
		}
		if retires.Before(overdue.Add(RetainDefault)) {
			t.Errorf("the ES256 key retires at %v, before the tokens it may have signed until %v expired", retires, overdue)
		}
		after := retires.Add(time.Second)
		r = openEd(after)
		for _, k := range r.TrustedAt(after) {
			if k.KID == es.KID {
				t.Error("the ES256 key is still trusted after its retirement")
			}
		}
		if ev := keyEvents(t, st, es.KID); ev[len(ev)-1] != store.ActionKeyRetired {
			t.Errorf("ES256 key's events %v, want key.retired last", ev)
		}
	})
}
