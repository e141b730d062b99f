package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// callHost sends a GET to the API with the given Host header and headers.
func (g *testGateway) callHost(host, path string, headers ...string) tokenResponse {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.apiURL+path, nil)
	req.Host = host
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return g.do(req)
}

// TestResourceNotFromHost: a route's resource identifier comes from the
// configuration, never from the request's Host. On a site that answers every
// host (":PORT") a route without a resource option has no identifier: no
// token is minted for it, its metadata is 404, its challenges point nowhere,
// and only default-audience tokens pass. A route with a resource option keeps
// it, whatever the Host says.
func TestResourceNotFromHost(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiSite: "http://:%d"})
		port := strings.TrimPrefix(g.apiURL, "http://127.0.0.1:")
		evil := "evil.localhost:" + port
		c := g.create("agent", store.TypeOAuth, []string{"mcp:read"}, nil)

		// The attack: a token minted for a host this gateway does not name,
		// presented with that Host to a site that answers any host.
		for _, res := range []string{"http://" + evil + "/mcp", "https://evil.example/mcp", g.apiURL + "/mcp", "https://other.example.com/mcp"} {
			r := g.postToken(url.Values{"grant_type": {"client_credentials"}, "resource": {res}}, c.Client.ID, c.Secret)
			if r.status != 400 || r.body["error"] != "invalid_target" {
				t.Errorf("token for resource %s: %d %s, want 400 invalid_target (no route is configured with it)", res, r.status, r.raw)
			}
			tok, _ := r.body["access_token"].(string)
			if tok == "" {
				continue
			}
			u, _ := url.Parse(res)
			if s := g.callHost(u.Host, "/mcp", bearer(tok)...).status; s != 401 {
				t.Errorf("token for %s passed /mcp with Host: %s: %d, want 401", res, u.Host, s)
			}
		}

		// No identifier, no metadata: nothing echoes the Host.
		if md := g.callHost(evil, "/.well-known/oauth-protected-resource/mcp"); md.status != 404 || md.body["resource"] != nil {
			t.Errorf("metadata of a route without a resource identifier: %d %s %v, want 404", md.status, md.raw, md.header)
		}
		r := g.callHost(evil, "/mcp")
		if ch := r.header.Get("WWW-Authenticate"); r.status != 401 || strings.Contains(ch, "resource_metadata") || strings.Contains(ch, "evil") {
			t.Errorf("challenge without a resource identifier: %d %q, want 401 without resource_metadata", r.status, ch)
		}
		// Default-audience tokens still pass.
		tok := g.token(c.Client.ID, c.Secret, nil)
		if s := g.callHost(evil, "/mcp", bearer(tok)...).status; s != 200 {
			t.Errorf("default-audience token at /mcp: %d", s)
		}

		// A resource option is the route's identifier whatever the Host; its
		// metadata is the same for everyone, so it may be cached publicly.
		keys := g.callHost(evil, "/.well-known/oauth-protected-resource/keys")
		if keys.status != 200 || keys.body["resource"] != "https://keys.example.com" || keys.header.Get("Cache-Control") != "public, max-age=300" {
			t.Errorf("metadata of a route with a resource option: %d %s %v", keys.status, keys.raw, keys.header)
		}
		if ch := g.callHost(evil, "/keys").header.Get("WWW-Authenticate"); !strings.Contains(ch, `resource_metadata="https://keys.example.com/.well-known/oauth-protected-resource"`) {
			t.Errorf("challenge of a route with a resource option: %q", ch)
		}
		ktok := g.token(c.Client.ID, c.Secret, url.Values{"resource": {"https://keys.example.com"}})
		if s := g.callHost(evil, "/keys", bearer(ktok)...).status; s != 200 {
			t.Errorf("token for the resource option at its route: %d", s)
		}
		if s := g.callHost(evil, "/mcp", bearer(ktok)...).status; s != 401 {
			t.Errorf("token for the resource option at another route: %d, want 401", s)
		}
	})
}

