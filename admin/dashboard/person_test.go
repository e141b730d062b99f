package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/admin/dashboard"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/oidclogin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestSignedIn: the Person contract names whoever a session is, as every
// dashboard request decides it — the master key, a client's key (as the
// client is now), a person signed in through the provider — and no one
// without a session, with an ended one, or with one of a provider that is
// no longer configured.
func TestSignedIn(t *testing.T) {
	forEachStore(t, func(t *testing.T, f *fixture) {
		login, err := oidclogin.New(oidclogin.Config{Issuer: "https://idp.example.com", ClientID: "gw", ClientSecret: "s",
			Rules: oidclogin.Rules{AllowedDomains: []string{"example.com"}}})
		if err != nil {
			t.Fatal(err)
		}
		st := f.a.backend.Store
		api := admin.NewHandler(admin.HandlerConfig{Service: f.a.svc, MasterKey: masterKey})
		d := dashboard.New(dashboard.Config{API: api, Store: st, Clients: f.a.backend.Clients, MasterKey: masterKey, Now: f.clock.Now,
			MountPath: func(*http.Request) string { return "/admin" }, OIDC: login})
		withCookie := func(v string) *http.Request {
			r := httptest.NewRequest(http.MethodGet, origin+"/oauth/authorize", nil)
			if v != "" {
				r.AddCookie(&http.Cookie{Name: dashboard.CookieName, Value: v})
			}
			return r
		}
		check := func(what string, r *http.Request, want dashboard.Person, ok bool) {
			t.Helper()
			got, gotOK := d.SignedIn(r)
			if gotOK != ok || got.ID != want.ID || got.Name != want.Name || !slices.Equal(got.MayGrant, want.MayGrant) {
				t.Fatalf("%s: SignedIn = %+v, %v; want %+v, %v", what, got, gotOK, want, ok)
			}
		}
		check("no cookie", withCookie(""), dashboard.Person{}, false)
		check("an unknown session", withCookie("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), dashboard.Person{}, false)

		master := signIn(t, d, `{"master_key":"`+masterKey+`"}`)
		check("master key", withCookie(master.cookie.Value), dashboard.Person{ID: "master", Name: "Master key", MayGrant: []string{"*"}}, true)

		c := f.create(t, store.TypeOAuth, admin.ScopeRead, "mcp:read")
		client := signIn(t, d, `{"client_id":"`+c.Client.ID+`","client_secret":"`+c.Secret+`"}`)
		check("a client's key", withCookie(client.cookie.Value),
			dashboard.Person{ID: "client:" + c.Client.ID, Name: c.Client.Name, MayGrant: []string{admin.ScopeRead, "mcp:read"}}, true)
		if _, err := f.a.svc.Revoke(t.Context(), admin.CLI, c.Client.ID); err != nil {
			t.Fatal(err)
		}
		check("a revoked client's key", withCookie(client.cookie.Value), dashboard.Person{}, false)

		// A person's session, as the provider's sign-in stores it.
		now := f.clock.Now().UTC().Truncate(time.Microsecond)
		person := func(token, issuer string, boundTo ...string) {
			p := &store.SessionPerson{Issuer: issuer, Subject: "248289761001", Email: "jane@example.com", Name: "Jane Doe", MayGrant: scope.MustParse("mcp:read mcp:write")}
			binding := dashboard.PersonBinding(token, p)
			if len(boundTo) > 0 {
				binding = dashboard.PersonBinding(boundTo[0], p)
			}
			if err := st.CreateSession(t.Context(), &store.Session{TokenHash: credential.HashOf(token), CredentialHash: binding,
				CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), Person: p}); err != nil {
				t.Fatal(err)
			}
		}
		jane := "JANEJANEJANEJANEJANEJANEJANEJANEJANEJANEJAN"
		person(jane, "https://idp.example.com")
		check("a person", withCookie(jane), dashboard.Person{ID: "oidc:https://idp.example.com#248289761001", Name: "jane@example.com", MayGrant: []string{"mcp:read", "mcp:write"}}, true)
		other := "OTHEROTHEROTHEROTHEROTHEROTHEROTHEROTHEROTH"
		person(other, "https://other-idp.example.com")
		check("a person of another provider", withCookie(other), dashboard.Person{}, false)
		// A row not made for its token (copied from another session, or
		// written by hand) is no one.
		forged := "FORGEDFORGEDFORGEDFORGEDFORGEDFORGEDFORGEDF"
		person(forged, "https://idp.example.com", jane)
		check("a person's session bound to another token", withCookie(forged), dashboard.Person{}, false)
		f.clock.Add(2 * time.Hour)
		check("a person past the session's end", withCookie(jane), dashboard.Person{}, false)
	})
}

// TestPersonAllowed: a grant's person signed in through a provider keeps
// it only while that provider is the configured one and the rules let
// their address in; key people are not the rules' to decide.
func TestPersonAllowed(t *testing.T) {
	login, err := oidclogin.New(oidclogin.Config{Issuer: "https://idp.example.com", ClientID: "gw", ClientSecret: "s",
		Rules: oidclogin.Rules{AllowedDomains: []string{"example.com"}, AllowedEmails: []string{"erin@partner.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		login    *oidclogin.Login
		id, name string
		want     bool
		what     string
	}{
		{login, "master", "Master key", true, "the master key"},
		{nil, "client:blnk_cid_x", "operator", true, "a client's key, without a provider"},
		{login, "oidc:https://idp.example.com#248289761001", "jane@example.com", true, "a person the rules let in"},
		{login, "oidc:https://idp.example.com#248289761001", "Jane@EXAMPLE.com", true, "their address in another case"},
		{login, "oidc:https://idp.example.com#e1", "erin@partner.org", true, "a listed address"},
		{login, "oidc:https://idp.example.com#248289761001", "jane@other.org", false, "an address the rules no longer let in"},
		{login, "oidc:https://idp.example.com#248289761001", "Jane Doe", false, "a name, not an address"},
		{login, "oidc:https://other-idp.example.com#248289761001", "jane@example.com", false, "a person of another provider"},
		{login, "oidc:https://idp.example.com.evil#x", "jane@example.com", false, "an issuer extending the configured one"},
		{login, "oidc:https://idp.example.com#", "jane@example.com", false, "no subject"},
		{nil, "oidc:https://idp.example.com#248289761001", "jane@example.com", false, "no provider configured"},
	} {
		if got := dashboard.PersonAllowed(c.login, c.id, c.name); got != c.want {
			t.Errorf("%s: PersonAllowed(%q, %q) = %v, want %v", c.what, c.id, c.name, got, c.want)
		}
	}
}
