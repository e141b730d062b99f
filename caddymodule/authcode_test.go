package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// The authorization-code flow end to end through real Caddy: golang.org/x/oauth2
// is the client (AuthCodeURL with S256, Exchange with the verifier, its
// refreshing token source), and a cookie-keeping HTTP client is the browser
// that signs in at the dashboard and approves on the consent page.

// authcodeGateway runs the gateway with the dashboard at /admin on the API
// site and the flow's consent page there.
func authcodeGateway(t *testing.T, kind string) *testGateway {
	t.Helper()
	apiPort := freePort(t)
	return startGateway(t, gatewayOptions{
		store:     kind,
		apiPort:   apiPort,
		apiRoutes: authcodeRoutes,
		appExtra:  fmt.Sprintf("consent_url http://127.0.0.1:%d/admin/authorize", apiPort),
	})
}

const authcodeRoutes = `
	handle_path /admin/* {
		blnk_admin {
			master_key ` + testMasterKey + `
		}
	}
	blnk_auth /mcp* mcp:read
	blnk_auth /ledgers* ledgers:read
	reverse_proxy {upstream} {
		header_up X-Client-Id {http.auth.user.id}
		header_up X-Client-Scopes {http.auth.user.scopes}
	}`

const testRedirect = "http://127.0.0.1/callback"

