package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

func sameRateLimit(a, b *store.RateLimit) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func fmtRateLimit(l *store.RateLimit) string {
	if l == nil {
		return "nil"
	}
	return fmt.Sprintf("%d/%s burst %d", l.Requests, l.Per, l.Burst)
}

// testRateLimit: a client's rate limit round-trips through create, get, list
// and update; other changes leave it alone; it can be removed.
func testRateLimit(t *testing.T, s store.Store) {
	limited := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	limited.RateLimit = &store.RateLimit{Requests: 100, Per: time.Second, Burst: 200}
	plain := NewClient(credential.NewClientID(), store.TypeAPIKey, Base.Add(time.Second))
	mustCreate(t, s, limited, plain)
	want := cloneClient(limited)
	check := func(what string, got *store.Client) {
		t.Helper()
		if !sameRateLimit(got.RateLimit, want.RateLimit) {
			t.Errorf("%s: RateLimit = %s, want %s", what, fmtRateLimit(got.RateLimit), fmtRateLimit(want.RateLimit))
		}
	}
	check("GetClient", mustGet(t, s, limited.ID))
	if got := mustGet(t, s, plain.ID); got.RateLimit != nil {
		t.Errorf("a client created without a rate limit has %s", fmtRateLimit(got.RateLimit))
	}
	list, err := s.ListClients(ctx(t), store.ListFilter{Limit: 10}, Base)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListClients: %d clients, %v", len(list), err)
	}
	check("ListClients", list[1])

	n := 0
	update := func(what string, u store.ClientUpdate) {
		t.Helper()
		n++
		got, err := s.UpdateClient(ctx(t), limited.ID, u, auditN(n), nil)
		if err != nil {
			t.Fatalf("UpdateClient(%s): %v", what, err)
		}
		check("UpdateClient("+what+") returned", got)
		check("after UpdateClient("+what+")", mustGet(t, s, limited.ID))
	}
	name := "renamed"
	update("name only", store.ClientUpdate{Name: &name})
	for _, l := range []store.RateLimit{{Requests: 5, Per: time.Minute, Burst: 1}, {Requests: 1_000_000, Per: time.Hour, Burst: 1_000_000}} {
		l := &l
		want.RateLimit = &store.RateLimit{Requests: l.Requests, Per: l.Per, Burst: l.Burst}
		update("rate limit "+fmtRateLimit(l), store.ClientUpdate{RateLimit: &l})
	}
	scopes := scope.MustParse("mcp:write")
	update("scopes only", store.ClientUpdate{Scopes: &scopes})
	none := (*store.RateLimit)(nil)
	want.RateLimit = nil
	update("no rate limit", store.ClientUpdate{RateLimit: &none})

	again := &store.RateLimit{Requests: 7, Per: time.Second, Burst: 7}
	want.RateLimit = again
	update("rate limit again", store.ClientUpdate{RateLimit: &again})
	roll := store.SecretRoll{Hash: credential.HashOf(credential.NewSecret()), Hint: "x"}
	rolled, err := s.RollSecret(ctx(t), limited.ID, roll, auditN(50), nil)
	if err != nil {
		t.Fatal(err)
	}
	check("RollSecret", rolled)
	revoked, err := s.RevokeClient(ctx(t), limited.ID, Base.Add(time.Hour), auditN(51), nil)
	if err != nil {
		t.Fatal(err)
	}
	check("RevokeClient", revoked)
}

// testRateLimitRefused: a rate limit the schema cannot hold is refused, and
// nothing is written.
func testRateLimitRefused(t *testing.T, s store.Store) {
	for _, l := range []store.RateLimit{{Requests: 1, Per: 2 * time.Second, Burst: 1}, {Requests: 0, Per: time.Second, Burst: 1}, {Requests: 1, Per: time.Second, Burst: 0}} {
		c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
		c.RateLimit = &l
		if err := s.CreateClient(ctx(t), c, testAudit); err == nil {
			t.Errorf("CreateClient with rate limit %s: no error", fmtRateLimit(&l))
		}
		if _, err := s.GetClient(ctx(t), c.ID); err != store.ErrNotFound {
			t.Errorf("after a refused CreateClient with %s: GetClient = %v, want ErrNotFound", fmtRateLimit(&l), err)
		}
		if evs := allAudit(t, s, c.ID); len(evs) != 0 {
			t.Errorf("a refused CreateClient left %d audit events", len(evs))
		}
	}
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	mustCreate(t, s, c)
	bad := &store.RateLimit{Requests: 10, Per: 10 * time.Second, Burst: 10}
	if _, err := s.UpdateClient(ctx(t), c.ID, store.ClientUpdate{RateLimit: &bad}, auditN(1), nil); err == nil {
		t.Error("UpdateClient with a 10s period: no error")
	}
	if got := mustGet(t, s, c.ID); got.RateLimit != nil {
		t.Errorf("a refused update left rate limit %s", fmtRateLimit(got.RateLimit))
	}
	if evs := allAudit(t, s, c.ID); len(evs) != 1 {
		t.Errorf("a refused update left %d audit events, want only the creation's", len(evs))
	}
}
