package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/admin/dashboard"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
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
	g := startGateway(t, gatewayOptions{store: kind, apiPort: apiPort, apiRoutes: authcodeRoutes, appExtra: ssoAppExtra(apiPort, p.issuer, "example.com")})
	return g, p, dash
}

// ssoAppExtra is the app's consent page and sign-in through the provider
// at issuer, for people of domain and erin@partner.org.
func ssoAppExtra(apiPort int, issuer, domain string) string {
	return fmt.Sprintf(`consent_url http://127.0.0.1:%d/admin/authorize
login oidc {
	issuer %s
	client_id %s
	client_secret %s
	name "Example SSO"
	allowed_domains %s
	allowed_emails erin@partner.org
	grant gateway-admins api-keys:read api-keys:write
	grant mcp-users mcp:read mcp:write
	default_grant ledgers:read
}`, apiPort, issuer, oidcClientID, oidcClientSecret, domain)
}

// reload runs the gateway's config again with appExtra.
func (g *testGateway) reload(appExtra string) {
	g.t.Helper()
	port := func(u string) int {
		var n int
		fmt.Sscanf(u[strings.LastIndex(u, ":")+1:], "%d", &n)
		return n
	}
	g.appExtra = appExtra
	g.load(g.caddyfile(port(g.authURL), port(g.apiURL), authcodeRoutes))
	// Connections kept alive by the old servers are closed by them: the
	// clients (x/oauth2 uses the default one) start afresh.
	http.DefaultClient.CloseIdleConnections()
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
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<strong id="consent-person"><bdi>alice@example.com</bdi></strong>`) ||
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

// TestSSOAuthorizationCodeBrowser: the same flow in Chromium, from another
// site's page sending the person to the authorization URL, to the client's
// redirect URI: the consent page sends them to the sign-in page, "Sign in
// with Example SSO" to the provider (another site, so the callback and
// what follows are a cross-site navigation, which the Strict session
// cookie does not follow), whose login form brings them back to the
// consent page; they approve, the client receives the code and exchanges
// it; the dashboard lists the grant under the person's email.
func TestSSOAuthorizationCodeBrowser(t *testing.T) {
	apiPort := freePort(t)
	dash := fmt.Sprintf("http://127.0.0.1:%d/admin/", apiPort)
	p := startProviderOn(t, dash+"ui/oidc/callback", "localhost", freePort(t))
	g := startGateway(t, gatewayOptions{
		store:     kindSQLite,
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
}`, apiPort, p.issuer, oidcClientID, oidcClientSecret),
	})
	c, cfg := g.oauthClient("mcp:read", "mcp:write", "ledgers:write")
	cfg.Scopes = []string{"mcp:read", "ledgers:write"}
	verifier := oauth2.GenerateVerifier()

	// The client: a page on localhost (another site than the gateway) that
	// sends the browser to the authorization URL, and its redirect URI.
	var (
		mu  sync.Mutex
		got url.Values
	)
	var authURL string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/connect":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<!doctype html><title>host</title><a id="connect" href="%s">Connect</a>`, html.EscapeString(authURL))
		case "/callback":
			mu.Lock()
			got = r.URL.Query()
			mu.Unlock()
			fmt.Fprint(w, "<!doctype html><title>done</title><p id=done>You may close this window.</p>")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(app.Close)
	appURL := strings.Replace(app.URL, "127.0.0.1", "localhost", 1)
	cfg.RedirectURL = app.URL + "/callback" // the registered loopback URI, on the app's port
	authURL = cfg.AuthCodeURL("browser-sso", oauth2.S256ChallengeOption(verifier))

	pg := openPage(t, dash, 1000, 800)
	pg.run("opening the host's page", chromedp.Navigate(appURL+"/connect"))
	pg.click("#connect")
	pg.wait(visible("#signin-sso-button"), "the sign-in page's single sign-on button")
	pg.click("#signin-sso-button")
	pg.wait(`location.href.startsWith(`+fmt.Sprintf("%q", p.issuer)+`) && !!document.querySelector("#username")`, "the provider's login page")
	pg.fill("#username", "alice@example.com")
	pg.fill("#password", oidcPassword)
	pg.click(`button[type="submit"]`)
	pg.wait(`!!document.getElementById("consent-approve")`, "the consent page after signing in at the provider")
	if who := pg.text("#consent-person"); who != "alice@example.com" {
		t.Errorf("the consent page names %q", who)
	}
	if s := pg.text("#consent-scopes"); s != "mcp:read" {
		t.Errorf("consent page scopes %q, want mcp:read (asked and held; ledgers:write is not alice's to grant)", s)
	}
	pg.click("#consent-approve")
	pg.wait(`!!document.getElementById("done")`, "the client's redirect URI")
	mu.Lock()
	q := got
	mu.Unlock()
	if q.Get("state") != "browser-sso" || q.Get("iss") != g.authURL || q.Get("code") == "" {
		t.Fatalf("the client received %v", q)
	}
	tok, err := cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	alice := dashboard.PersonID(p.issuer, "id-alice")
	if cl := jwtClaims(t, tok.AccessToken); cl["sub"] != alice || cl["client_id"] != c.Client.ID || cl["scope"] != "mcp:read" || g.mcpStatus(tok.AccessToken) != http.StatusOK {
		t.Fatalf("access token %v", cl)
	}

	// The dashboard, where alice is signed in, lists her grant by her email.
	pg.open()
	pg.wait(visible("#keys-view"), "the API Keys table")
	nameBtn := fmt.Sprintf(`#keys-body button[data-client-id=%q]`, c.Client.ID)
	pg.clickUntil(nameBtn, `document.getElementById("details-dialog").open`, "the details panel")
	pg.wait(`document.querySelectorAll("#details-grants li[data-person]").length === 1`, "one grant listed")
	if who := pg.text(fmt.Sprintf(`#details-grants li[data-person=%q] strong`, alice)); who != "alice@example.com" {
		t.Errorf("the grant names %q", who)
	}
}

