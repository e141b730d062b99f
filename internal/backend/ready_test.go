package backend_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend/backendtest"
)

// TestReady: ready once the change feed is synced and the store answers;
// not ready, saying why, once the database is gone.
func TestReady(t *testing.T) {
	b := backendtest.Backend(t)
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for b.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %v", b.Ready(ctx))
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Store.Close()
	deadline = time.Now().Add(5 * time.Second)
	for {
		err := b.Ready(ctx)
		if errors.Is(err, backend.ErrStoreDown) || errors.Is(err, backend.ErrFeedNotSynced) {
			return
		}
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("still ready with its database closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