// oauthClient registers an OAuth client with a loopback redirect URI and
// returns its x/oauth2 configuration (redirecting to a port of its own, as
// a native app does: RFC 8252 §7.3).
func (g *testGateway) oauthClient(scopes ...string) (*admin.Created, *oauth2.Config) {
	g.t.Helper()
	c, err := g.svc.Create(context.Background(), admin.CLI, admin.CreateParams{
		Name: "Claude Desktop", Type: store.TypeOAuth, Scopes: scopes, RedirectURIs: []string{testRedirect},
	})
	if err != nil {
		g.t.Fatalf("creating client: %v", err)
	}
	return c, &oauth2.Config{
		ClientID: c.Client.ID, ClientSecret: c.Secret,
		Endpoint:    oauth2.Endpoint{AuthURL: g.authURL + "/oauth/authorize", TokenURL: g.authURL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL: "http://127.0.0.1:53682/callback",
		Scopes:      []string{"mcp:read"},
	}
}

// browser is a person's browser: it keeps cookies and follows no redirect by
// itself, so each step is checked.
type webBrowser struct {
	t      *testing.T
	g      *testGateway
	client *http.Client
}

func newBrowser(t *testing.T, g *testGateway) *webBrowser {
	jar, _ := cookiejar.New(nil)
	return &webBrowser{t: t, g: g, client: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *webBrowser) get(u string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.client.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// signIn signs in at the dashboard with the master key, as its page does.
func (b *webBrowser) signIn() {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.g.apiURL+"/admin/ui/session", strings.NewReader(`{"master_key":"`+testMasterKey+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", b.g.apiURL)
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("sign-in: %d", resp.StatusCode)
	}
}

// location resolves a redirect's Location against the request's URL.
func location(t *testing.T, resp *http.Response) *url.URL {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("want a redirect, got %d", resp.StatusCode)
	}
	u, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var (
	hiddenRequest = regexp.MustCompile(`name="request" value="([^"]+)"`)
	hiddenCSRF    = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
)

// authorize runs the browser part of the flow and returns the
// authorization response's query. signedIn says whether the browser has a
// session already; approve whether the person approves (when asked).
func (b *webBrowser) authorize(authURL string, approve bool) url.Values {
	b.t.Helper()
	resp, body := b.get(authURL)
	consent := location(b.t, resp)
	if !strings.HasPrefix(consent.String(), b.g.apiURL+"/admin/authorize?request=") {
		b.t.Fatalf("authorization endpoint sent the browser to %s (%s)", consent, body)
	}
	resp, body = b.get(consent.String())
	if resp.StatusCode == http.StatusSeeOther {
		next := location(b.t, resp)
		if next.Path == "/admin/" {
			// Not signed in: the sign-in page, told to come back.
			if got := next.Query().Get("next"); got != "/admin/authorize?"+consent.RawQuery {
				b.t.Fatalf("sign-in next = %q", got)
			}
			b.signIn()
			resp, body = b.get(consent.String())
		} else {
			return next.Query() // remembered: answered at once
		}
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Claude Desktop") || !strings.Contains(body, "<code>mcp:read</code>") {
		b.t.Fatalf("consent page: %d %s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:53682") {
		b.t.Errorf("consent page CSP %q does not let the form's answer reach the client", csp)
	}
	form := url.Values{
		"request":    {html.UnescapeString(hiddenRequest.FindStringSubmatch(body)[1])},
		"csrf_token": {html.UnescapeString(hiddenCSRF.FindStringSubmatch(body)[1])},
		"decision":   {map[bool]string{true: "approve", false: "deny"}[approve]},
		"scope":      {"mcp:read"},
	}
	req, _ := http.NewRequest(http.MethodPost, b.g.apiURL+"/admin/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.g.apiURL)
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	back := location(b.t, resp)
	if back.Scheme+"://"+back.Host+back.Path != "http://127.0.0.1:53682/callback" {
		b.t.Fatalf("answer sent to %s", back)
	}
	return back.Query()
}

// mcpStatus calls the /mcp route behind blnk_auth with an access token.
func (g *testGateway) mcpStatus(tok string) int {
	g.t.Helper()
	return g.call("/mcp", bearer(tok)...).status
}

// TestAuthorizationCodeFlow: sign in, approve, exchange, call an MCP route,
// refresh (rotation), replay detection, remembered consent, wrong verifier,
// code replay, revoked grant and revoked client, on both stores.
func TestAuthorizationCodeFlow(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := authcodeGateway(t, kind)
		c, cfg := g.oauthClient("mcp:read", "ledgers:read", "oauth:introspect")
		b := newBrowser(t, g)
		ctx := context.Background()

		// Metadata tells the truth.
		md := g.postForm("/.well-known/oauth-authorization-server", nil, "", "")
		_ = md
		resp, raw := b.get(g.authURL + "/.well-known/oauth-authorization-server")
		var meta map[string]any
		if err := json.Unmarshal([]byte(raw), &meta); err != nil || resp.StatusCode != 200 {
			t.Fatalf("metadata: %d %s", resp.StatusCode, raw)
		}
		if fmt.Sprint(meta["response_types_supported"]) != "[code]" || fmt.Sprint(meta["grant_types_supported"]) != "[authorization_code client_credentials refresh_token]" ||
			meta["authorization_response_iss_parameter_supported"] != true || fmt.Sprint(meta["code_challenge_methods_supported"]) != "[S256]" {
			t.Errorf("metadata: %s", raw)
		}

		verifier := oauth2.GenerateVerifier()
		q := b.authorize(cfg.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier)), true)
		if q.Get("state") != "state-1" || q.Get("iss") != g.authURL || q.Get("code") == "" {
			t.Fatalf("authorization response %v", q)
		}
		code := q.Get("code")
		tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if tok.RefreshToken == "" || tok.Extra("scope") != "mcp:read" {
			t.Fatalf("token: refresh %q scope %v", tok.RefreshToken, tok.Extra("scope"))
		}
		if st := g.mcpStatus(tok.AccessToken); st != 200 {
			t.Fatalf("MCP route with the flow's token: %d", st)
		}
		if h := g.upstream.lastHeader(); h.Get("X-Client-Id") != c.Client.ID || h.Get("X-Client-Scopes") != "mcp:read" {
			t.Errorf("upstream saw client %q scopes %q", h.Get("X-Client-Id"), h.Get("X-Client-Scopes"))
		}
		// The token names the person (sub) and the client (client_id).
		in := g.postIntrospect(url.Values{"token": {tok.AccessToken}}, c.Client.ID, c.Secret)
		if in.body["sub"] != "master" || in.body["client_id"] != c.Client.ID || in.body["active"] != true {
			t.Errorf("introspection: %s", in.raw)
		}
		// ledgers:read was not asked for: the token does not carry it.
		if st := g.call("/ledgers", bearer(tok.AccessToken)...).status; st != http.StatusForbidden {
			t.Errorf("a route needing an unapproved scope: %d, want 403", st)
		}

		// The grant is listed, with the person.
		grants, err := g.store.ListGrants(ctx, c.Client.ID)
		if err != nil || len(grants) != 1 || grants[0].PersonID != "master" || grants[0].Scopes.String() != "mcp:read" {
			t.Fatalf("grants: %+v %v", grants, err)
		}

		// Refreshing rotates the refresh token.
		first := tok.RefreshToken
		refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: first}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if refreshed.RefreshToken == "" || refreshed.RefreshToken == first || g.mcpStatus(refreshed.AccessToken) != 200 {
			t.Fatalf("refreshed token: %+v", refreshed)
		}
		// Replaying the spent one revokes the whole family: the newest stops too.
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: first}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("replayed refresh token: %v, want invalid_grant", err)
		}
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("refresh token of a revoked family: %v, want invalid_grant", err)
		}
		// ...and the access tokens issued in the family, on every instance (denylist through the feed).
		eventually(t, 5*time.Second, "the family's access tokens revoked", func() bool {
			return g.mcpStatus(refreshed.AccessToken) == http.StatusUnauthorized && g.mcpStatus(tok.AccessToken) == http.StatusUnauthorized
		})

		// The code is single use: a replay is refused and revokes the access
		// token its first exchange issued, on every instance (denylist).
		if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("replayed code: %v, want invalid_grant", err)
		}
		eventually(t, 5*time.Second, "the replayed code's access token is revoked", func() bool { return g.mcpStatus(tok.AccessToken) == http.StatusUnauthorized })

		// The decision is remembered: the second time no question is asked.
		verifier2 := oauth2.GenerateVerifier()
		q = b.authorize(cfg.AuthCodeURL("state-2", oauth2.S256ChallengeOption(verifier2)), true)
		if q.Get("state") != "state-2" || q.Get("code") == "" || q.Get("iss") != g.authURL {
			t.Fatalf("remembered authorization: %v", q)
		}
		// A replayed code on its own revokes what its first exchange issued:
		// the access token and the refresh token.
		q = b.authorize(cfg.AuthCodeURL("state-r", oauth2.S256ChallengeOption(verifier2)), true)
		replayed, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier2))
		if err != nil || g.mcpStatus(replayed.AccessToken) != http.StatusOK {
			t.Fatalf("exchange before the replay: %v", err)
		}
		if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier2)); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("replayed code: %v, want invalid_grant", err)
		}
		eventually(t, 5*time.Second, "the replayed code's access token revoked", func() bool { return g.mcpStatus(replayed.AccessToken) == http.StatusUnauthorized })
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: replayed.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("refresh token of a replayed code: %v, want invalid_grant", err)
		}

		// A wrong verifier is refused (and the code is spent).
		if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("wrong verifier: %v, want invalid_grant", err)
		}
		// No verifier at all is refused.
		q = b.authorize(cfg.AuthCodeURL("state-3", oauth2.S256ChallengeOption(verifier2)), true)
		if _, err := cfg.Exchange(ctx, q.Get("code")); !isOAuthError(err, "invalid_request") {
			t.Fatalf("missing verifier: %v, want invalid_request", err)
		}

		// Revoking the grant ends its refresh tokens at once.
		q = b.authorize(cfg.AuthCodeURL("state-4", oauth2.S256ChallengeOption(verifier2)), true)
		tok4, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier2))
		if err != nil {
			t.Fatal(err)
		}
		if r := g.adminCall(http.MethodGet, "/clients/"+c.Client.ID+"/grants", "master", nil); r.status != http.StatusOK ||
			!strings.Contains(r.raw, `"person_id":"master"`) || !strings.Contains(r.raw, `"person_name":"Master key"`) || !strings.Contains(r.raw, `"scopes":["mcp:read"]`) {
			t.Fatalf("GET grants: %d %s", r.status, r.raw)
		}
		if r := g.adminCall(http.MethodDelete, "/clients/"+c.Client.ID+"/grants?person=nobody", "master", nil); r.status != http.StatusNotFound {
			t.Fatalf("revoking an unknown grant: %d %s", r.status, r.raw)
		}
		if r := g.adminCall(http.MethodDelete, "/clients/"+c.Client.ID+"/grants?person=master", "master", nil); r.status != http.StatusNoContent {
			t.Fatalf("revoking the grant: %d %s", r.status, r.raw)
		}
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok4.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("refresh after the grant was revoked: %v, want invalid_grant", err)
		}
		eventually(t, 5*time.Second, "the revoked grant's access token refused", func() bool { return g.mcpStatus(tok4.AccessToken) == http.StatusUnauthorized })

		// Revoking the client ends everything it holds: refresh tokens at once,
		// access tokens from the next request.
		q = b.authorize(cfg.AuthCodeURL("state-5", oauth2.S256ChallengeOption(verifier2)), true)
		tok5, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier2))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.svc.Revoke(ctx, admin.CLI, c.Client.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok5.RefreshToken}).Token(); err == nil {
			t.Fatal("a revoked client refreshed a token")
		}
		eventually(t, 5*time.Second, "the revoked client's access token is refused", func() bool { return g.mcpStatus(tok5.AccessToken) == http.StatusUnauthorized })
	})
}

