package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// testRedirectURIsUpdate: redirect URIs are replaced by an update that sets
// them, kept by one that does not, and emptied by an empty list.
func testRedirectURIsUpdate(t *testing.T, s store.Store) {
	c := ctx(t)
	cl := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	cl.RedirectURIs = []string{"https://a.example/cb"}
	mustCreate(t, s, cl)
	name := "renamed"
	got, err := s.UpdateClient(c, cl.ID, store.ClientUpdate{Name: &name}, auditN(1), nil)
	if err != nil || len(got.RedirectURIs) != 1 || got.RedirectURIs[0] != "https://a.example/cb" {
		t.Fatalf("update without redirect URIs: %v, %q", err, got.RedirectURIs)
	}
	uris := []string{"https://b.example/cb", "http://localhost/cb"}
	if got, err = s.UpdateClient(c, cl.ID, store.ClientUpdate{RedirectURIs: &uris}, auditN(2), nil); err != nil || len(got.RedirectURIs) != 2 || got.RedirectURIs[1] != uris[1] {
		t.Fatalf("update with redirect URIs: %v, %q", err, got.RedirectURIs)
	}
	if g := mustGet(t, s, cl.ID); len(g.RedirectURIs) != 2 {
		t.Fatalf("stored redirect URIs = %q", g.RedirectURIs)
	}
	none := []string{}
	if got, err = s.UpdateClient(c, cl.ID, store.ClientUpdate{RedirectURIs: &none}, auditN(3), nil); err != nil || len(got.RedirectURIs) != 0 {
		t.Fatalf("emptying redirect URIs: %v, %q", err, got.RedirectURIs)
	}
}

func newGrant(t testing.TB, s store.Store, clientID, person string, at time.Time) *store.Grant {
	t.Helper()
	g := &store.Grant{ClientID: clientID, PersonID: person, PersonName: "Name of " + person, Scopes: scope.MustParse("mcp:read mcp:write"), CreatedAt: at}
	if err := s.SaveGrant(ctx(t), g, store.Audit{Time: at, Actor: person}); err != nil {
		t.Fatalf("SaveGrant: %v", err)
	}
	return g
}

