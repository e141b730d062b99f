package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/blnkfinance/blnk-auth-gateway/admin/dashboard"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// Single sign-on and the authorization-code flow together, through real
// Caddy: an MCP host's authorization request (x/oauth2) sends a person to
// the consent page, which sends them to the sign-in page, which sends them
// through the OpenID provider (zitadel/oidc's example provider, in
// process) and back to the consent page; they approve, and the host gets
// tokens that name the person.

// ssoGateway runs the gateway with the dashboard at /admin, the consent
// page there, single sign-on through a fresh provider and an MCP route.
func ssoGateway(t *testing.T, kind string) (*testGateway, *testProvider, string) {
	t.Helper()
	apiPort := freePort(t)
	dash := fmt.Sprintf("http://127.0.0.1:%d/admin/", apiPort)
	p := startProvider(t, dash+"ui/oidc/callback")
	g := startGateway(t, gatewayOptions{
		store:     kind,
		apiPort:   apiPort,
		apiRoutes: authcodeRoutes,
		appExtra: fmt.Sprintf(`consent_url http://127.0.0.1:%d/admin/authorize
login oidc {
	issuer %s
	client_id %s
	client_secret %s
	name "Example SSO"
	allowed_domains example.com
	grant gateway-admins api-keys:read api-keys:write
	grant mcp-users mcp:read mcp:write
	default_grant ledgers:read
}`, apiPort, p.issuer, oidcClientID, oidcClientSecret),
	})
	return g, p, dash
}

// ssoBrowser is one person's browser: a client that follows no redirect
// (each step of the flow is checked) and, sharing its cookies, one that
// fills in the provider's login form.
type ssoBrowser struct {
	*webBrowser
	provider *httpBrowser
	dash     string
}

func newSSOBrowser(t *testing.T, g *testGateway, p *testProvider, dash string) *ssoBrowser {
	wb := newBrowser(t, g)
	pb := newOIDCBrowser(t, p.issuer)
	pb.client.Jar = wb.client.Jar
	return &ssoBrowser{webBrowser: wb, provider: pb, dash: dash}
}

// toConsent follows an authorization URL to the consent page; not signed
// in, that page sends the browser to the sign-in page with next, and the
// person signs in at the provider as email. It returns the consent page's
// answer once signed in (the page, or a redirect to the client).
func (b *ssoBrowser) toConsent(authURL, email string) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.get(authURL)
	consent := location(b.t, resp)
	if !strings.HasPrefix(consent.String(), b.g.apiURL+"/admin/authorize?request=") {
		b.t.Fatalf("the authorization endpoint sent the browser to %s (%s)", consent, body)
	}
	resp, body = b.get(consent.String())
	if resp.StatusCode != http.StatusSeeOther {
		return resp, body // signed in already: the page
	}
	signin := location(b.t, resp)
	if signin.Host != consent.Host {
		return resp, body // signed in already: the answer, sent to the client
	}
	next := signin.Query().Get("next")
	if signin.Path != "/admin/" || next != "/admin/authorize?"+consent.RawQuery {
		b.t.Fatalf("the consent page sent the browser to %s, want the sign-in page with next = the consent page", signin)
	}
	// The sign-in page offers the provider; its button goes to start with next.
	if _, opts := b.get(b.dash + "ui/sign-in"); !strings.Contains(opts, `"start":"ui/oidc/start"`) {
		b.t.Fatalf("sign-in options: %s", opts)
	}
	cb := b.provider.signInAtProvider(b.dash, next, email)
	resp, body = b.get(cb.String())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
		b.t.Fatalf("callback = %d to %q, want %q: %s", resp.StatusCode, resp.Header.Get("Location"), next, body)
	}
	return b.get(location(b.t, resp).String())
}

// decide posts the consent form of a consent page, approving (with the
// scopes ticked as the page shows them) or denying, and returns where the
// answer sends the browser.
func (b *ssoBrowser) decide(page string, approve bool) *url.URL {
	b.t.Helper()
	form := url.Values{
		"request":    {html.UnescapeString(hiddenRequest.FindStringSubmatch(page)[1])},
		"csrf_token": {html.UnescapeString(hiddenCSRF.FindStringSubmatch(page)[1])},
		"decision":   {map[bool]string{true: "approve", false: "deny"}[approve]},
	}
	for _, m := range consentScope.FindAllStringSubmatch(page, -1) {
		form.Add("scope", html.UnescapeString(m[1]))
	}
	req, _ := http.NewRequest(http.MethodPost, b.g.apiURL+"/admin/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.g.apiURL)
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return location(b.t, resp)
}

var consentScope = regexp.MustCompile(`name="scope" value="([^"]+)"`)

// jwtClaims reads an access token's claims (blnk_auth, which accepts it,
// is what checks its signature).
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err != nil || json.Unmarshal(raw, &c) != nil {
		t.Fatalf("unreadable claims %q", parts[1])
	}
	return c
}

