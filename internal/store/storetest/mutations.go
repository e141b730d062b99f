package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

func testUpdate(t *testing.T, s store.Store) {
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	c.ExpiresAt = ptr(Base.Add(48 * time.Hour))
	c.LastUsedAt = ptr(Base.Add(time.Minute + time.Microsecond))
	c.PreviousSecretHash = hashPtr(credential.HashOf(credential.NewSecret()))
	c.PreviousSecretExpiresAt = ptr(Base.Add(time.Hour))
	bystander := NewClient(credential.NewClientID(), store.TypeAPIKey, Base)
	bystander.ExpiresAt = ptr(Base.Add(time.Hour))
	mustCreate(t, s, c, bystander)
	want := cloneClient(c)

	n := 0
	update := func(what string, u store.ClientUpdate) {
		t.Helper()
		n++
		got, err := s.UpdateClient(ctx(t), c.ID, u, auditN(n), nil)
		if err != nil {
			t.Fatalf("UpdateClient(%s): %v", what, err)
		}
		if d := diffClient(got, want); len(d) > 0 {
			t.Errorf("UpdateClient(%s) returned:\n\t%s", what, strings.Join(d, "\n\t"))
		}
		if d := diffClient(mustGet(t, s, c.ID), want); len(d) > 0 {
			t.Errorf("after UpdateClient(%s), stored:\n\t%s", what, strings.Join(d, "\n\t"))
		}
	}

	name := `Neuer Name «prod» 💳 'single' "double" \back`
	want.Name = name
	update("name", store.ClientUpdate{Name: &name})

	scopes := scope.MustParse("mcp:read balances:* *:write")
	want.Scopes = scopes
	update("scopes", store.ClientUpdate{Scopes: &scopes})

	exp := ptr(Base.Add(72*time.Hour + 17*time.Microsecond))
	want.ExpiresAt = ptr(*exp)
	update("expires_at", store.ClientUpdate{ExpiresAt: &exp})

	never := (*time.Time)(nil)
	want.ExpiresAt = nil
	update("expires_at never", store.ClientUpdate{ExpiresAt: &never})
	if st := mustGet(t, s, c.ID).Status(Base.Add(100 * 365 * 24 * time.Hour)); st != store.StatusActive {
		t.Errorf("status of a client updated to never expire = %q, want active", st)
	}

	update("nothing", store.ClientUpdate{})

	// Every field at once, giving an expiry (in the past) to a client that never expires.
	name2, scopes2, exp2 := "all at once", scope.MustParse("ledgers:read"), ptr(Base.Add(-time.Hour+time.Microsecond))
	want.Name, want.Scopes, want.ExpiresAt = name2, scopes2, ptr(*exp2)
	update("every field", store.ClientUpdate{Name: &name2, Scopes: &scopes2, ExpiresAt: &exp2})
	// The listing follows the new expiry.
	if ids := listIDs(t, s, store.ListFilter{Status: store.StatusExpired, Limit: 10}, Base); !slices.Equal(ids, []string{c.ID}) {
		t.Errorf("expired clients after the update = %q, want [%s]", ids, c.ID)
	}

	// Changing the caller's values afterwards changes nothing stored.
	name2, scopes2, *exp2 = "changed by the caller", scope.MustParse("*"), Base.Add(time.Hour)
	CheckClient(t, mustGet(t, s, c.ID), want)
	// Nor does changing what UpdateClient returned.
	got, err := s.UpdateClient(ctx(t), c.ID, store.ClientUpdate{}, testAudit, nil)
	if err != nil {
		t.Fatal(err)
	}
	got.Name = "changed too"
	*got.ExpiresAt = Base.Add(time.Hour)
	CheckClient(t, mustGet(t, s, c.ID), want)

	// The other client was never touched.
	CheckClient(t, mustGet(t, s, bystander.ID), bystander)

	// An unknown client is not found, and not created.
	unknown := credential.NewClientID()
	events := len(allAudit(t, s, ""))
	if _, err := s.UpdateClient(ctx(t), unknown, store.ClientUpdate{Name: &name}, testAudit, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateClient(unknown): err = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateClient(ctx(t), unknown, store.ClientUpdate{}, testAudit, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateClient(unknown, nothing): err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetClient(ctx(t), unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient after UpdateClient(unknown): err = %v, want ErrNotFound", err)
	}
	if got := len(allAudit(t, s, "")); got != events {
		t.Errorf("UpdateClient(unknown) wrote %d audit events", got-events)
	}
	CheckClient(t, mustGet(t, s, c.ID), want)
}

func testUpdateRevoked(t *testing.T, s store.Store) {
	revoked := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	revoked.ExpiresAt = ptr(Base.Add(time.Hour))
	createdRevoked := NewClient(credential.NewClientID(), store.TypeAPIKey, Base)
	createdRevoked.RevokedAt = ptr(Base)
	mustCreate(t, s, revoked, createdRevoked)
	if _, err := s.RevokeClient(ctx(t), revoked.ID, Base.Add(time.Minute), testAudit, nil); err != nil {
		t.Fatal(err)
	}
	revoked.RevokedAt = ptr(Base.Add(time.Minute))
	events := len(allAudit(t, s, ""))

	name := "new name"
	scopes := scope.MustParse("*")
	exp := ptr(Base.Add(100 * time.Hour))
	never := (*time.Time)(nil)
	updates := []struct {
		what string
		u    store.ClientUpdate
	}{
		{"name", store.ClientUpdate{Name: &name}},
		{"scopes", store.ClientUpdate{Scopes: &scopes}},
		{"expires_at", store.ClientUpdate{ExpiresAt: &exp}},
		{"expires_at never", store.ClientUpdate{ExpiresAt: &never}},
		{"every field", store.ClientUpdate{Name: &name, Scopes: &scopes, ExpiresAt: &never}},
		{"nothing", store.ClientUpdate{}},
	}
	for _, c := range []*store.Client{revoked, createdRevoked} {
		for _, u := range updates {
			if _, err := s.UpdateClient(ctx(t), c.ID, u.u, testAudit, nil); !errors.Is(err, store.ErrRevoked) {
				t.Errorf("UpdateClient(revoked, %s): err = %v, want ErrRevoked", u.what, err)
			}
			checkUnchanged(t, s, c, events, "UpdateClient(revoked, "+u.what+")")
		}
	}
}

func testRollSecret(t *testing.T, s store.Store) {
	secret0 := credential.NewSecret()
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	c.SecretHash, c.SecretHint = credential.HashOf(secret0), credential.Hint(secret0)
	c.ExpiresAt = ptr(Base.Add(48 * time.Hour))
	c.LastUsedAt = ptr(Base.Add(time.Minute))
	bystander := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	mustCreate(t, s, c, bystander)
	want := cloneClient(c)

	n := 0
	roll := func(what, secret string, until *time.Time) *store.Client {
		t.Helper()
		n++
		want.SecretHash, want.SecretHint = credential.HashOf(secret), credential.Hint(secret)
		r := store.SecretRoll{Hash: credential.HashOf(secret), Hint: credential.Hint(secret), PreviousValidUntil: until}
		got, err := s.RollSecret(ctx(t), c.ID, r, auditN(n), nil)
		if err != nil {
			t.Fatalf("RollSecret(%s): %v", what, err)
		}
		if d := diffClient(got, want); len(d) > 0 {
			t.Errorf("RollSecret(%s) returned:\n\t%s", what, strings.Join(d, "\n\t"))
		}
		stored := mustGet(t, s, c.ID)
		if d := diffClient(stored, want); len(d) > 0 {
			t.Errorf("after RollSecret(%s), stored:\n\t%s", what, strings.Join(d, "\n\t"))
		}
		return stored
	}
	matches := func(what string, c *store.Client, secret string, at time.Time, want bool) {
		t.Helper()
		if got := c.SecretMatches(secret, at); got != want {
			t.Errorf("%s: SecretMatches(%s) at %s = %t, want %t", what, credential.Hint(secret), at.Format(time.RFC3339Nano), got, want)
		}
	}

	// With a grace period the old secret becomes the previous one, until then.
	secret1 := credential.NewSecret()
	until1 := Base.Add(time.Hour + 5*time.Microsecond)
	want.PreviousSecretHash, want.PreviousSecretExpiresAt = hashPtr(credential.HashOf(secret0)), ptr(until1)
	got := roll("with grace", secret1, ptr(until1))
	matches("first roll", got, secret1, Base, true)
	matches("first roll", got, secret1, until1.Add(time.Hour), true)
	matches("first roll", got, secret0, until1.Add(-time.Microsecond), true)
	matches("first roll", got, secret0, until1, false)

	// Rolling again keeps only the secret just replaced.
	secret2 := credential.NewSecret()
	until2 := Base.Add(2 * time.Hour)
	want.PreviousSecretHash, want.PreviousSecretExpiresAt = hashPtr(credential.HashOf(secret1)), ptr(until2)
	got = roll("again with grace", secret2, ptr(until2))
	matches("second roll", got, secret2, Base, true)
	matches("second roll", got, secret1, Base, true)
	matches("second roll", got, secret0, Base, false)

	// Without a grace period the previous secret is cleared.
	secret3 := credential.NewSecret()
	want.PreviousSecretHash, want.PreviousSecretExpiresAt = nil, nil
	got = roll("without grace", secret3, nil)
	matches("roll without grace", got, secret3, Base, true)
	matches("roll without grace", got, secret2, Base, false)
	matches("roll without grace", got, secret1, Base, false)

	// A grace period after a roll without one keeps the current secret.
	secret4 := credential.NewSecret()
	until4 := Base.Add(-time.Hour) // already over: stored as given
	want.PreviousSecretHash, want.PreviousSecretExpiresAt = hashPtr(credential.HashOf(secret3)), ptr(until4)
	got = roll("grace after none", secret4, ptr(until4))
	matches("grace after none", got, secret3, until4.Add(-time.Microsecond), true)
	matches("grace after none", got, secret3, Base, false)

	// Changing what RollSecret was given or returned changes nothing stored.
	secret5 := credential.NewSecret()
	until5 := ptr(Base.Add(3 * time.Hour))
	want.PreviousSecretHash, want.PreviousSecretExpiresAt = hashPtr(credential.HashOf(secret4)), ptr(*until5)
	n++
	r := store.SecretRoll{Hash: credential.HashOf(secret5), Hint: credential.Hint(secret5), PreviousValidUntil: until5}
	want.SecretHash, want.SecretHint = r.Hash, r.Hint
	ret, err := s.RollSecret(ctx(t), c.ID, r, auditN(n), nil)
	if err != nil {
		t.Fatal(err)
	}
	*until5 = Base
	r.Hash[0] ^= 0xff
	ret.PreviousSecretHash[0] ^= 0xff
	*ret.PreviousSecretExpiresAt = Base
	ret.SecretHash[0] ^= 0xff
	CheckClient(t, mustGet(t, s, c.ID), want)

	// An API key rolls the same way.
	k := NewClient(credential.NewClientID(), store.TypeAPIKey, Base)
	mustCreate(t, s, k)
	key, err := credential.NewAPIKey(k.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantK := cloneClient(k)
	wantK.SecretHash, wantK.SecretHint = credential.HashOf(key), credential.Hint(key)
	wantK.PreviousSecretHash, wantK.PreviousSecretExpiresAt = hashPtr(k.SecretHash), ptr(Base.Add(time.Minute))
	gotK, err := s.RollSecret(ctx(t), k.ID, store.SecretRoll{Hash: credential.HashOf(key), Hint: credential.Hint(key), PreviousValidUntil: ptr(Base.Add(time.Minute))}, testAudit, nil)
	if err != nil {
		t.Fatalf("RollSecret(api key): %v", err)
	}
	CheckClient(t, gotK, wantK)
	CheckClient(t, mustGet(t, s, k.ID), wantK)

	// The other client was never touched.
	CheckClient(t, mustGet(t, s, bystander.ID), bystander)

	// An unknown client is not found, and not created.
	events := len(allAudit(t, s, ""))
	unknown := credential.NewClientID()
	for _, until := range []*time.Time{nil, ptr(Base)} {
		if _, err := s.RollSecret(ctx(t), unknown, store.SecretRoll{Hash: credential.HashOf(secret0), Hint: "h", PreviousValidUntil: until}, testAudit, nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RollSecret(unknown): err = %v, want ErrNotFound", err)
		}
	}
	if _, err := s.GetClient(ctx(t), unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient after RollSecret(unknown): err = %v, want ErrNotFound", err)
	}
	if got := len(allAudit(t, s, "")); got != events {
		t.Errorf("RollSecret(unknown) wrote %d audit events", got-events)
	}
}

func testRollSecretRevoked(t *testing.T, s store.Store) {
	revoked := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	createdRevoked := NewClient(credential.NewClientID(), store.TypeAPIKey, Base)
	createdRevoked.RevokedAt = ptr(Base)
	// A revoked client in the middle of a roll keeps its previous secret as it was.
	createdRevoked.PreviousSecretHash = hashPtr(credential.HashOf(credential.NewSecret()))
	createdRevoked.PreviousSecretExpiresAt = ptr(Base.Add(time.Hour))
	mustCreate(t, s, revoked, createdRevoked)
	if _, err := s.RevokeClient(ctx(t), revoked.ID, Base.Add(time.Minute), testAudit, nil); err != nil {
		t.Fatal(err)
	}
	revoked.RevokedAt = ptr(Base.Add(time.Minute))
	events := len(allAudit(t, s, ""))
	for _, c := range []*store.Client{revoked, createdRevoked} {
		for _, until := range []*time.Time{nil, ptr(Base.Add(time.Hour))} {
			secret := credential.NewSecret()
			r := store.SecretRoll{Hash: credential.HashOf(secret), Hint: credential.Hint(secret), PreviousValidUntil: until}
			if _, err := s.RollSecret(ctx(t), c.ID, r, testAudit, nil); !errors.Is(err, store.ErrRevoked) {
				t.Errorf("RollSecret(revoked, grace until %s): err = %v, want ErrRevoked", fmtTime(until), err)
			}
			checkUnchanged(t, s, c, events, "RollSecret(revoked)")
			if mustGet(t, s, c.ID).SecretMatches(secret, Base) {
				t.Errorf("the secret of a refused roll matches")
			}
		}
	}
}

func testSecretMatches(t *testing.T, s store.Store) {
	current, previous := credential.NewSecret(), credential.NewSecret()
	until := Base.Add(time.Hour + 3*time.Microsecond)
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	c.SecretHash = credential.HashOf(current)
	c.PreviousSecretHash = hashPtr(credential.HashOf(previous))
	c.PreviousSecretExpiresAt = ptr(until)
	// The same state reached by a roll rather than by creation.
	rolled := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	rolled.SecretHash = credential.HashOf(previous)
	mustCreate(t, s, c, rolled)
	if _, err := s.RollSecret(ctx(t), rolled.ID, store.SecretRoll{Hash: credential.HashOf(current), Hint: credential.Hint(current), PreviousValidUntil: ptr(until)}, testAudit, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{c.ID, rolled.ID} {
		got := mustGet(t, s, id)
		for _, tc := range []struct {
			what   string
			secret string
			at     time.Time
			want   bool
		}{
			{"current, long before", current, Base.Add(-24 * time.Hour), true},
			{"current, after the grace period", current, until.Add(24 * time.Hour), true},
			{"current, at the end of the grace period", current, until, true},
			{"previous, long before", previous, Base.Add(-24 * time.Hour), true},
			{"previous, a microsecond before the end", previous, until.Add(-time.Microsecond), true},
			{"previous, a nanosecond before the end", previous, until.Add(-time.Nanosecond), true},
			{"previous, at the end", previous, until, false},
			{"previous, after the end", previous, until.Add(time.Microsecond), false},
			{"previous, long after", previous, until.Add(24 * time.Hour), false},
			{"random", credential.NewSecret(), Base, false},
			{"empty", "", Base, false},
			{"current with a character more", current + "x", Base, false},
			{"previous truncated", previous[:len(previous)-1], Base, false},
		} {
			if g := got.SecretMatches(tc.secret, tc.at); g != tc.want {
				t.Errorf("client %s: SecretMatches(%s) = %t, want %t", id, tc.what, g, tc.want)
			}
		}
	}
	// A previous hash without an expiry is not accepted.
	noExpiry := cloneClient(mustGet(t, s, c.ID))
	noExpiry.PreviousSecretExpiresAt = nil
	if noExpiry.SecretMatches(previous, Base) {
		t.Error("a previous secret without an expiry matches")
	}
	if !noExpiry.SecretMatches(current, Base) {
		t.Error("the current secret does not match when the previous one has no expiry")
	}
}

// testMutationRacesRevoke races UpdateClient and RollSecret against
// RevokeClient: each either happens entirely before the revocation (its
// audit event first) or not at all (ErrRevoked, nothing changed, no event).
func testMutationRacesRevoke(t *testing.T, s store.Store) {
	const rounds = 8
	for round := range rounds {
		old := credential.NewSecret()
		c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
		c.SecretHash = credential.HashOf(old)
		mustCreate(t, s, c)
		name := fmt.Sprintf("renamed in round %d", round)
		secret := credential.NewSecret()
		var updateErr, rollErr, revokeErr error
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			<-start
			_, updateErr = s.UpdateClient(ctx(t), c.ID, store.ClientUpdate{Name: &name}, testAudit, nil)
		})
		wg.Go(func() {
			<-start
			_, rollErr = s.RollSecret(ctx(t), c.ID, store.SecretRoll{Hash: credential.HashOf(secret), Hint: "new"}, testAudit, nil)
		})
		wg.Go(func() {
			<-start
			_, revokeErr = s.RevokeClient(ctx(t), c.ID, Base.Add(time.Hour), testAudit, nil)
		})
		close(start)
		wg.Wait()
		if revokeErr != nil {
			t.Fatalf("round %d: RevokeClient: %v", round, revokeErr)
		}
		for what, err := range map[string]error{"UpdateClient": updateErr, "RollSecret": rollErr} {
			if err != nil && !errors.Is(err, store.ErrRevoked) {
				t.Fatalf("round %d: %s racing a revocation: %v", round, what, err)
			}
		}
		got := mustGet(t, s, c.ID)
		if got.RevokedAt == nil {
			t.Fatalf("round %d: not revoked", round)
		}
		if (got.Name == name) != (updateErr == nil) {
			t.Errorf("round %d: UpdateClient err = %v but name = %q", round, updateErr, got.Name)
		}
		if got.SecretMatches(secret, Base) != (rollErr == nil) || got.SecretMatches(old, Base) != (rollErr != nil) {
			t.Errorf("round %d: RollSecret err = %v but the stored secret does not agree", round, rollErr)
		}
		evs := allAudit(t, s, c.ID)
		var actions []string
		for _, e := range slices.Backward(evs) {
			actions = append(actions, e.Action)
		}
		// Oldest first: create, then whichever of update and roll succeeded, then revoke.
		if len(actions) < 2 || actions[0] != store.ActionCreate || actions[len(actions)-1] != store.ActionRevoke {
			t.Fatalf("round %d: audit actions %q: want create first and revoke last", round, actions)
		}
		middle := actions[1 : len(actions)-1]
		if slices.Contains(middle, store.ActionUpdate) != (updateErr == nil) || slices.Contains(middle, store.ActionRollSecret) != (rollErr == nil) || len(middle) > 2 {
			t.Errorf("round %d: audit actions %q, but UpdateClient err = %v, RollSecret err = %v", round, actions, updateErr, rollErr)
		}
	}
}
