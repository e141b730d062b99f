package storetest

import (
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// testChangeTimes: the write time of a change-log entry, as the follower
// reported it, is the time of the change (within the clocks' skew of one
// machine); IDs not in the log are left out; no IDs, no query and no error.
func testChangeTimes(t *testing.T, s store.Store) {
	if got, err := s.ChangeTimes(ctx(t), nil); err != nil || len(got) != 0 {
		t.Fatalf("ChangeTimes(nil) = %v, %v; want empty", got, err)
	}
	r, stop := StartFollow(t, s)
	defer stop()
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	m := r.Mark()
	before := time.Now()
	mustCreate(t, s, c)
	after := time.Now()
	created := WaitChange(t, r, c.ID, m, 5*time.Second, "create")
	m = r.Mark()
	if err := s.RevokeToken(ctx(t), store.RevokedToken{JTI: "jti-times", ClientID: c.ID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	revoked := WaitChange(t, r, c.ID, m, 5*time.Second, "revoke token")

	got, err := s.ChangeTimes(ctx(t), []int64{created.ID, revoked.ID, revoked.ID + 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("ChangeTimes = %v, want the two changes only", got)
	}
	const skew = time.Second // the database's clock against ours, on one machine
	if at := got[created.ID]; at.Before(before.Add(-skew)) || at.After(after.Add(skew)) {
		t.Errorf("the create was written at %v, want between %v and %v", at, before, after)
	}
	if !got[revoked.ID].After(got[created.ID]) && !got[revoked.ID].Equal(got[created.ID]) {
		t.Errorf("the later change was written at %v, before the earlier one at %v", got[revoked.ID], got[created.ID])
	}
}
