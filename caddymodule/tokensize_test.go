package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// The limits the token size rests on (issue #8, item 7).
const (
	limitURL    = token.MaxURLLength    // issuer, audience, resource: bytes as a token carries them (JSON-escaped)
	limitScopes = admin.MaxScopesLength // a client's scopes joined by single spaces
	limitCount  = admin.MaxScopes       // scopes per client
)

// claimLength is s's length as a token's claims carry it: its JSON string
// without the quotes (& < > take six bytes each).
func claimLength(s string) int {
	b, _ := json.Marshal(s)
	return len(b) - 2
}

// short cuts s for a failure message: these answers carry kilobytes of scopes.
func short(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// padURL appends filler to prefix until its claim length is exactly n.
func padURL(t *testing.T, prefix string, n int) string {
	t.Helper()
	u := prefix + strings.Repeat("p", n-claimLength(prefix))
	if claimLength(u) != n {
		t.Fatalf("padURL: %d, want %d", claimLength(u), n)
	}
	return u
}

// maxScopes returns scopes holding mcp:read and oauth:introspect, each at
// most scope.MaxLength bytes, that join to exactly n bytes.
func maxScopes(t *testing.T, n int) []string {
	t.Helper()
	list := []string{"mcp:read", "oauth:introspect"}
	joined := len("mcp:read oauth:introspect")
	for i := 0; joined < n; i++ {
		l := min(scope.MaxLength, n-joined-1) // a space, then the scope
		s := fmt.Sprintf("pad%02d:", i)
		list = append(list, s+strings.Repeat("x", l-len(s)))
		joined += 1 + l
	}
	if got := len(strings.Join(list, " ")); got != n {
		t.Fatalf("maxScopes: %d bytes, want %d", got, n)
	}
	return list
}

// TestTokenSizeLimits: every token the gateway issues is one it accepts. A
// client with the longest scopes allowed, on a gateway with the longest
// issuer and resource allowed, gets tokens that blnk_auth and introspection
// accept; one byte or one scope more is refused at create and update, by the
// admin API and the CLI; a resource too long to fit is refused at the token
// endpoint; a client stored with longer scopes (before the limit existed)
// gets invalid_scope, not a token that fails everywhere.
func TestTokenSizeLimits(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		authPort := freePort(t)
		issuer := padURL(t, fmt.Sprintf("http://127.0.0.1:%d/issuer-", authPort), limitURL)
		// & counts six bytes in the token: the limit is on the escaped length.
		resource := padURL(t, "https://keys.example.com/a&b&c/", limitURL)
		g := startGateway(t, gatewayOptions{store: kind, authPort: authPort, appExtra: "issuer " + issuer, apiRoutes: `
	handle_path /admin/* {
		blnk_admin {
			master_key ` + testMasterKey + `
		}
	}
	blnk_auth /keys* {
		resource ` + resource + `
		mount_path /keys
	}
	blnk_auth /mcp* mcp:read
	reverse_proxy {upstream}`})
		g.authURL = issuer // the token endpoint lives under the issuer's path

		scopes := maxScopes(t, limitScopes)
		r := g.adminCall("POST", "/clients", "master", map[string]any{"name": "widest", "scopes": scopes})
		mustStatus(t, r, 201, "create a client with the longest scopes allowed")
		id, secret := r.body["client_id"].(string), r.body["client_secret"].(string)

		introspectActive := func(what, tok string) {
			t.Helper()
			in := g.postIntrospect(url.Values{"token": {tok}}, id, secret)
			if in.status != 200 || in.body["active"] != true || in.body["iss"] != issuer {
				t.Errorf("%s: introspection %d %s", what, in.status, in.raw)
			}
		}
		for _, tc := range []struct {
			what, resource, path string
		}{
			{"default audience (the issuer)", "", "/mcp"},
			{"the longest route resource", resource, "/keys"},
		} {
			extra := url.Values{}
			if tc.resource != "" {
				extra.Set("resource", tc.resource)
			}
			tok := g.token(id, secret, extra)
			t.Logf("%s: a token of %d bytes (limit %d)", tc.what, len(tok), token.MaxTokenLength)
			mustStatus(t, g.call(tc.path, bearer(tok)...), 200, tc.what+": blnk_auth")
			introspectActive(tc.what, tok)
		}
		// Resource identifiers come from the configuration only (bounded when
		// it loads); a longer one asked for is simply not one of them.
		long := "http://h" + strings.Repeat("o", limitURL+1-len("http://h.localhost/mcp")) + ".localhost/mcp"
		tr := g.postToken(url.Values{"grant_type": {"client_credentials"}, "resource": {long}}, id, secret)
		if tr.status != 400 || tr.body["error"] != "invalid_target" {
			t.Errorf("resource of %d bytes: %d %s, want 400 invalid_target", len(long), tr.status, short(tr.raw))
		}

		// One byte more, or one scope more: 400 naming the field, at create and update.
		longer := maxScopes(t, limitScopes)
		longer[len(longer)-1] += "y"
		if last := longer[len(longer)-1]; len(last) > scope.MaxLength {
			t.Fatalf("test setup: scope of %d bytes", len(last))
		}
		many := make([]string, limitCount+1)
		for i := range many {
			many[i] = fmt.Sprintf("s%d:read", i)
		}
		for what, list := range map[string][]string{"one byte more": longer, "one scope more": many} {
			r := g.adminCall("POST", "/clients", "master", map[string]any{"name": "too wide", "scopes": list})
			if d, _ := r.body["error_description"].(string); r.status != 400 || r.body["error"] != "invalid_request" || !strings.HasPrefix(d, "scopes: ") {
				t.Errorf("create with %s: %d %s, want 400 invalid_request about scopes", what, r.status, short(r.raw))
			}
			r = g.adminCall("PATCH", "/clients/"+id, "master", map[string]any{"scopes": list})
			if d, _ := r.body["error_description"].(string); r.status != 400 || r.body["error"] != "invalid_request" || !strings.HasPrefix(d, "scopes: ") {
				t.Errorf("update with %s: %d %s, want 400 invalid_request about scopes", what, r.status, short(r.raw))
			}
		}
		if got := g.adminCall("GET", "/clients/"+id, "master", nil); len(got.body["scopes"].([]any)) != len(scopes) {
			t.Errorf("the refused updates changed the client: %s", short(got.raw))
		}

		// A client stored before the limit, with longer scopes: refused at the
		// token endpoint with a clear error, served when it asks for fewer.
		legacySecret := credential.NewSecret()
		legacyScopes, _ := scope.FromList(maxScopes(t, 3*limitScopes))
		legacy := &store.Client{ID: credential.NewClientID(), Name: "legacy", Type: store.TypeOAuth, Scopes: legacyScopes,
			SecretHash: credential.HashOf(legacySecret), SecretHint: credential.Hint(legacySecret), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		if err := g.store.CreateClient(context.Background(), legacy, store.Audit{Actor: "test", Time: legacy.CreatedAt}); err != nil {
			t.Fatal(err)
		}
		tr = g.postToken(url.Values{"grant_type": {"client_credentials"}}, legacy.ID, legacySecret)
		if tr.status != 400 || tr.body["error"] != "invalid_scope" {
			t.Errorf("legacy client with %d bytes of scopes: %d (token of %d bytes), want 400 invalid_scope", len(legacyScopes.String()), tr.status, len(tr.raw))
		}
		mustStatus(t, g.call("/mcp", bearer(g.token(legacy.ID, legacySecret, url.Values{"scope": {"mcp:read"}}))...), 200, "legacy client asking for fewer scopes")

		// The CLI refuses the same, with a message naming the field.
		config := writeConfig(t, "http://127.0.0.1:1", freePort(t), freePort(t))
		cliJSON(t, g.dsn, config, "client", "create", "--name", "widest", "--scopes", strings.Join(scopes, " "))
		for what, list := range map[string][]string{"one byte more": longer, "one scope more": many} {
			for _, args := range [][]string{
				{"client", "create", "--name", "too wide", "--scopes", strings.Join(list, " ")},
				{"client", "update", id, "--scopes", strings.Join(list, " ")},
			} {
				out, errOut, code := cli(t, g.dsn, config, args...)
				if code == 0 || !strings.Contains(errOut, "scopes: ") {
					t.Errorf("CLI %s %s: exit %d, stderr %q, stdout %q: want a failure about scopes", args[1], what, code, short(errOut), short(out))
				}
			}
		}
	})
}