// TestSSONarrowedRules: a person's grant lasts only while the rules let
// them in, as their dashboard session does. Once their address is no
// longer allowed, or the provider that signed them in is no longer the
// configured one, their refresh tokens and codes are refused (invalid_grant)
// and the family ends; people still allowed keep theirs.
func TestSSONarrowedRules(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g, p, dash := ssoGateway(t, kind)
		ctx := context.Background()
		_, cfg := g.oauthClient("mcp:read", "mcp:write")
		apiPort := func() int { var n int; fmt.Sscanf(g.apiURL[strings.LastIndex(g.apiURL, ":")+1:], "%d", &n); return n }()

		// approved runs the flow for email and returns its tokens, and a
		// code not yet exchanged with its verifier.
		approved := func(email string) (*oauth2.Token, string, string) {
			b := newSSOBrowser(t, g, p, dash)
			v := oauth2.GenerateVerifier()
			resp, page := b.toConsent(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), email)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("consent page for %s: %d %s", email, resp.StatusCode, page)
			}
			tok, err := cfg.Exchange(ctx, b.decide(page, true).Query().Get("code"), oauth2.VerifierOption(v))
			if err != nil {
				t.Fatalf("exchange for %s: %v", email, err)
			}
			v2 := oauth2.GenerateVerifier()
			resp, _ = b.get(cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(v2)))
			resp, _ = b.get(location(t, resp).String()) // remembered: the answer at once
			return tok, location(t, resp).Query().Get("code"), v2
		}
		alice, aliceCode, aliceVerifier := approved("alice@example.com")
		erin, _, _ := approved("erin@partner.org") // allowed by her address below

		// alice's domain leaves the rules; erin is listed by address.
		g.reload(ssoAppExtra(apiPort, p.issuer, "example.org"))
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: alice.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("refresh by a person the rules no longer let in: %v, want invalid_grant", err)
		}
		if _, err := cfg.Exchange(ctx, aliceCode, oauth2.VerifierOption(aliceVerifier)); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("code of a person the rules no longer let in: %v, want invalid_grant", err)
		}
		// Let in again, the family stays ended.
		g.reload(ssoAppExtra(apiPort, p.issuer, "example.com"))
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: alice.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("refresh of an ended family: %v, want invalid_grant", err)
		}
		erin2, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: erin.RefreshToken}).Token()
		if err != nil || g.mcpStatus(erin2.AccessToken) != http.StatusOK {
			t.Fatalf("refresh by a person still let in: %v", err)
		}

		// Another provider configured: no one it did not sign in keeps a grant.
		other := startProvider(t, dash+"ui/oidc/callback")
		g.reload(ssoAppExtra(apiPort, other.issuer, "example.com"))
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: erin2.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("refresh by a person of a provider no longer configured: %v, want invalid_grant", err)
		}
	})
}

