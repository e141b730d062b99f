package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// testSessions: a dashboard session round-trips by the hash of its token,
// only moves its last use forward, ends on delete, and is pruned once past
// its absolute or idle end (and not before).
func testSessions(t *testing.T, s store.Store) {
	c := ctx(t)
	unknown := credential.HashOf("no such token")
	if _, err := s.GetSession(c, unknown); !errors.Is(err, store.ErrNoSession) {
		t.Fatalf("GetSession(unknown) error = %v, want ErrNoSession", err)
	}
	for _, err := range []error{s.TouchSession(c, unknown, Base), s.DeleteSession(c, unknown)} {
		if err != nil {
			t.Fatalf("touching or deleting an unknown session: %v", err)
		}
	}

	mk := func(token, clientID string, created time.Time, life time.Duration) *store.Session {
		t.Helper()
		ses := &store.Session{
			TokenHash: credential.HashOf(token), ClientID: clientID, CredentialHash: credential.HashOf("secret of " + token),
			CreatedAt: created, LastSeenAt: created, ExpiresAt: created.Add(life),
		}
		if err := s.CreateSession(c, ses); err != nil {
			t.Fatalf("CreateSession(%s): %v", token, err)
		}
		return ses
	}
	check := func(want *store.Session) {
		t.Helper()
		got, err := s.GetSession(c, want.TokenHash)
		if err != nil {
			t.Fatalf("GetSession: %v", err)
		}
		if (got.Person == nil) != (want.Person == nil) {
			t.Fatalf("GetSession person = %+v, want %+v", got.Person, want.Person)
		}
		if p, w := got.Person, want.Person; p != nil && (p.Issuer != w.Issuer || p.Subject != w.Subject || p.Email != w.Email ||
			p.Name != w.Name || p.MayGrant.String() != w.MayGrant.String()) {
			t.Fatalf("GetSession person = %+v, want %+v", p, w)
		}
		if got.TokenHash != want.TokenHash || got.ClientID != want.ClientID || got.CredentialHash != want.CredentialHash ||
			!got.CreatedAt.Equal(want.CreatedAt) || !got.LastSeenAt.Equal(want.LastSeenAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
			got.CreatedAt.Location() != time.UTC || got.ExpiresAt.Location() != time.UTC {
			t.Fatalf("GetSession = %+v, want %+v", got, want)
		}
	}

	master := mk("master", "", Base, 12*time.Hour)
	client := mk("client", credential.NewClientID(), Base, 12*time.Hour)
	check(master)
	check(client)

	// A person's session keeps who they are and what they may grant; one
	// allowed nothing comes back allowed nothing.
	person := &store.Session{
		TokenHash: credential.HashOf("person"), CredentialHash: credential.HashOf("binding of person"),
		CreatedAt: Base, LastSeenAt: Base, ExpiresAt: Base.Add(time.Hour),
		Person: &store.SessionPerson{
			Issuer: "https://idp.example.com/tenant", Subject: "248289761001", Email: "jane@example.com", Name: "Jane Doe",
			MayGrant: scope.MustParse("mcp:read api-keys:read"),
		},
	}
	nobody := &store.Session{
		TokenHash: credential.HashOf("nobody"), CreatedAt: Base, LastSeenAt: Base, ExpiresAt: Base.Add(time.Hour),
		Person: &store.SessionPerson{Issuer: "https://idp.example.com/tenant", Subject: "x", Email: "x@example.com"},
	}
	for _, ses := range []*store.Session{person, nobody} {
		if err := s.CreateSession(c, ses); err != nil {
			t.Fatalf("CreateSession(person): %v", err)
		}
		check(ses)
	}
	if err := s.CreateSession(c, master); err == nil {
		t.Fatal("CreateSession with a token hash in use succeeded")
	}

	later := Base.Add(90 * time.Second)
	if err := s.TouchSession(c, client.TokenHash, later); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(c, client.TokenHash, Base.Add(time.Second)); err != nil { // never backwards
		t.Fatal(err)
	}
	client.LastSeenAt = later
	check(client)
	check(master) // untouched

	if err := s.DeleteSession(c, master.TokenHash); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(c, master.TokenHash); !errors.Is(err, store.ErrNoSession) {
		t.Fatalf("GetSession after DeleteSession: %v, want ErrNoSession", err)
	}
	check(client)

	// Pruning: one past its absolute end, one idle, one alive.
	expired := mk("expired", credential.NewClientID(), Base.Add(-2*time.Hour), time.Hour)
	idle := mk("idle", credential.NewClientID(), Base.Add(-time.Hour), 12*time.Hour)
	if err := s.PruneSessions(c, Base, Base.Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []*store.Session{expired, idle} {
		if _, err := s.GetSession(c, gone.TokenHash); !errors.Is(err, store.ErrNoSession) {
			t.Fatalf("session created %v survived PruneSessions: %v", gone.CreatedAt, err)
		}
	}
	check(client)
}