// TestSSOAuthorizationCode: an MCP host's authorization request sends a
// person through single sign-on to the consent page; they approve, the
// host gets tokens naming the person and the client, with the client's
// scopes that the person's rules let them grant and that were asked; the
// token calls an MCP route, refreshes; the grant is listed with the
// person's email and last use, revoking it ends the refresh token at once,
// and the audit log names the person. On both stores.
func TestSSOAuthorizationCode(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g, p, dash := ssoGateway(t, kind)
		ctx := context.Background()
		// The client holds ledgers:write, which alice's rules do not give her.
		c, cfg := g.oauthClient("mcp:read", "mcp:write", "ledgers:write")
		cfg.Scopes = []string{"mcp:read", "mcp:write", "ledgers:write"}
		alice := dashboard.PersonID(p.issuer, "id-alice")

		b := newSSOBrowser(t, g, p, dash)
		verifier := oauth2.GenerateVerifier()
		resp, page := b.toConsent(cfg.AuthCodeURL("state-sso", oauth2.S256ChallengeOption(verifier)), "alice@example.com")
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<strong id="consent-person">alice@example.com</strong>`) ||
			!strings.Contains(page, "<code>mcp:read</code>") || !strings.Contains(page, "<code>mcp:write</code>") || strings.Contains(page, "ledgers:write") {
			t.Fatalf("consent page for alice: %d %s", resp.StatusCode, page)
		}
		back := b.decide(page, true)
		q := back.Query()
		if back.Host != "127.0.0.1:53682" || back.Path != "/callback" || q.Get("code") == "" || q.Get("state") != "state-sso" || q.Get("iss") != g.authURL {
			t.Fatalf("authorization response %s", back)
		}
		tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if tok.RefreshToken == "" || tok.Extra("scope") != "mcp:read mcp:write" {
			t.Fatalf("token: refresh %q scope %v", tok.RefreshToken, tok.Extra("scope"))
		}
		claims := jwtClaims(t, tok.AccessToken)
		if claims["sub"] != alice || claims["client_id"] != c.Client.ID || claims["scope"] != "mcp:read mcp:write" {
			t.Fatalf("access token claims %v; want sub %s, client_id %s, scope mcp:read mcp:write", claims, alice, c.Client.ID)
		}
		if st := g.mcpStatus(tok.AccessToken); st != http.StatusOK {
			t.Fatalf("MCP route with the person's token: %d", st)
		}
		if h := g.upstream.lastHeader(); h.Get("X-Client-Id") != c.Client.ID || h.Get("X-Client-Scopes") != "mcp:read mcp:write" {
			t.Errorf("upstream saw client %q scopes %q", h.Get("X-Client-Id"), h.Get("X-Client-Scopes"))
		}

		// Refreshing works, and the new token is still the person's.
		refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if refreshed.RefreshToken == tok.RefreshToken || jwtClaims(t, refreshed.AccessToken)["sub"] != alice || g.mcpStatus(refreshed.AccessToken) != http.StatusOK {
			t.Fatalf("refreshed token: %+v", refreshed)
		}

		// Signed in now: the next authorization is answered at once (remembered).
		v2 := oauth2.GenerateVerifier()
		resp, _ = b.toConsent(cfg.AuthCodeURL("state-again", oauth2.S256ChallengeOption(v2)), "alice@example.com")
		if again := location(t, resp); again.Query().Get("code") == "" || again.Query().Get("state") != "state-again" || again.Query().Get("iss") != g.authURL {
			t.Fatalf("remembered authorization: %s", again)
		}

		// The grant is listed with the person, by their email, and its last use.
		r := g.adminCall(http.MethodGet, "/clients/"+c.Client.ID+"/grants", "master", nil)
		var list struct {
			Grants []struct {
				PersonID   string     `json:"person_id"`
				PersonName string     `json:"person_name"`
				Scopes     []string   `json:"scopes"`
				LastUsedAt *time.Time `json:"last_used_at"`
			} `json:"grants"`
		}
		if err := json.Unmarshal([]byte(r.raw), &list); err != nil || r.status != http.StatusOK || len(list.Grants) != 1 {
			t.Fatalf("GET grants: %d %s", r.status, r.raw)
		}
		if gr := list.Grants[0]; gr.PersonID != alice || gr.PersonName != "alice@example.com" || fmt.Sprint(gr.Scopes) != "[mcp:read mcp:write]" || gr.LastUsedAt == nil {
			t.Fatalf("grant: %s", r.raw)
		}

		// The audit log names the person who approved.
		evs, err := g.store.ListAudit(ctx, store.AuditFilter{ClientID: c.Client.ID, Limit: 10})
		approved := false
		for _, e := range evs {
			approved = approved || (e.Action == store.ActionGrantApprove && e.Actor == alice)
		}
		if err != nil || !approved {
			t.Fatalf("audit: %+v %v; want grant.approve by %s", evs, err, alice)
		}

		// Revoking the grant (the person's ID as the dashboard sends it)
		// ends the refresh token at once, and the access token.
		r = g.adminCall(http.MethodDelete, "/clients/"+c.Client.ID+"/grants?person="+url.QueryEscape(alice), "master", nil)
		if r.status != http.StatusNoContent {
			t.Fatalf("revoking alice's grant: %d %s", r.status, r.raw)
		}
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("refresh after the grant was revoked: %v, want invalid_grant", err)
		}
		eventually(t, 5*time.Second, "the revoked grant's access token refused", func() bool {
			return g.mcpStatus(refreshed.AccessToken) == http.StatusUnauthorized
		})
		evs, _ = g.store.ListAudit(ctx, store.AuditFilter{ClientID: c.Client.ID, Limit: 1})
		if len(evs) != 1 || evs[0].Action != store.ActionGrantRevoke {
			t.Errorf("audit after revoking: %+v", evs)
		}
		// Revoked, the person is asked again.
		resp, page = b.toConsent(cfg.AuthCodeURL("state-asked", oauth2.S256ChallengeOption(v2)), "alice@example.com")
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="consent-form"`) {
			t.Fatalf("after the grant was revoked, the consent page: %d %s", resp.StatusCode, page)
		}
	})
}