// testGrants: a grant round-trips, is replaced by a new approval, is
// listed per client, audited with the person as actor, refused for a
// revoked or unknown client, and revoking it ends its refresh tokens.
func testGrants(t *testing.T, s store.Store) {
	c := ctx(t)
	cl := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	other := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	mustCreate(t, s, cl, other)
	if _, err := s.GetGrant(c, cl.ID, "master"); !errors.Is(err, store.ErrNoGrant) {
		t.Fatalf("GetGrant(none) = %v, want ErrNoGrant", err)
	}
	newGrant(t, s, cl.ID, "master", Base)
	g2 := newGrant(t, s, cl.ID, "oidc:https://idp.example#42", Base.Add(time.Second))
	newGrant(t, s, other.ID, "master", Base)
	// A new approval replaces the scopes.
	g2.Scopes = scope.MustParse("mcp:read")
	if err := s.SaveGrant(c, g2, store.Audit{Time: Base.Add(time.Second), Actor: g2.PersonID}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetGrant(c, cl.ID, g2.PersonID)
	if err != nil || got.Scopes.String() != "mcp:read" || got.PersonName != g2.PersonName || !got.CreatedAt.Equal(g2.CreatedAt) || got.LastUsedAt != nil {
		t.Fatalf("GetGrant = %+v, %v", got, err)
	}
	list, err := s.ListGrants(c, cl.ID)
	if err != nil || len(list) != 2 || list[0].PersonID != g2.PersonID || list[1].PersonID != "master" {
		t.Fatalf("ListGrants = %+v, %v", list, err)
	}
	evs := allAudit(t, s, cl.ID)
	if len(evs) == 0 || evs[0].Action != store.ActionGrantApprove || evs[0].Actor != g2.PersonID {
		t.Fatalf("newest audit event = %+v, want grant.approve by the person", evs)
	}
	if err := s.SaveGrant(c, &store.Grant{ClientID: "nope", PersonID: "master", Scopes: scope.MustParse("*"), CreatedAt: Base}, store.Audit{Time: Base}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SaveGrant(unknown client) = %v, want ErrNotFound", err)
	}

	// Grants of clients known by their documents (never stored) are listed together.
	doc := &store.Grant{ClientID: "https://host.example/client.json", PersonID: "master", PersonName: "Master key", Scopes: scope.MustParse("mcp:read"), CreatedAt: Base.Add(2 * time.Second)}
	if err := s.SaveGrant(c, doc, store.Audit{Time: Base, Actor: "master"}); err != nil {
		t.Fatalf("SaveGrant(document client) = %v", err)
	}
	if docs, err := s.ListMetadataGrants(c, 10); err != nil || len(docs) != 1 || docs[0].ClientID != doc.ClientID {
		t.Fatalf("ListMetadataGrants = %+v, %v", docs, err)
	}

	// A refresh token under the grant; revoking the grant ends it.
	rt := &store.RefreshToken{Hash: credential.HashOf("rt1"), Family: "fam1", ClientID: cl.ID, PersonID: g2.PersonID, Scopes: g2.Scopes, CreatedAt: Base.Add(time.Minute), ExpiresAt: Base.Add(time.Hour)}
	if err := s.CreateRefreshToken(c, rt); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetGrant(c, cl.ID, g2.PersonID); got.LastUsedAt == nil || !got.LastUsedAt.Equal(rt.CreatedAt) {
		t.Fatalf("grant last used = %v, want %v", got.LastUsedAt, rt.CreatedAt)
	}
	if err := s.RevokeGrant(c, cl.ID, g2.PersonID, store.Audit{Time: Base, Actor: "master_key"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeGrant(c, cl.ID, g2.PersonID, store.Audit{Time: Base}); !errors.Is(err, store.ErrNoGrant) {
		t.Fatalf("RevokeGrant again = %v, want ErrNoGrant", err)
	}
	if _, err := rotate(c, s, rt.Hash, credential.HashOf("rt2"), Base.Add(2*time.Minute)); !errors.Is(err, store.ErrNoRefreshToken) {
		t.Fatalf("refreshing after the grant was revoked = %v, want ErrNoRefreshToken", err)
	}
	if evs := allAudit(t, s, cl.ID); evs[0].Action != store.ActionGrantRevoke {
		t.Fatalf("newest audit event = %+v, want grant.revoke", evs[0])
	}
	// No refresh token without a grant.
	if err := s.CreateRefreshToken(c, rt); !errors.Is(err, store.ErrNoGrant) {
		t.Fatalf("CreateRefreshToken without a grant = %v, want ErrNoGrant", err)
	}
	// Revoking the client ends the refresh tokens of its remaining grants.
	rt3 := &store.RefreshToken{Hash: credential.HashOf("rt3"), Family: "fam3", ClientID: cl.ID, PersonID: "master", Scopes: g2.Scopes, CreatedAt: Base, ExpiresAt: Base.Add(time.Hour)}
	if err := s.CreateRefreshToken(c, rt3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeClient(c, cl.ID, Base, auditN(9), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rotate(c, s, rt3.Hash, credential.HashOf("rt4"), Base.Add(time.Second)); !errors.Is(err, store.ErrNoRefreshToken) {
		t.Fatalf("refreshing for a revoked client = %v, want ErrNoRefreshToken", err)
	}
	if err := s.SaveGrant(c, g2, store.Audit{Time: Base}); !errors.Is(err, store.ErrRevoked) {
		t.Fatalf("SaveGrant(revoked client) = %v, want ErrRevoked", err)
	}
	// Deleting a client deletes its grants.
	if err := s.DeleteClient(c, other.ID, auditN(10), nil); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListGrants(c, other.ID); len(list) != 0 {
		t.Fatalf("grants of a deleted client = %+v", list)
	}
}

// testCodes: a code is redeemed once, in one transaction with the refresh
// token it issues; issue's refusal spends it and writes nothing else; a
// second redemption answers ErrCodeReused and revokes what the first issued
// (the refresh token family, the access tokens); an expired or unknown code
// is ErrNoCode; a revoked grant refuses the refresh token.
func testCodes(t *testing.T, s store.Store) {
	c := ctx(t)
	cl := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	mustCreate(t, s, cl)
	newGrant(t, s, cl.ID, "master", Base)
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	save := func(name string) *store.AuthCode {
		t.Helper()
		code := &store.AuthCode{
			Hash: credential.HashOf(name), ClientID: cl.ID, PersonID: "master", PersonName: "Master key",
			RedirectURI: "http://127.0.0.1/cb", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
			Resource: "https://mcp.example/mcp", Scopes: scope.MustParse("mcp:read"), Family: "fam-" + name, ExpiresAt: Base.Add(time.Minute),
		}
		if err := s.SaveCode(c, code); err != nil {
			t.Fatal(err)
		}
		return code
	}
	refresh := func(code *store.AuthCode, hash, jti string) *store.RefreshToken {
		return &store.RefreshToken{Hash: credential.HashOf(hash), Family: code.Family, ClientID: code.ClientID, PersonID: code.PersonID,
			Scopes: code.Scopes, Resource: code.Resource, CreatedAt: Base.Add(time.Second), ExpiresAt: Base.Add(time.Hour), AccessJTI: jti, AccessExpiresAt: &later}
	}
	noIssue := func(*store.AuthCode) (*store.RefreshToken, error) {
		t.Error("issue called")
		return nil, errors.New("no")
	}
	if err := s.RedeemCode(c, credential.HashOf("unknown"), Base, noIssue); !errors.Is(err, store.ErrNoCode) {
		t.Fatalf("RedeemCode(unknown) = %v, want ErrNoCode", err)
	}

	code := save("code1")
	var seen *store.AuthCode
	err := s.RedeemCode(c, code.Hash, Base.Add(time.Second), func(got *store.AuthCode) (*store.RefreshToken, error) {
		seen = got
		return refresh(got, "rt-1", "acc-code-1"), nil
	})
	if err != nil || seen == nil || seen.ClientID != cl.ID || seen.RedirectURI != code.RedirectURI || seen.CodeChallenge != code.CodeChallenge ||
		seen.Resource != code.Resource || seen.Scopes.String() != "mcp:read" || seen.Family != "fam-code1" || seen.PersonName != "Master key" ||
		!seen.ExpiresAt.Equal(code.ExpiresAt) || seen.UsedAt == nil {
		t.Fatalf("RedeemCode = %v, saw %+v", err, seen)
	}
	// The refresh token is stored: it rotates.
	rt2, err := rotate(c, s, credential.HashOf("rt-1"), credential.HashOf("rt-2"), Base.Add(2*time.Second))
	if err != nil {
		t.Fatalf("the code's refresh token: %v", err)
	}
	// A replay revokes the family (rt-2 too) and the access token.
	if err := s.RedeemCode(c, code.Hash, Base.Add(3*time.Second), noIssue); !errors.Is(err, store.ErrCodeReused) {
		t.Fatalf("RedeemCode again = %v, want ErrCodeReused", err)
	}
	if _, err := rotate(c, s, rt2.Hash, credential.HashOf("rt-3"), Base.Add(4*time.Second)); !errors.Is(err, store.ErrNoRefreshToken) {
		t.Fatalf("refreshing after the code's replay = %v, want ErrNoRefreshToken", err)
	}
	if ok, err := s.TokenRevoked(c, "acc-code-1"); err != nil || !ok {
		t.Fatalf("the replayed code's access token is not revoked: %v %v", ok, err)
	}

	// issue's refusal spends the code and stores nothing.
	refused := save("code2")
	wrong := errors.New("wrong verifier")
	if err := s.RedeemCode(c, refused.Hash, Base.Add(time.Second), func(*store.AuthCode) (*store.RefreshToken, error) { return nil, wrong }); err != wrong {
		t.Fatalf("RedeemCode with a refusal = %v, want the refusal", err)
	}
	if err := s.RedeemCode(c, refused.Hash, Base.Add(2*time.Second), noIssue); !errors.Is(err, store.ErrCodeReused) {
		t.Fatalf("a refused code again = %v, want ErrCodeReused", err)
	}

	// Expired.
	late := save("code3")
	if err := s.RedeemCode(c, late.Hash, late.ExpiresAt, noIssue); !errors.Is(err, store.ErrNoCode) {
		t.Fatalf("RedeemCode(expired) = %v, want ErrNoCode", err)
	}

	// Two redemptions at once: one issues, the other sees a replay and
	// revokes what the first issued, whichever commits first.
	race := save("code5")
	var (
		wg      sync.WaitGroup
		results [2]error
	)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.RedeemCode(c, race.Hash, Base.Add(time.Second), func(got *store.AuthCode) (*store.RefreshToken, error) {
				return refresh(got, fmt.Sprintf("race-%d", i), fmt.Sprintf("acc-race-%d", i)), nil
			})
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range results {
		switch {
		case err == nil && won < 0:
			won = i
		case errors.Is(err, store.ErrCodeReused):
		default:
			t.Fatalf("concurrent redemptions: %v", results)
		}
	}
	if won < 0 {
		t.Fatalf("no redemption won: %v", results)
	}
	if _, err := rotate(c, s, credential.HashOf(fmt.Sprintf("race-%d", won)), credential.HashOf("race-next"), Base.Add(2*time.Second)); !errors.Is(err, store.ErrNoRefreshToken) {
		t.Fatalf("the winner's refresh token after the concurrent replay = %v, want ErrNoRefreshToken", err)
	}
	if ok, _ := s.TokenRevoked(c, fmt.Sprintf("acc-race-%d", won)); !ok {
		t.Fatal("the winner's access token is not revoked after the concurrent replay")
	}

	// The grant revoked between approval and exchange.
	orphan := save("code4")
	if err := s.RevokeGrant(c, cl.ID, "master", store.Audit{Time: Base}); err != nil {
		t.Fatal(err)
	}
	if err := s.RedeemCode(c, orphan.Hash, Base.Add(time.Second), func(got *store.AuthCode) (*store.RefreshToken, error) {
		return refresh(got, "rt-x", "acc-x"), nil
	}); !errors.Is(err, store.ErrNoCode) && !errors.Is(err, store.ErrNoGrant) {
		t.Fatalf("redeeming after the grant was revoked = %v, want ErrNoCode or ErrNoGrant", err)
	}
}

// testRefreshRotation: a refresh token rotates into a successor of the same
// family and expiry; a replay of a spent token revokes the whole family; an
// expired one is refused; RFC 7009 revocation is limited to the owner.
func testRefreshRotation(t *testing.T, s store.Store) {
	c := ctx(t)
	cl := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	mustCreate(t, s, cl)
	newGrant(t, s, cl.ID, "master", Base)
	first := &store.RefreshToken{Hash: credential.HashOf("a"), Family: "f1", ClientID: cl.ID, PersonID: "master",
		Scopes: scope.MustParse("mcp:read"), Resource: "https://mcp.example/mcp", CreatedAt: Base, ExpiresAt: Base.Add(time.Hour)}
	if err := s.CreateRefreshToken(c, first); err != nil {
		t.Fatal(err)
	}
	second, err := rotate(c, s, first.Hash, credential.HashOf("b"), Base.Add(time.Minute))
	if err != nil || second.Family != "f1" || second.ClientID != cl.ID || second.Resource != first.Resource ||
		second.Scopes.String() != "mcp:read" || !second.ExpiresAt.Equal(first.ExpiresAt) || second.Hash != credential.HashOf("b") {
		t.Fatalf("RotateRefreshToken = %+v, %v", second, err)
	}
	third, err := rotate(c, s, second.Hash, credential.HashOf("c"), Base.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// Replaying the first revokes the family: the live third is gone too.
	if _, err := rotate(c, s, first.Hash, credential.HashOf("d"), Base.Add(3*time.Minute)); !errors.Is(err, store.ErrRefreshReused) {
		t.Fatalf("replay = %v, want ErrRefreshReused", err)
	}
	if _, err := rotate(c, s, third.Hash, credential.HashOf("e"), Base.Add(4*time.Minute)); !errors.Is(err, store.ErrNoRefreshToken) {
		t.Fatalf("refreshing the family's newest after a replay = %v, want ErrNoRefreshToken", err)
	}
	// Expiry.
	old := &store.RefreshToken{Hash: credential.HashOf("x"), Family: "f2", ClientID: cl.ID, PersonID: "master", Scopes: scope.MustParse("mcp:read"), CreatedAt: Base, ExpiresAt: Base.Add(time.Hour)}
	if err := s.CreateRefreshToken(c, old); err != nil {
		t.Fatal(err)
	}
	if _, err := rotate(c, s, old.Hash, credential.HashOf("y"), Base.Add(time.Hour)); !errors.Is(err, store.ErrNoRefreshToken) {
		t.Fatalf("expired = %v, want ErrNoRefreshToken", err)
	}
	// Revocation (RFC 7009) by another client finds nothing; by the owner, the family goes.
	live := &store.RefreshToken{Hash: credential.HashOf("z"), Family: "f3", ClientID: cl.ID, PersonID: "master", Scopes: scope.MustParse("mcp:read"), CreatedAt: Base, ExpiresAt: Base.Add(time.Hour)}
	if err := s.CreateRefreshToken(c, live); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeRefreshToken(c, live.Hash, "someone-else"); !errors.Is(err, store.ErrNoRefreshToken) {
		t.Fatalf("revoking another client's token = %v, want ErrNoRefreshToken", err)
	}
	next, err := rotate(c, s, live.Hash, credential.HashOf("z2"), Base.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.RevokeRefreshToken(c, next.Hash, cl.ID); err != nil || got.Family != "f3" {
		t.Fatalf("RevokeRefreshToken = %+v, %v", got, err)
	}
	if _, err := rotate(c, s, next.Hash, credential.HashOf("z3"), Base.Add(2*time.Second)); !errors.Is(err, store.ErrNoRefreshToken) {
		t.Fatalf("refreshing a revoked token = %v, want ErrNoRefreshToken", err)
	}
	// A family revoked by name.
	fam := &store.RefreshToken{Hash: credential.HashOf("q"), Family: "f4", ClientID: cl.ID, PersonID: "master", Scopes: scope.MustParse("mcp:read"), CreatedAt: Base, ExpiresAt: Base.Add(time.Hour)}
	if err := s.CreateRefreshToken(c, fam); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeRefreshFamily(c, "f4"); err != nil {
		t.Fatal(err)
	}
	if _, err := rotate(c, s, fam.Hash, credential.HashOf("q2"), Base.Add(time.Second)); !errors.Is(err, store.ErrNoRefreshToken) {
		t.Fatalf("refreshing a revoked family = %v, want ErrNoRefreshToken", err)
	}
}

// rotate is RotateRefreshToken with a mint that issues nothing.
func rotate(c context.Context, s store.Store, old, next credential.Hash, now time.Time) (*store.RefreshToken, error) {
	return s.RotateRefreshToken(c, old, next, now, func(*store.RefreshToken) error { return nil })
}

// testRefreshRevokesAccess: revoking refresh tokens — a replay's family, an
// RFC 7009 revocation, a grant's revocation — revokes the access tokens
// issued with them that have not expired, in the same transaction; a mint
// error aborts a rotation with nothing spent.
func testRefreshRevokesAccess(t *testing.T, s store.Store) {
	c := ctx(t)
	cl := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	mustCreate(t, s, cl)
	newGrant(t, s, cl.ID, "master", Base)
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	earlier := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	mk := func(hash, family, jti string, exp time.Time) *store.RefreshToken {
		t.Helper()
		rt := &store.RefreshToken{Hash: credential.HashOf(hash), Family: family, ClientID: cl.ID, PersonID: "master",
			Scopes: scope.MustParse("mcp:read"), CreatedAt: Base, ExpiresAt: Base.Add(time.Hour), AccessJTI: jti, AccessExpiresAt: &exp}
		if err := s.CreateRefreshToken(c, rt); err != nil {
			t.Fatal(err)
		}
		return rt
	}
	revoked := func(jti string) bool {
		t.Helper()
		ok, err := s.TokenRevoked(c, jti)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	first := mk("r1", "fam-a", "acc-1", later)
	if _, err := s.RotateRefreshToken(c, first.Hash, credential.HashOf("r2"), Base.Add(time.Second), func(*store.RefreshToken) error { return errors.New("signing failed") }); err == nil || err.Error() != "signing failed" {
		t.Fatalf("rotation with a failing mint: %v", err)
	}
	second, err := s.RotateRefreshToken(c, first.Hash, credential.HashOf("r2"), Base.Add(time.Second), func(n *store.RefreshToken) error {
		n.AccessJTI, n.AccessExpiresAt = "acc-2", &later
		return nil
	})
	if err != nil || second.AccessJTI != "acc-2" {
		t.Fatalf("rotation after a failed one: %+v %v (the failed one must spend nothing)", second, err)
	}
	if revoked("acc-1") || revoked("acc-2") {
		t.Fatal("access tokens revoked by a rotation")
	}
	if _, err := rotate(c, s, first.Hash, credential.HashOf("r3"), Base.Add(2*time.Second)); !errors.Is(err, store.ErrRefreshReused) {
		t.Fatalf("replay = %v", err)
	}
	if !revoked("acc-1") || !revoked("acc-2") {
		t.Fatal("a replay did not revoke the family's access tokens")
	}

	mk("r4", "fam-b", "acc-old", earlier)
	if err := s.RevokeRefreshFamily(c, "fam-b"); err != nil {
		t.Fatal(err)
	}
	if revoked("acc-old") {
		t.Error("an expired access token was recorded as revoked")
	}

	rfc := mk("r5", "fam-c", "acc-5", later)
	if _, err := s.RevokeRefreshToken(c, rfc.Hash, cl.ID); err != nil || !revoked("acc-5") {
		t.Fatalf("RFC 7009 revocation of a refresh token: %v, access revoked %v", err, revoked("acc-5"))
	}

	mk("r6", "fam-d", "acc-6", later)
	if err := s.RevokeGrant(c, cl.ID, "master", store.Audit{Time: Base, Actor: "master_key"}); err != nil || !revoked("acc-6") {
		t.Fatalf("grant revocation: %v, access revoked %v", err, revoked("acc-6"))
	}
	list, err := s.RevokedTokens(c, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		if r.ClientID != cl.ID || !r.ExpiresAt.Equal(later) {
			t.Errorf("revoked token %+v, want client %s until %v", r, cl.ID, later)
		}
	}
}

// testPersonClientRevoked: a person signed in with a client's key is that
// client acting as a person ("client:<id>", store.ClientPersonID). When that
// client is revoked or deleted, what it approved for other clients ends with
// it, in the same transaction: the refresh tokens issued under its grants
// (and their unexpired access tokens), its codes and its grants. Otherwise
// a revoked key would keep acting through every application it approved.
func testPersonClientRevoked(t *testing.T, s store.Store) {
	c := ctx(t)
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	for _, how := range []string{"revoke", "delete"} {
		person := NewClient(credential.NewClientID(), store.TypeOAuth, Base) // whose key signed in
		app := NewClient(credential.NewClientID(), store.TypeOAuth, Base)    // the application it approved
		mustCreate(t, s, person, app)
		pid := store.ClientPersonID(person.ID)
		newGrant(t, s, app.ID, pid, Base)
		newGrant(t, s, app.ID, "master", Base)
		code := &store.AuthCode{Hash: credential.HashOf(how + "code"), ClientID: app.ID, PersonID: pid, Scopes: scope.MustParse("mcp:read"),
			Family: how + "fam-code", CodeChallenge: "c", ExpiresAt: time.Now().Add(time.Minute)}
		if err := s.SaveCode(c, code); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{pid, "master"} {
			rt := &store.RefreshToken{Hash: credential.HashOf(how + p), Family: how + "fam-" + p, ClientID: app.ID, PersonID: p,
				Scopes: scope.MustParse("mcp:read"), CreatedAt: Base, ExpiresAt: time.Now().Add(time.Hour), AccessJTI: how + "acc-" + p, AccessExpiresAt: &later}
			if err := s.CreateRefreshToken(c, rt); err != nil {
				t.Fatal(err)
			}
		}
		a := store.Audit{Time: Base, Actor: "master_key"}
		var err error
		if how == "revoke" {
			_, err = s.RevokeClient(c, person.ID, Base, a, nil)
		} else {
			err = s.DeleteClient(c, person.ID, a, nil)
		}
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		if _, err := rotate(c, s, credential.HashOf(how+pid), credential.HashOf(how+"next"), Base.Add(time.Second)); !errors.Is(err, store.ErrNoRefreshToken) {
			t.Errorf("%s: the refresh token the revoked key approved still rotates: %v", how, err)
		}
		if ok, err := s.TokenRevoked(c, how+"acc-"+pid); err != nil || !ok {
			t.Errorf("%s: the access token issued under the revoked key's grant is not revoked: %v %v", how, ok, err)
		}
		if _, err := s.GetGrant(c, app.ID, pid); !errors.Is(err, store.ErrNoGrant) {
			t.Errorf("%s: the revoked key's grant is still remembered: %v", how, err)
		}
		if err := s.RedeemCode(c, code.Hash, time.Now(), func(*store.AuthCode) (*store.RefreshToken, error) {
			return nil, errors.New("issued")
		}); !errors.Is(err, store.ErrNoCode) {
			t.Errorf("%s: the revoked key's code is still redeemable: %v", how, err)
		}
		// Another person's grant of the same application is untouched.
		if _, err := rotate(c, s, credential.HashOf(how+"master"), credential.HashOf(how+"next-master"), Base.Add(time.Second)); err != nil {
			t.Errorf("%s: another person's refresh token was ended: %v", how, err)
		}
		if ok, _ := s.TokenRevoked(c, how+"acc-master"); ok {
			t.Errorf("%s: another person's access token was revoked", how)
		}
	}
}