// TestAuthorizeRequestErrors: errors about the client or its redirect URI
// are shown on a page, never redirected; every other error is redirected to
// the registered URI with state and iss.
func TestAuthorizeRequestErrors(t *testing.T) {
	g := authcodeGateway(t, kindSQLite)
	c, cfg := g.oauthClient("mcp:read")
	b := newBrowser(t, g)
	verifier := oauth2.GenerateVerifier()

	for name, u := range map[string]string{
		"unregistered redirect_uri":      cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("redirect_uri", "https://evil.example/callback")),
		"redirect_uri on another host":   cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("redirect_uri", "http://127.0.0.2:53682/callback")),
		"redirect_uri with another path": cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("redirect_uri", "http://127.0.0.1:53682/callback/x")),
		"redirect_uri with userinfo":     cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("redirect_uri", "http://evil@127.0.0.1:53682/callback")),
		"unknown client":                 cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("client_id", "blnk_cid_0000000000000000000000")),
		"repeated parameter":             cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)) + "&client_id=" + c.Client.ID,
	} {
		resp, body := b.get(u)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, `id="error"`) {
			t.Errorf("%s: %d Location %q %s", name, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}

	for name, tc := range map[string]struct {
		url, code string
	}{
		"plain PKCE":       {cfg.AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", verifier), oauth2.SetAuthURLParam("code_challenge_method", "plain")), "invalid_request"},
		"no PKCE":          {cfg.AuthCodeURL("s"), "invalid_request"},
		"token response":   {strings.Replace(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "response_type=code", "response_type=token", 1), "unsupported_response_type"},
		"unheld scope":     {cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("scope", "ledgers:write")), "invalid_scope"},
		"unknown resource": {cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", "https://elsewhere.example/mcp")), "invalid_target"},
	} {
		resp, _ := b.get(tc.url)
		back := location(t, resp)
		if back.Host != "127.0.0.1:53682" || back.Query().Get("error") != tc.code || back.Query().Get("state") != "s" || back.Query().Get("iss") != g.authURL {
			t.Errorf("%s: redirected to %s, want error %s with state and iss", name, back, tc.code)
		}
	}

	// A tampered sealed request is refused by the consent page.
	resp, _ := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	consent := location(t, resp).String()
	b.signIn()
	resp, body := b.get(consent[:len(consent)-2] + map[bool]string{true: "AA", false: "AB"}[strings.HasSuffix(consent, "AB")])
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid or has expired") {
		t.Errorf("tampered request: %d %s", resp.StatusCode, body)
	}

	// A consent POST without the session's CSRF token, or from another site, is refused.
	_, body = b.get(consent)
	form := url.Values{"request": {html.UnescapeString(hiddenRequest.FindStringSubmatch(body)[1])}, "csrf_token": {"wrong"}, "decision": {"approve"}}
	for name, origin := range map[string]string{"wrong token": g.apiURL, "cross-site": "https://evil.example"} {
		form.Set("csrf_token", "wrong")
		if name == "cross-site" {
			form.Set("csrf_token", html.UnescapeString(hiddenCSRF.FindStringSubmatch(body)[1]))
		}
		req, _ := http.NewRequest(http.MethodPost, g.apiURL+"/admin/authorize", bytes.NewReader([]byte(form.Encode())))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	// Denying sends access_denied back.
	q := b.authorize(cfg.AuthCodeURL("deny-me", oauth2.S256ChallengeOption(verifier)), false)
	if q.Get("error") != "access_denied" || q.Get("state") != "deny-me" || q.Get("code") != "" {
		t.Errorf("denied: %v", q)
	}
}

// isOAuthError reports whether err is an RFC 6749 §5.2 error with code.
func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

// TestConsentPersonMayGrant: a person signed in with a client's key may
// grant only the scopes that key holds: the consent page offers the meet of
// what is asked, what the client holds and what the person may grant, the
// token carries no more even if the form asks for more, and a person who may
// grant none of it gets access_denied.
func TestConsentPersonMayGrant(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) { testConsentPersonMayGrant(t, kind) })
}