// TestSSOPersonRules: a person whose rules give fewer scopes than the
// client asks for gets only those; none → access_denied back at the
// client, with state and iss.
func TestSSOPersonRules(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g, p, dash := ssoGateway(t, kind)
		ctx := context.Background()
		c, cfg := g.oauthClient("mcp:read", "mcp:write", "ledgers:read")
		dave := dashboard.PersonID(p.issuer, "id-dave")

		// Dave is in no group: the default grant, ledgers:read, only.
		cfg.Scopes = []string{"mcp:read", "ledgers:read"}
		b := newSSOBrowser(t, g, p, dash)
		verifier := oauth2.GenerateVerifier()
		resp, page := b.toConsent(cfg.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier)), "Dave@Example.com")
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "<code>ledgers:read</code>") || strings.Contains(page, "mcp:read") {
			t.Fatalf("consent page for dave: %d %s", resp.StatusCode, page)
		}
		back := b.decide(page, true)
		tok, err := cfg.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil || tok.Extra("scope") != "ledgers:read" {
			t.Fatalf("exchange: %v, scope %v; want ledgers:read", err, tok.Extra("scope"))
		}
		if cl := jwtClaims(t, tok.AccessToken); cl["sub"] != dave || cl["scope"] != "ledgers:read" {
			t.Fatalf("claims %v", cl)
		}
		if st := g.mcpStatus(tok.AccessToken); st != http.StatusForbidden {
			t.Errorf("MCP route with a token without mcp:read: %d, want 403", st)
		}
		if st := g.call("/ledgers", bearer(tok.AccessToken)...).status; st != http.StatusOK {
			t.Errorf("ledgers route: %d", st)
		}
		grants, _ := g.store.ListGrants(ctx, c.Client.ID)
		if len(grants) != 1 || grants[0].PersonID != dave || grants[0].PersonName != "Dave@Example.com" || grants[0].Scopes.String() != "ledgers:read" {
			t.Errorf("grants: %+v", grants)
		}

		// Asking only for what dave may not grant: access_denied at the client.
		cfg.Scopes = []string{"mcp:read", "mcp:write"}
		b = newSSOBrowser(t, g, p, dash)
		resp, _ = b.toConsent(cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier)), "Dave@Example.com")
		denied := location(t, resp)
		if q := denied.Query(); denied.Host != "127.0.0.1:53682" || q.Get("error") != "access_denied" || q.Get("state") != "s2" || q.Get("iss") != g.authURL || q.Get("code") != "" {
			t.Fatalf("a person who may grant none of it: %s", denied)
		}
	})
}
