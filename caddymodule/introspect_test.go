package caddymodule

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestIntrospection checks RFC 7662 through real Caddy, on both stores.
func TestIntrospection(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		rs := g.create("resource server", store.TypeOAuth, []string{"oauth:introspect"}, nil)
		other := g.create("no introspection", store.TypeOAuth, []string{"mcp:read"}, nil)
		subject := g.create("subject", store.TypeOAuth, []string{"mcp:read", "ledgers:read"}, nil)
		key := g.create("key", store.TypeAPIKey, []string{"ledgers:*"}, nil)
		tok := g.token(subject.Client.ID, subject.Secret, nil)

		introspect := func(id, secret, token string) tokenResponse {
			form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
			return g.postIntrospect(form, id, secret)
		}
		r := introspect(rs.Client.ID, rs.Secret, tok)
		if r.status != 200 || r.body["active"] != true || r.body["client_id"] != subject.Client.ID || r.body["scope"] != "ledgers:read mcp:read" ||
			r.body["token_type"] != "Bearer" || r.body["iss"] != g.authURL || r.body["exp"] == nil || r.body["jti"] == nil || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("active token: %d %s", r.status, r.raw)
		}
		if k := introspect(rs.Client.ID, rs.Secret, key.Secret); k.body["active"] != true || k.body["token_type"] != "api_key" || k.body["client_id"] != key.Client.ID {
			t.Fatalf("API key: %s", k.raw)
		}
		for name, bad := range map[string]string{
			"garbage":        "not-a-token",
			"tampered":       alterLast(tok),
			"client secret":  subject.Secret,
			"wrong api key":  alterLast(key.Secret),
			"unknown client": unknownAPIKey(t),
		} {
			if i := introspect(rs.Client.ID, rs.Secret, bad); i.status != 200 || i.raw != `{"active":false}` {
				t.Errorf("%s: %d %s, want exactly {\"active\":false}", name, i.status, i.raw)
			}
		}
		// Narrowing shows at once; revocation makes the token inactive.
		if _, err := g.svc.Update(context.Background(), adminCLI(), subject.Client.ID, updateScopes("mcp:read")); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Second, "narrowed scope", func() bool { return introspect(rs.Client.ID, rs.Secret, tok).body["scope"] == "mcp:read" })
		if _, err := g.svc.Revoke(context.Background(), adminCLI(), subject.Client.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Second, "revoked token inactive", func() bool { return introspect(rs.Client.ID, rs.Secret, tok).raw == `{"active":false}` })

		// Who may ask.
		if e := introspect(other.Client.ID, other.Secret, tok); e.status != 403 || e.body["error"] != "insufficient_scope" {
			t.Errorf("caller without oauth:introspect: %d %s", e.status, e.raw)
		}
		if e := introspect(rs.Client.ID, rs.Secret+"x", tok); e.status != 401 || e.body["error"] != "invalid_client" {
			t.Errorf("wrong caller secret: %d %s", e.status, e.raw)
		}
		if e := g.postIntrospect(url.Values{"token": {tok}}, "", ""); e.status != 401 {
			t.Errorf("no caller: %d %s", e.status, e.raw)
		}
		if e := g.postIntrospect(url.Values{}, rs.Client.ID, rs.Secret); e.status != 400 || e.body["error"] != "invalid_request" {
			t.Errorf("no token: %d %s", e.status, e.raw)
		}
		if e := g.postIntrospect(url.Values{"token": {tok, tok}}, rs.Client.ID, rs.Secret); e.status != 400 {
			t.Errorf("repeated token: %d %s", e.status, e.raw)
		}
	})
}

func unknownAPIKey(t *testing.T) string {
	k, err := credential.NewAPIKey(credential.NewClientID())
	if err != nil {
		t.Fatal(err)
	}
	return k
}
