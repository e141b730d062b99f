package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestTokenRevocation checks RFC 7009 through real Caddy, on both stores: a
// client revokes its own token, which stops at once here and on an instance
// started later; other clients' tokens are refused. (The change feed carrying
// revocations to running instances is in the store conformance suite and
// TestTokenRevocationAcrossProcesses.)
func TestTokenRevocation(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		c := g.create("revoker", store.TypeOAuth, []string{"mcp:read"}, nil)
		other := g.create("other", store.TypeOAuth, []string{"mcp:read"}, nil)
		key := g.create("key", store.TypeAPIKey, []string{"mcp:read"}, nil)
		tok := g.token(c.Client.ID, c.Secret, nil)
		keep := g.token(c.Client.ID, c.Secret, nil)
		otherTok := g.token(other.Client.ID, other.Secret, nil)
		for _, tk := range []string{tok, keep, otherTok} {
			mustStatus(t, g.call("/mcp", bearer(tk)...), 200, "before revocation")
		}
		revoke := func(id, secret, token string) tokenResponse {
			return g.postForm("/oauth/revoke", url.Values{"token": {token}, "token_type_hint": {"access_token"}}, id, secret)
		}

		r := revoke(c.Client.ID, c.Secret, tok)
		if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		mustStatus(t, g.call("/mcp", bearer(tok)...), 401, "revoked token on this instance")
		mustStatus(t, g.call("/mcp", bearer(keep)...), 200, "the client's other token")
		if i := g.postIntrospect(url.Values{"token": {tok}}, c.Client.ID, c.Secret); i.status != 403 {
			t.Logf("introspection by a client without oauth:introspect: %d", i.status)
		}
		mustStatus(t, revoke(c.Client.ID, c.Secret, tok), 200, "revoking again")
		mustStatus(t, revoke(c.Client.ID, c.Secret, "garbage.token.value"), 200, "unknown token")

		// Refusals.
		if e := revoke(other.Client.ID, other.Secret, keep); e.status != 400 || e.body["error"] != "unauthorized_client" {
			t.Errorf("revoking another client's token: %d %s", e.status, e.raw)
		}
		mustStatus(t, g.call("/mcp", bearer(keep)...), 200, "not revoked by another client")
		if e := revoke(c.Client.ID, c.Secret+"x", keep); e.status != 401 || e.body["error"] != "invalid_client" {
			t.Errorf("bad client credentials: %d %s", e.status, e.raw)
		}
		if e := revoke(c.Client.ID, c.Secret, key.Secret); e.status != 400 || e.body["error"] != "unsupported_token_type" {
			t.Errorf("API key: %d %s", e.status, e.raw)
		}
		if e := g.postForm("/oauth/revoke", url.Values{}, c.Client.ID, c.Secret); e.status != 400 || e.body["error"] != "invalid_request" {
			t.Errorf("no token: %d %s", e.status, e.raw)
		}
		req, _ := http.NewRequest(http.MethodGet, g.authURL+"/oauth/revoke", nil)
		if e := g.do(req); e.status != 405 {
			t.Errorf("GET: %d", e.status)
		}

		// An instance started later (its own backend: other cache settings)
		// loads the revocation from the database before it serves.
		second := startSecondApp(t, g, freePort(t), freePort(t))
		mustStatus(t, second.call("/mcp", bearer(tok)...), 401, "revoked token on a later instance")
		mustStatus(t, second.call("/mcp", bearer(keep)...), 200, "live token on a later instance")
	})
}

// startSecondApp runs a second gateway on the same database in this process:
// Caddy runs one config at a time, so it replaces the first, and its app
// opens its own backend only because its cache settings differ (the pool key).
func startSecondApp(t *testing.T, g *testGateway, authPort, apiPort int) *testGateway {
	t.Helper()
	second := *g
	second.appExtra = "client_cache_size 12345"
	second.authURL = g.authURL // same issuer: tokens stay valid
	second.apiURL = fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	cfg := second.caddyfile(authPort, apiPort, "blnk_auth /mcp* mcp:read\n\treverse_proxy {upstream}")
	second.load(cfg)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if second.call("/mcp").status == 401 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &second
}