// TestConfigURLLengths: an issuer, audience or route resource too long for
// the tokens to fit stops the config from loading.
func TestConfigURLLengths(t *testing.T) {
	caddyMu.Lock()
	defer caddyMu.Unlock()
	dsn := testdb.New(t)
	longest := padURL(t, "https://auth.example.com/", limitURL)
	tooLong := padURL(t, "https://auth.example.com/", limitURL+1)
	escaped := padURL(t, "https://auth.example.com/&", limitURL+1) // & counts six
	load := func(app, resource string) error {
		t.Helper()
		appCfg := map[string]any{"database": dsn, "secret": testSecret, "issuer": "https://auth.example.com"}
		if app != "" {
			appCfg[app] = resource
			resource = ""
		}
		cfg := map[string]any{"admin": map[string]any{"disabled": true}, "apps": map[string]any{"blnk_auth": appCfg}}
		if resource != "" {
			cfg["apps"].(map[string]any)["http"] = map[string]any{"servers": map[string]any{"srv": map[string]any{
				"listen": []string{fmt.Sprintf("127.0.0.1:%d", freePort(t))},
				"routes": []any{map[string]any{"handle": []any{map[string]any{"handler": "blnk_auth", "resource": resource, "mount_path": "/x"}}}},
			}}}
		}
		raw, _ := json.Marshal(cfg)
		err := caddy.Load(raw, true)
		if err == nil {
			_ = caddy.Stop()
		}
		return err
	}
	for _, field := range []string{"issuer", "audience", "resource"} {
		app := field
		if field == "resource" {
			app = ""
		}
		if err := load(app, longest); err != nil {
			t.Errorf("%s of %d bytes: %v", field, limitURL, err)
		}
		for _, v := range []string{tooLong, escaped} {
			err := load(app, v)
			if err == nil || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), fmt.Sprint(limitURL)) {
				t.Errorf("%s of %d bytes in a token: err = %v, want one naming %s and %d", field, claimLength(v), err, field, limitURL)
			}
		}
	}
}