func testConsentPersonMayGrant(t *testing.T, kind string) {
	g := authcodeGateway(t, kind)
	c, cfg := g.oauthClient("mcp:read", "mcp:write")
	cfg.Scopes = []string{"mcp:read", "mcp:write"}
	ctx := context.Background()

	signInWith := func(b *webBrowser, scopes ...string) string {
		key := g.create("operator", store.TypeAPIKey, scopes, nil)
		req, _ := http.NewRequest(http.MethodPost, g.apiURL+"/admin/ui/session", strings.NewReader(`{"api_key":"`+key.Secret+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", g.apiURL)
		resp, err := b.client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-in with a key: %v %v", err, resp)
		}
		resp.Body.Close()
		return key.Client.ID
	}

	b := newBrowser(t, g)
	operator := signInWith(b, "api-keys:read", "mcp:read")
	verifier := oauth2.GenerateVerifier()
	resp, _ := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	consent := location(t, resp)
	resp, body := b.get(consent.String())
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "<code>mcp:read</code>") || strings.Contains(body, "mcp:write") {
		t.Fatalf("consent page for a person who may grant mcp:read only: %d %s", resp.StatusCode, body)
	}
	// The form asks for mcp:write too: the server computes the grant again.
	form := url.Values{
		"request":    {html.UnescapeString(hiddenRequest.FindStringSubmatch(body)[1])},
		"csrf_token": {html.UnescapeString(hiddenCSRF.FindStringSubmatch(body)[1])},
		"decision":   {"approve"},
		"scope":      {"mcp:read", "mcp:write"},
	}
	req, _ := http.NewRequest(http.MethodPost, g.apiURL+"/admin/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", g.apiURL)
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tok, err := cfg.Exchange(ctx, location(t, resp).Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.Extra("scope") != "mcp:read" {
		t.Fatalf("exchange: %v, scope %v; want mcp:read only", err, tok.Extra("scope"))
	}
	grants, _ := g.store.ListGrants(ctx, c.Client.ID)
	if len(grants) != 1 || grants[0].PersonID != "client:"+operator || grants[0].PersonName != "operator" {
		t.Errorf("grants: %+v", grants)
	}
	evs, _ := g.store.ListAudit(ctx, store.AuditFilter{ClientID: c.Client.ID, Limit: 1})
	if len(evs) != 1 || evs[0].Action != store.ActionGrantApprove || evs[0].Actor != "client:"+operator {
		t.Errorf("audit: %+v, want grant.approve by the person", evs)
	}

	// Revoking the key the person signed in with ends what it approved: the
	// application's refresh token and access token stop (a revoked key must
	// not keep acting through the applications it approved).
	if st := g.mcpStatus(tok.AccessToken); st != http.StatusOK {
		t.Fatalf("the person's access token before the key's revocation: %d", st)
	}
	if _, err := g.svc.Revoke(ctx, admin.CLI, operator); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("refreshed a grant approved by a key since revoked")
	}
	eventually(t, 5*time.Second, "the access token of the revoked key's grant refused", func() bool { return g.mcpStatus(tok.AccessToken) == http.StatusUnauthorized })
	if gs, _ := g.store.ListGrants(ctx, c.Client.ID); len(gs) != 0 {
		t.Errorf("the revoked key's grant is still listed: %+v", gs)
	}

	// A person who may grant none of the client's scopes.
	b2 := newBrowser(t, g)
	signInWith(b2, "api-keys:read", "ledgers:read")
	resp, _ = b2.get(cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier)))
	resp, _ = b2.get(location(t, resp).String())
	if q := location(t, resp).Query(); q.Get("error") != "access_denied" || q.Get("state") != "s2" {
		t.Errorf("a person who may grant nothing: %v", q)
	}
}