// TestResourcesFromSiteAddresses: a site with two host names gives its routes
// one identifier per name. A token for either passes the route; the metadata
// names the one of the request's Host, and so is not publicly cacheable.
func TestResourcesFromSiteAddresses(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiSite: "http://127.0.0.1:%[1]d, http://localhost:%[1]d"})
		port := strings.TrimPrefix(g.apiURL, "http://127.0.0.1:")
		local := "localhost:" + port
		c := g.create("agent", store.TypeOAuth, []string{"mcp:read", "ledgers:read"}, nil)

		for host, res := range map[string]string{"127.0.0.1:" + port: g.apiURL + "/mcp", local: "http://" + local + "/mcp"} {
			md := g.callHost(host, "/.well-known/oauth-protected-resource/mcp")
			if md.status != 200 || md.body["resource"] != res {
				t.Errorf("metadata with Host: %s: %d %s, want resource %s", host, md.status, md.raw, res)
			}
			if cc := md.header.Get("Cache-Control"); strings.Contains(cc, "public") {
				t.Errorf("metadata chosen by the Host is publicly cacheable: %q", cc)
			}
			wantMD := `resource_metadata="` + strings.TrimSuffix(res, "/mcp") + `/.well-known/oauth-protected-resource/mcp"`
			if ch := g.callHost(host, "/mcp").header.Get("WWW-Authenticate"); !strings.Contains(ch, wantMD) {
				t.Errorf("challenge with Host: %s: %q lacks %s", host, ch, wantMD)
			}
			tok := g.token(c.Client.ID, c.Secret, url.Values{"resource": {res}})
			for _, at := range []string{"127.0.0.1:" + port, local} {
				if s := g.callHost(at, "/mcp", bearer(tok)...).status; s != 200 {
					t.Errorf("token for %s at /mcp with Host: %s: %d", res, at, s)
				}
				if s := g.callHost(at, "/ledgers", bearer(tok)...).status; s != 401 {
					t.Errorf("token for %s at /ledgers: %d, want 401", res, s)
				}
			}
		}
		for _, res := range []string{"http://evil.localhost:" + port + "/mcp", "https://127.0.0.1:" + port + "/mcp", g.apiURL + "/mcpx", "http://" + local + "/unprotected"} {
			if r := g.postToken(url.Values{"grant_type": {"client_credentials"}, "resource": {res}}, c.Client.ID, c.Secret); r.status != 400 || r.body["error"] != "invalid_target" {
				t.Errorf("token for resource %s: %d %s, want invalid_target", res, r.status, r.raw)
			}
		}
	})
}

// TestRootMetadataSeveralMounts: with several mounts the root metadata path
// is ambiguous: 404, not a 401 that sends a client looking for a token. When
// one of the mounts is the site's root, the root path is that mount's own.
func TestRootMetadataSeveralMounts(t *testing.T) {
	t.Run("no root mount", func(t *testing.T) {
		g := startGateway(t, gatewayOptions{})
		r := g.call("/.well-known/oauth-protected-resource")
		if r.status != 404 || r.body["error"] == nil || r.header.Get("WWW-Authenticate") != "" {
			t.Errorf("root metadata with several mounts: %d %v %s, want 404 with a JSON error", r.status, r.header, r.raw)
		}
		if g.upstream.hitCount() != 0 {
			t.Error("the root metadata request reached the upstream")
		}
	})
	t.Run("a root mount", func(t *testing.T) {
		g := startGateway(t, gatewayOptions{apiRoutes: `
	blnk_auth /mcp* mcp:read
	blnk_auth /ledgers* ledgers:read
	blnk_auth
	reverse_proxy {upstream}`})
		r := g.call("/.well-known/oauth-protected-resource")
		if r.status != 200 || r.body["resource"] != g.apiURL {
			t.Errorf("root metadata with a root mount: %d %s, want the root mount's (resource %s)", r.status, r.raw, g.apiURL)
		}
		if md := g.call("/.well-known/oauth-protected-resource/mcp"); md.status != 200 || md.body["resource"] != g.apiURL+"/mcp" {
			t.Errorf("/mcp metadata: %d %s", md.status, md.raw)
		}
		if g.upstream.hitCount() != 0 {
			t.Error("a metadata request reached the upstream")
		}
	})
}

