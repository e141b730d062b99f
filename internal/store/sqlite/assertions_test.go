package sqlite_test

import (
	"testing"
	"time"
)

// TestAssertionPruneSkew: the housekeeping (on the pruning instance's
// clock) keeps a used jti a while past its expiry, so an instance whose
// clock runs behind — which still accepts the assertion — finds it on
// record and refuses the replay.
func TestAssertionPruneSkew(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := open(t, dbPath(t))
	const skew = 20 * time.Second
	slow := time.Now().Add(-skew) // the clock of an instance 20 s behind
	if fresh, err := s.UseAssertion(ctx, "client-1", "jti-1", slow.Add(10*time.Second), slow); err != nil || !fresh {
		t.Fatalf("first use: %v %v", fresh, err)
	}
	if err := s.Prune(ctx, time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if fresh, err := s.UseAssertion(ctx, "client-1", "jti-1", slow.Add(10*time.Second), slow.Add(time.Second)); err != nil || fresh {
		t.Errorf("replayed on the slow instance after housekeeping: fresh %v, err %v", fresh, err)
	}
}
