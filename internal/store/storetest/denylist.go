package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// testTokenRevoked: the single-jti lookup an instance makes while its change
// feed is not synced sees a revocation as soon as it is committed, answers
// false (not an error) for anything else, and fails rather than answering
// when it cannot ask.
func testTokenRevoked(t *testing.T, s store.Store) {
	c := ctx(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	tok := store.RevokedToken{JTI: "jti-" + credential.NewClientID(), ClientID: credential.NewClientID(), ExpiresAt: now.Add(time.Hour)}
	check := func(jti string, want bool, what string) {
		t.Helper()
		got, err := s.TokenRevoked(c, jti)
		if err != nil || got != want {
			t.Fatalf("%s: TokenRevoked(%q) = %v, %v; want %v", what, jti, got, err, want)
		}
	}
	check(tok.JTI, false, "before revocation")
	for _, odd := range []string{"", "'", `" OR 1=1 --`, "jti with spaces", "ünïcödé", tok.JTI[:len(tok.JTI)-1], tok.JTI + "x"} {
		check(odd, false, "never revoked")
	}
	if err := s.RevokeToken(c, tok); err != nil {
		t.Fatal(err)
	}
	check(tok.JTI, true, "right after RevokeToken")
	if err := s.RevokeToken(c, tok); err != nil { // again: a no-op
		t.Fatal(err)
	}
	check(tok.JTI, true, "after revoking again")
	check(tok.JTI+"x", false, "a similar jti")

	dead, cancel := context.WithCancel(c)
	cancel()
	if got, err := s.TokenRevoked(dead, tok.JTI+"x"); err == nil {
		t.Fatalf("TokenRevoked with a cancelled context = %v, nil; want an error, never an answer", got)
	}
}