// TestCaddyfileResources: the Caddyfile derives a route's resource
// identifiers from its site's addresses (or its host matcher) and its mount,
// as Caddy serves them: https for a host name unless http:// or the HTTP
// port, the port when not the scheme's default. A resource option replaces
// them; a site without a host name, a wildcard or an elaborate matcher
// without mount_path gives none.
func TestCaddyfileResources(t *testing.T) {
	cases := []struct {
		name, site, body string
		resource         string
		resources        []string
	}{
		{"host name", "api.example.com", "blnk_auth /mcp* mcp:read", "", []string{"https://api.example.com/mcp"}},
		{"http and port", "http://localhost:8081", "blnk_auth /mcp*", "", []string{"http://localhost:8081/mcp"}},
		{"port and case", "API.Example.com:8443", "blnk_auth /mcp/*", "", []string{"https://api.example.com:8443/mcp"}},
		{"default ports", "http://a.example:80, https://b.example:443, c.example:80", "blnk_auth /mcp", "", []string{"http://a.example/mcp", "https://b.example/mcp", "http://c.example/mcp"}},
		{"ipv6", "[::1]:8080", "blnk_auth /mcp*", "", []string{"https://[::1]:8080/mcp"}},
		{"whole site", "api.example.com", "blnk_auth", "", []string{"https://api.example.com"}},
		{"no host name", ":8081", "blnk_auth /mcp*", "", nil},
		{"http without host", "http://", "blnk_auth /mcp*", "", nil},
		{"wildcard", "*.example.com", "blnk_auth /mcp*", "", nil},
		{"host and wildcard", "*.example.com, api.example.com", "blnk_auth /mcp*", "", []string{"https://api.example.com/mcp"}},
		{"resource option", "api.example.com", "blnk_auth /mcp* {\n\t\tresource https://mcp.example.net/mcp\n\t}", "https://mcp.example.net/mcp", nil},
		{"resource option without host", ":8081", "blnk_auth /mcp* {\n\t\tresource https://mcp.example.net/mcp\n\t}", "https://mcp.example.net/mcp", nil},
		{"host matcher", ":8081", "@api host api.example.com\n\tblnk_auth @api", "", []string{"http://api.example.com:8081"}},
		{"host and path matcher", "a.example, b.example", "@mcp {\n\t\thost b.example\n\t\tpath /mcp*\n\t}\n\tblnk_auth @mcp", "", []string{"https://b.example/mcp"}},
		{"elaborate matcher", "api.example.com", "@m {\n\t\tpath /mcp*\n\t\tmethod POST\n\t}\n\tblnk_auth @m", "", nil},
		{"elaborate matcher with mount_path", "api.example.com", "@m {\n\t\tpath /mcp*\n\t\tmethod POST\n\t}\n\tblnk_auth @m {\n\t\tmount_path /mcp\n\t}", "", []string{"https://api.example.com/mcp"}},
		{"nested in handle", "api.example.com", "handle /v1/* {\n\t\tblnk_auth /v1/mcp*\n\t}", "", []string{"https://api.example.com/v1/mcp"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.site + " {\n\t" + tc.body + "\n\trespond ok\n}\n"
			out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, cfg)
			}
			var doc any
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatal(err)
			}
			h := findHandler(doc, "blnk_auth")
			if h == nil {
				t.Fatalf("no blnk_auth handler in %s", out)
			}
			var got struct {
				Resource  string   `json:"resource"`
				Resources []string `json:"resources"`
			}
			b, _ := json.Marshal(h)
			_ = json.Unmarshal(b, &got)
			if got.Resource != tc.resource || !reflect.DeepEqual(got.Resources, tc.resources) {
				t.Errorf("%s\nresource %q resources %q, want %q %q\nhandler: %s", cfg, got.Resource, got.Resources, tc.resource, tc.resources, b)
			}
		})
	}
}

// findHandler finds the first handler object of the given name in adapted JSON.
func findHandler(v any, name string) map[string]any {
	switch v := v.(type) {
	case map[string]any:
		if v["handler"] == name {
			return v
		}
		for _, x := range v {
			if h := findHandler(x, name); h != nil {
				return h
			}
		}
	case []any:
		for _, x := range v {
			if h := findHandler(x, name); h != nil {
				return h
			}
		}
	}
	return nil
}

// TestCaddyfileWarnsWithoutResource: `caddy adapt` (the real binary) warns
// about a blnk_auth route that has no resource identifier, naming its file
// and line, and is silent about routes that have one.
func TestCaddyfileWarnsWithoutResource(t *testing.T) {
	bin := caddyBinary(t)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	content := "api.example.com {\n\tblnk_auth /ok* mcp:read\n\trespond ok\n}\n" +
		":8081 {\n\tblnk_auth /named* {\n\t\tresource https://api.example.com/named\n\t}\n\tblnk_auth /mcp* mcp:read\n\trespond ok\n}\n"
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "adapt", "--config", cfg, "--adapter", "caddyfile").CombinedOutput()
	if err != nil {
		t.Fatalf("caddy adapt: %v\n%s", err, out)
	}
	var warnings []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "resource identifier") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"level":"warn"`) || !strings.Contains(warnings[0], `"line":9`) {
		t.Errorf("want one warning, about the route at line 9; got %q\n%s", warnings, out)
	}
}