// TestClientMetadataPrivateRefused: through Caddy with client_metadata on
// (its defaults), a client_id naming a document on a loopback address is
// refused on a page without the document being fetched, and the metadata
// says the documents are supported.
func TestClientMetadataPrivateRefused(t *testing.T) {
	apiPort := freePort(t)
	g := startGateway(t, gatewayOptions{
		store:     kindSQLite,
		apiPort:   apiPort,
		apiRoutes: authcodeRoutes,
		appExtra:  fmt.Sprintf("consent_url http://127.0.0.1:%d/admin/authorize\nclient_metadata {\n\tscopes mcp:read\n}", apiPort),
	})
	hits := 0
	docs := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	t.Cleanup(docs.Close)
	b := newBrowser(t, g)
	_, raw := b.get(g.authURL + "/.well-known/oauth-authorization-server")
	if !strings.Contains(raw, `"client_id_metadata_document_supported":true`) {
		t.Errorf("metadata: %s", raw)
	}
	resp, body := b.get(g.authURL + "/oauth/authorize?response_type=code&code_challenge_method=S256&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&client_id=" +
		url.QueryEscape(docs.URL+"/client.json") + "&redirect_uri=" + url.QueryEscape("http://127.0.0.1/callback"))
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, `id="error"`) || hits != 0 {
		t.Errorf("a document on a private address: %d %q, %d fetches: %s", resp.StatusCode, resp.Header.Get("Location"), hits, body)
	}
}
