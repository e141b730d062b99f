package storetest

import (
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// testPing: an open store answers; a closed one says it cannot, rather
// than hanging or pretending.
func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping on an open store: %v", err)
	}
	s.Close()
	if err := s.Ping(ctx(t)); err == nil {
		t.Fatal("Ping on a closed store succeeded")
	}
}
