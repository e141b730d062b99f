package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// testRevokeToken: single revoked tokens are kept until they expire and
// reach every follower as a change carrying their jti.
func testRevokeToken(t *testing.T, s store.Store) {
	c := ctx(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	if got, err := s.RevokedTokens(c, now); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty store: %v %v", got, err)
	}
	rec, stop := StartFollow(t, s)
	defer stop()
	from := rec.Mark()
	live := store.RevokedToken{JTI: "jti-live", ClientID: credential.NewClientID(), ExpiresAt: now.Add(time.Hour)}
	old := store.RevokedToken{JTI: "jti-old", ClientID: live.ClientID, ExpiresAt: now.Add(-time.Minute)}
	for _, tok := range []store.RevokedToken{live, old, live} { // the repeat is a no-op
		if err := s.RevokeToken(c, tok); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RevokedTokens(c, now)
	if err != nil || len(got) != 1 || got[0].JTI != live.JTI || got[0].ClientID != live.ClientID || !got[0].ExpiresAt.Equal(live.ExpiresAt) {
		t.Fatalf("RevokedTokens = %+v, %v; want only the unexpired one", got, err)
	}
	ch := WaitChange(t, rec, live.ClientID, from, time.Second, "token revocation")
	if ch.JTI != live.JTI && ch.JTI != old.JTI {
		t.Fatalf("change %+v carries no revoked jti", ch)
	}
	Eventually(t, time.Second, func() bool { return len(rec.ChangesFor(live.ClientID, from)) >= 2 }, "both revocations reported")
	time.Sleep(200 * time.Millisecond) // a repeat must not be reported again
	jtis := map[string]int{}
	for _, ch := range rec.ChangesFor(live.ClientID, from) {
		jtis[ch.JTI]++
	}
	if jtis[live.JTI] != 1 || jtis[old.JTI] != 1 {
		t.Fatalf("changes by jti %v, want one each", jtis)
	}
}

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