// TestSSOLongRequest: an authorization request the endpoint accepts must
// survive the sign-in it leads to. The consent page's URL (the sealed
// request) travels as the sign-in page's next, through the provider in the
// flow cookie: a request whose sealed form is longer than a next may be
// (a long state with a long redirect URI) is refused at the endpoint,
// back at the client with invalid_request, rather than leaving a signed-out
// person at a sign-in page that calls its own link unsafe. One within the
// bound (the longest state with a short redirect URI) gets through.
func TestSSOLongRequest(t *testing.T) {
	g, p, dash := ssoGateway(t, kindSQLite)
	longRedirect := "https://app.example.com/oauth/callback/" + strings.Repeat("a", 300)
	c, err := g.svc.Create(context.Background(), admin.CLI, admin.CreateParams{
		Name: "Long", Type: store.TypeOAuth, Scopes: []string{"mcp:read"}, RedirectURIs: []string{testRedirect, longRedirect},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &oauth2.Config{ClientID: c.Client.ID, ClientSecret: c.Secret, Scopes: []string{"mcp:read"},
		Endpoint: oauth2.Endpoint{AuthURL: g.authURL + "/oauth/authorize", TokenURL: g.authURL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	longState := strings.Repeat("s", authcode.MaxStateLength)
	verifier := oauth2.GenerateVerifier()

	cfg.RedirectURL = longRedirect
	b := newSSOBrowser(t, g, p, dash)
	resp, body := b.get(cfg.AuthCodeURL(longState, oauth2.S256ChallengeOption(verifier)))
	back := location(t, resp)
	if back.Host != "app.example.com" || back.Query().Get("error") != "invalid_request" || back.Query().Get("iss") != g.authURL {
		t.Fatalf("a request too long for the sign-in: sent to %s (%s), want invalid_request at the client", back, body)
	}

	cfg.RedirectURL = "http://127.0.0.1:53682/callback"
	resp, page := b.toConsent(cfg.AuthCodeURL(longState, oauth2.S256ChallengeOption(verifier)), "alice@example.com")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("consent page after signing in with the longest state: %d %s", resp.StatusCode, page)
	}
	if q := b.decide(page, true).Query(); q.Get("state") != longState || q.Get("code") == "" {
		t.Fatalf("authorization response %v", q)
	}
}

// TestSSOKeyPersonRevoked: the same rule for a person who signed in with a
// client's key: what they approved lasts only while that key could still
// sign them in. A stolen key used to approve an application of the thief's
// must not leave refresh tokens that outlive the key's revocation.
func TestSSOKeyPersonRevoked(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g, _, _ := ssoGateway(t, kind)
		ctx := context.Background()
		_, cfg := g.oauthClient("mcp:read")
		key := g.create("operator", store.TypeAPIKey, []string{"api-keys:read", "mcp:read"}, nil)

		b := newBrowser(t, g)
		req, _ := http.NewRequest(http.MethodPost, g.apiURL+"/admin/ui/session", strings.NewReader(`{"api_key":"`+key.Secret+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", g.apiURL)
		resp, err := b.client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-in with a key: %v %v", err, resp)
		}
		resp.Body.Close()
		verifier := oauth2.GenerateVerifier()
		tok, err := cfg.Exchange(ctx, b.authorize(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), true).Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if cl := jwtClaims(t, tok.AccessToken); cl["sub"] != "client:"+key.Client.ID {
			t.Fatalf("claims %v", cl)
		}
		// A code approved before the revocation, not yet exchanged.
		q := b.authorize(cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier)), true)

		if _, err := g.svc.Revoke(ctx, adminCLI(), key.Client.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("refresh of a grant approved with a key since revoked: %v, want invalid_grant", err)
		}
		if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("code approved with a key since revoked: %v, want invalid_grant", err)
		}
	})
}
