package caddymodule

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestProtectedResourceMetadata: RFC 9728 metadata per mount, challenges that
// point to it, and RFC 8707 audiences bound to a mount's canonical URL.
func TestProtectedResourceMetadata(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		get := func(path string) tokenResponse {
			req, _ := http.NewRequest(http.MethodGet, g.apiURL+path, nil)
			return g.do(req)
		}
		md := get("/.well-known/oauth-protected-resource/mcp")
		if md.status != 200 || md.header.Get("Content-Type") != "application/json" {
			t.Fatalf("metadata: %d %s", md.status, md.raw)
		}
		want := `{"authorization_servers":["` + g.authURL + `"],"bearer_methods_supported":["header"],"resource":"` + g.apiURL + `/mcp","scopes_supported":["mcp:read"]}`
		if md.raw != want {
			t.Errorf("metadata\n got %s\nwant %s", md.raw, want)
		}
		if keys := get("/.well-known/oauth-protected-resource/keys"); keys.body["resource"] != "https://keys.example.com" {
			t.Errorf("a mount with a resource option: %s", keys.raw)
		}
		if g.upstream.hitCount() != 0 {
			t.Error("a metadata request reached the upstream")
		}
		// Three mounts: the root variant would be ambiguous, so there is none.
		if root := get("/.well-known/oauth-protected-resource"); root.status != 404 || root.body["resource"] != nil {
			t.Errorf("ambiguous root metadata: %d %s, want 404", root.status, root.raw)
		}

		// Challenges say where to look and what to ask for.
		r := g.call("/mcp")
		challenge := r.header.Get("WWW-Authenticate")
		for _, part := range []string{`Bearer realm="blnk"`, `scope="mcp:read"`, `resource_metadata="` + g.apiURL + `/.well-known/oauth-protected-resource/mcp"`} {
			if !strings.Contains(challenge, part) {
				t.Errorf("401 challenge %q lacks %s", challenge, part)
			}
		}
		if strings.Contains(challenge, "error=") {
			t.Errorf("401 without credentials carries an error code: %q", challenge)
		}
		c := g.create("ledger reader", store.TypeOAuth, []string{"ledgers:read", "mcp:read"}, nil)
		lt := g.token(c.Client.ID, c.Secret, url.Values{"scope": {"ledgers:read"}})
		r = g.call("/mcp", bearer(lt)...)
		if ch := r.header.Get("WWW-Authenticate"); r.status != 403 || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, `scope="mcp:read"`) || !strings.Contains(ch, "resource_metadata=") {
			t.Errorf("403 challenge: %d %q", r.status, ch)
		}

		// A client that sends the metadata's resource (as the MCP TypeScript SDK
		// does) gets a token that mount accepts, and no other.
		for _, res := range []string{g.apiURL + "/mcp", g.apiURL + "/mcp/"} {
			tok := g.token(c.Client.ID, c.Secret, url.Values{"resource": {res}})
			if s := g.call("/mcp", bearer(tok)...).status; s != 200 {
				t.Errorf("token for %s at /mcp: %d", res, s)
			}
			if s := g.call("/ledgers", bearer(tok)...).status; s != 401 {
				t.Errorf("token for %s at /ledgers: %d, want 401 (another resource)", res, s)
			}
		}
		for _, res := range []string{g.apiURL + "/mcpx", g.apiURL + "/unprotected", "ftp://x/mcp", "http://evil.example.com/mcp", "https://other.example.com/mcp"} {
			if r := g.postToken(url.Values{"grant_type": {"client_credentials"}, "resource": {res}}, c.Client.ID, c.Secret); r.body["error"] != "invalid_target" {
				t.Errorf("resource %s: %d %s", res, r.status, r.raw)
			}
		}
	})
}
