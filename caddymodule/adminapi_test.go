package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

const testMasterKey = "master-key-0123456789abcdef-0123456789"

const adminRoutesConfig = `
	handle_path /admin/* {
		blnk_admin {
			master_key ` + testMasterKey + `
			allowed_origins https://dash.example.com
		}
	}
	blnk_auth /mcp* mcp:read
	blnk_auth /ledgers* ledgers:read
	reverse_proxy {upstream}`

// adminCall sends a request to the admin API with the given credential
// ("master" for the master key, "" for none, else a bearer token or API key).
func (g *testGateway) adminCall(method, path, cred string, body any, headers ...string) tokenResponse {
	g.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, g.apiURL+"/admin"+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch cred {
	case "":
	case "master":
		req.Header.Set("X-Blnk-Key", testMasterKey)
	default:
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return g.do(req)
}

func mustStatus(t *testing.T, r tokenResponse, status int, what string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: %d %s, want %d", what, r.status, r.raw, status)
	}
}

// TestAdminAPIWorkflow is the seed's workflow through the API: create, copy the
// secret once, list, inspect, revoke, see the token refused; plus roll and delete.
func TestAdminAPIWorkflow(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: adminRoutesConfig})
		r := g.adminCall("POST", "/clients", "master", map[string]any{"name": "MCP Integration", "scopes": []string{"mcp:read"}}, "X-Request-Id", "req-create-1")
		mustStatus(t, r, 201, "create")
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("create Cache-Control %q", r.header.Get("Cache-Control"))
		}
		id, secret := r.body["client_id"].(string), r.body["client_secret"].(string)
		for _, k := range []string{"client_id", "name", "type", "scopes", "status", "created_at", "expires_at", "revoked_at", "last_used_at", "secret_hint", "client_secret"} {
			if _, ok := r.body[k]; !ok {
				t.Errorf("create response lacks %s", k)
			}
		}
		if r.body["type"] != "oauth" || r.body["status"] != "active" || r.body["expires_at"] != nil {
			t.Errorf("create response %s", r.raw)
		}

		list := g.adminCall("GET", "/clients", "master", nil)
		mustStatus(t, list, 200, "list")
		if strings.Contains(list.raw, secret) || !strings.Contains(list.raw, id) || list.body["next_cursor"] != nil {
			t.Fatalf("list: %s", list.raw)
		}
		get := g.adminCall("GET", "/clients/"+id, "master", nil)
		mustStatus(t, get, 200, "get")
		if strings.Contains(get.raw, secret) || get.body["secret_hint"] == "" {
			t.Fatalf("get: %s", get.raw)
		}

		tok := g.token(id, secret, nil)
		mustStatus(t, g.call("/mcp", bearer(tok)...), 200, "call with token")

		rev := g.adminCall("POST", "/clients/"+id+"/revoke", "master", nil)
		mustStatus(t, rev, 200, "revoke")
		if rev.body["status"] != "revoked" || rev.body["revoked_at"] == nil {
			t.Fatalf("revoke: %s", rev.raw)
		}
		again := g.adminCall("POST", "/clients/"+id+"/revoke", "master", nil)
		mustStatus(t, again, 200, "revoke again")
		if again.body["revoked_at"] != rev.body["revoked_at"] {
			t.Errorf("revoking again moved revoked_at: %v → %v", rev.body["revoked_at"], again.body["revoked_at"])
		}
		eventually(t, time.Second, "token refused after revocation", func() bool { return g.call("/mcp", bearer(tok)...).status == 401 })
		revoked := g.adminCall("GET", "/clients?status=revoked", "master", nil)
		if cs, _ := revoked.body["clients"].([]any); len(cs) != 1 {
			t.Fatalf("revoked list: %s", revoked.raw)
		}
		mustStatus(t, g.adminCall("POST", "/clients/"+id+"/roll-secret", "master", map[string]any{}), 409, "roll a revoked client")
		mustStatus(t, g.adminCall("PATCH", "/clients/"+id, "master", map[string]any{"name": "x"}), 409, "edit a revoked client")

		mustStatus(t, g.adminCall("DELETE", "/clients/"+id, "master", nil), 204, "delete")
		mustStatus(t, g.adminCall("GET", "/clients/"+id, "master", nil), 404, "get deleted")

		audit := g.adminCall("GET", "/audit?client_id="+id, "master", nil)
		mustStatus(t, audit, 200, "audit")
		events, _ := audit.body["events"].([]any)
		var actions []string
		for _, e := range events {
			ev := e.(map[string]any)
			actions = append(actions, ev["action"].(string))
			if ev["actor"] != "master_key" || ev["client_id"] != id || ev["source"] == "" || ev["request_id"] == "" {
				t.Errorf("event %v", ev)
			}
		}
		want := []string{"client.delete", "client.revoke", "client.revoke", "client.create"}
		if strings.Join(actions, ",") != strings.Join(want, ",") {
			t.Errorf("audit actions %v, want %v (newest first)", actions, want)
		}
		if last := events[len(events)-1].(map[string]any); last["request_id"] != "req-create-1" {
			t.Errorf("request id %v", last["request_id"])
		}
		if strings.Contains(audit.raw, secret) {
			t.Fatal("the audit log holds the secret")
		}
	})
}

// TestAdminAPIErrors: every error status of the API, JSON-shaped.
func TestAdminAPIErrors(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: adminRoutesConfig})
		created := g.adminCall("POST", "/clients", "master", map[string]any{"name": "existing", "scopes": []string{"mcp:read"}})
		id := created.body["client_id"].(string)
		reader := g.create("reader", store.TypeOAuth, []string{"mcp:read"}, nil)
		writerOnly := g.create("writer", store.TypeOAuth, []string{"api-keys:write", "mcp:read"}, nil)
		readerTok := g.token(reader.Client.ID, reader.Secret, nil)
		writerTok := g.token(writerOnly.Client.ID, writerOnly.Secret, nil)

		cases := []struct {
			name, method, path, cred string
			body                     any
			headers                  []string
			status                   int
			code                     string
		}{
			{"no credential", "GET", "/clients", "", nil, nil, 401, "unauthorized"},
			{"wrong master key", "GET", "/clients", "", nil, []string{"X-Blnk-Key", testMasterKey + "x"}, 401, "invalid_token"},
			{"token without api-keys scopes", "GET", "/clients", readerTok, nil, nil, 403, "insufficient_scope"},
			{"write does not grant read", "GET", "/clients", writerTok, nil, nil, 403, "insufficient_scope"},
			{"write does not grant delete", "DELETE", "/clients/" + id, writerTok, nil, nil, 403, "insufficient_scope"},
			{"unknown endpoint", "GET", "/nope", "master", nil, nil, 404, "not_found"},
			{"wrong method", "PUT", "/clients", "master", map[string]any{}, nil, 405, "method_not_allowed"},
			{"not json", "POST", "/clients", "master", nil, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
			{"too large", "POST", "/clients", "master", `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, nil, 413, "request_too_large"},
			{"not an object", "POST", "/clients", "master", `[1,2]`, nil, 400, "invalid_request"},
			{"malformed json", "POST", "/clients", "master", `{"name":`, nil, 400, "invalid_request"},
			{"unknown field", "POST", "/clients", "master", map[string]any{"name": "a", "scopes": []string{"*"}, "colour": "red"}, nil, 400, "invalid_request"},
			{"secret supplied", "POST", "/clients", "master", map[string]any{"name": "a", "scopes": []string{"*"}, "client_secret": "blnk_cs_mine"}, nil, 400, "invalid_request"},
			{"api key supplied", "POST", "/clients", "master", map[string]any{"name": "a", "scopes": []string{"*"}, "api_key": "mine"}, nil, 400, "invalid_request"},
			{"name missing", "POST", "/clients", "master", map[string]any{"scopes": []string{"*"}}, nil, 400, "invalid_request"},
			{"name blank", "POST", "/clients", "master", map[string]any{"name": "  ", "scopes": []string{"*"}}, nil, 400, "invalid_request"},
			{"name too long", "POST", "/clients", "master", map[string]any{"name": strings.Repeat("n", 129), "scopes": []string{"*"}}, nil, 400, "invalid_request"},
			{"name control char", "POST", "/clients", "master", map[string]any{"name": "a\x07b", "scopes": []string{"*"}}, nil, 400, "invalid_request"},
			{"name not a string", "POST", "/clients", "master", map[string]any{"name": 7, "scopes": []string{"*"}}, nil, 400, "invalid_request"},
			{"scopes missing", "POST", "/clients", "master", map[string]any{"name": "a"}, nil, 400, "invalid_request"},
			{"scopes empty", "POST", "/clients", "master", map[string]any{"name": "a", "scopes": []string{}}, nil, 400, "invalid_request"},
			{"scope with space", "POST", "/clients", "master", map[string]any{"name": "a", "scopes": []string{"mcp read"}}, nil, 400, "invalid_request"},
			{"scopes as string", "POST", "/clients", "master", map[string]any{"name": "a", "scopes": "mcp:read"}, nil, 400, "invalid_request"},
			{"bad type", "POST", "/clients", "master", map[string]any{"name": "a", "scopes": []string{"*"}, "type": "saml"}, nil, 400, "invalid_request"},
			{"expiry in the past", "POST", "/clients", "master", map[string]any{"name": "a", "scopes": []string{"*"}, "expires_at": "2001-01-01T00:00:00Z"}, nil, 400, "invalid_request"},
			{"expiry malformed", "POST", "/clients", "master", map[string]any{"name": "a", "scopes": []string{"*"}, "expires_at": "tomorrow"}, nil, 400, "invalid_request"},
			{"bad status filter", "GET", "/clients?status=gone", "master", nil, nil, 400, "invalid_request"},
			{"bad type filter", "GET", "/clients?type=x", "master", nil, nil, 400, "invalid_request"},
			{"limit zero", "GET", "/clients?limit=0", "master", nil, nil, 400, "invalid_request"},
			{"limit too big", "GET", "/clients?limit=501", "master", nil, nil, 400, "invalid_request"},
			{"limit not a number", "GET", "/clients?limit=ten", "master", nil, nil, 400, "invalid_request"},
			{"malformed cursor", "GET", "/clients?cursor=%%%", "master", nil, nil, 400, "invalid_request"},
			{"forged cursor", "GET", "/clients?cursor=bm9wZQ", "master", nil, nil, 400, "invalid_request"},
			{"unknown query parameter", "GET", "/clients?sort=name", "master", nil, nil, 400, "invalid_request"},
			{"repeated query parameter", "GET", "/clients?limit=1&limit=2", "master", nil, nil, 400, "invalid_request"},
			{"get unknown", "GET", "/clients/blnk_cid_0000000000000000000000", "master", nil, nil, 404, "not_found"},
			{"get malformed id", "GET", "/clients/nope", "master", nil, nil, 404, "not_found"},
			{"patch type", "PATCH", "/clients/" + id, "master", map[string]any{"type": "api_key"}, nil, 400, "invalid_request"},
			{"patch nothing", "PATCH", "/clients/" + id, "master", map[string]any{}, nil, 400, "invalid_request"},
			{"patch unknown", "PATCH", "/clients/blnk_cid_0000000000000000000000", "master", map[string]any{"name": "x"}, nil, 404, "not_found"},
			{"roll bad grace", "POST", "/clients/" + id + "/roll-secret", "master", map[string]any{"grace_period": "soon"}, nil, 400, "invalid_request"},
			{"roll negative grace", "POST", "/clients/" + id + "/roll-secret", "master", map[string]any{"grace_period": "-1h"}, nil, 400, "invalid_request"},
			{"revoke unknown", "POST", "/clients/blnk_cid_0000000000000000000000/revoke", "master", nil, nil, 404, "not_found"},
			{"delete unknown", "DELETE", "/clients/blnk_cid_0000000000000000000000", "master", nil, nil, 404, "not_found"},
			{"audit bad client id", "GET", "/audit?client_id=x", "master", nil, nil, 400, "invalid_request"},
			{"audit bad cursor", "GET", "/audit?cursor=zz", "master", nil, nil, 400, "invalid_request"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := g.adminCall(tc.method, tc.path, tc.cred, tc.body, tc.headers...)
				if r.status != tc.status || r.body["error"] != tc.code {
					t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
				}
				if d, _ := r.body["error_description"].(string); d == "" {
					t.Errorf("no error_description: %s", r.raw)
				}
				if r.status == 405 && r.header.Get("Allow") != "POST, GET" {
					t.Errorf("Allow %q", r.header.Get("Allow"))
				}
				if r.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("401 without a challenge")
				}
			})
		}
		// Nothing was half-written by the refused requests.
		list := g.adminCall("GET", "/clients", "master", nil)
		if cs, _ := list.body["clients"].([]any); len(cs) != 3 {
			t.Errorf("%d clients after the refused requests, want 3", len(cs))
		}
	})
}

// TestAdminAPIEscalation: a caller grants only scopes it holds.
func TestAdminAPIEscalation(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: adminRoutesConfig})
		op := g.create("operator", store.TypeOAuth, []string{"api-keys:read", "api-keys:write", "mcp:write"}, nil)
		tok := g.token(op.Client.ID, op.Secret, nil)
		all := g.create("everything", store.TypeOAuth, []string{"*"}, nil)

		ok := g.adminCall("POST", "/clients", tok, map[string]any{"name": "reader", "scopes": []string{"mcp:read"}})
		mustStatus(t, ok, 201, "create within the caller's scopes (mcp:write implies mcp:read)")
		rid := ok.body["client_id"].(string)
		for _, scopes := range [][]string{{"*"}, {"ledgers:read"}, {"mcp:write", "api-keys:delete"}, {"mcp:*"}} {
			r := g.adminCall("POST", "/clients", tok, map[string]any{"name": "escalate", "scopes": scopes})
			if r.status != 403 || r.body["error"] != "forbidden" {
				t.Errorf("create %v: %d %s", scopes, r.status, r.raw)
			}
		}
		mustStatus(t, g.adminCall("PATCH", "/clients/"+rid, tok, map[string]any{"scopes": []string{"*"}}), 403, "widen to *")
		mustStatus(t, g.adminCall("PATCH", "/clients/"+rid, tok, map[string]any{"scopes": []string{"mcp:write"}}), 200, "widen within own scopes")
		mustStatus(t, g.adminCall("POST", "/clients/"+all.Client.ID+"/roll-secret", tok, nil), 403, "roll the secret of a * client")
		mustStatus(t, g.adminCall("POST", "/clients/"+rid+"/roll-secret", tok, nil), 200, "roll a client within own scopes")
		mustStatus(t, g.adminCall("DELETE", "/clients/"+rid, tok, nil), 403, "delete without api-keys:delete")
		// The audit log names the client that acted.
		audit := g.adminCall("GET", "/audit?client_id="+rid, tok, nil)
		if !strings.Contains(audit.raw, `"actor":"`+op.Client.ID+`"`) {
			t.Errorf("audit actor: %s", audit.raw)
		}
		if n := len(audit.body["events"].([]any)); n != 3 {
			t.Errorf("%d events for the client, want create, update, roll", n)
		}
	})
}

// TestAdminAPIRevokeDeleteEscalation: a delegated admin cannot revoke or
// delete a client more powerful than itself, but can revoke itself and any
// client whose scopes it holds. Issue #8, item 5.
func TestAdminAPIRevokeDeleteEscalation(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: adminRoutesConfig})
		delegate := g.create("delegate", store.TypeOAuth, []string{"api-keys:write", "api-keys:delete", "mcp:read"}, nil)
		tok := g.token(delegate.Client.ID, delegate.Secret, nil)
		all := g.create("everything", store.TypeOAuth, []string{"*"}, nil)
		allTok := g.token(all.Client.ID, all.Secret, nil)
		key := g.create("ledger key", store.TypeAPIKey, []string{"ledgers:read", "mcp:read"}, nil)

		for _, target := range []*admin.Created{all, key} {
			for _, req := range []struct{ method, path string }{
				{"POST", "/clients/" + target.Client.ID + "/revoke"},
				{"DELETE", "/clients/" + target.Client.ID},
			} {
				r := g.adminCall(req.method, req.path, tok, nil)
				if r.status != 403 || r.body["error"] != "forbidden" || r.body["error_description"] == "" {
					t.Errorf("%s %s by a delegate: %d %s, want 403 forbidden", req.method, req.path, r.status, r.raw)
				}
			}
			got := g.adminCall("GET", "/clients/"+target.Client.ID, "master", nil)
			if got.status != 200 || got.body["status"] != "active" {
				t.Errorf("target %q after the refused revoke and delete: %d %s", target.Client.Scopes, got.status, got.raw)
			}
			audit := g.adminCall("GET", "/audit?client_id="+target.Client.ID, "master", nil)
			if evs, _ := audit.body["events"].([]any); len(evs) != 1 {
				t.Errorf("audit of the target: %s, want only its creation", audit.raw)
			}
		}
		// The * client and the key still work.
		mustStatus(t, g.call("/ledgers", bearer(allTok)...), 200, "the * client after the refused revoke")
		mustStatus(t, g.call("/ledgers", "X-Blnk-Key", key.Secret), 200, "the key after the refused delete")

		// Within its scopes the delegate may revoke and delete.
		small := g.create("small", store.TypeOAuth, []string{"mcp:read"}, nil)
		r := g.adminCall("POST", "/clients/"+small.Client.ID+"/revoke", tok, nil)
		if r.status != 200 || r.body["status"] != "revoked" {
			t.Errorf("delegate revoking an mcp:read client: %d %s", r.status, r.raw)
		}
		smallKey := g.create("small key", store.TypeAPIKey, []string{"mcp:read"}, nil)
		mustStatus(t, g.adminCall("DELETE", "/clients/"+smallKey.Client.ID, tok, nil), 204, "delegate deleting an mcp:read key")

		// And it may revoke itself, even with a token narrowed to api-keys:write.
		narrow := g.token(delegate.Client.ID, delegate.Secret, url.Values{"scope": {"api-keys:write"}})
		r = g.adminCall("POST", "/clients/"+delegate.Client.ID+"/revoke", narrow, nil)
		if r.status != 200 || r.body["status"] != "revoked" {
			t.Errorf("delegate revoking itself: %d %s", r.status, r.raw)
		}
		eventually(t, time.Second, "the delegate's token refused after it revoked itself", func() bool {
			return g.adminCall("GET", "/clients", tok, nil).status == 401
		})
	})
}

// TestAdminAPIChangesBite: narrowing scopes and bringing expiry forward act on live tokens.
func TestAdminAPIChangesBite(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: adminRoutesConfig})
		c := g.create("wide", store.TypeOAuth, []string{"mcp:read", "ledgers:read"}, nil)
		tok := g.token(c.Client.ID, c.Secret, nil)
		mustStatus(t, g.call("/ledgers", bearer(tok)...), 200, "before narrowing")
		mustStatus(t, g.adminCall("PATCH", "/clients/"+c.Client.ID, "master", map[string]any{"scopes": []string{"mcp:read"}, "name": "narrow"}), 200, "narrow")
		eventually(t, time.Second, "narrowed scope refused on a live token", func() bool { return g.call("/ledgers", bearer(tok)...).status == 403 })
		mustStatus(t, g.call("/mcp", bearer(tok)...), 200, "remaining scope still works")
		if h := g.adminCall("GET", "/clients/"+c.Client.ID, "master", nil); h.body["name"] != "narrow" {
			t.Errorf("name not updated: %s", h.raw)
		}

		soon := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
		mustStatus(t, g.adminCall("PATCH", "/clients/"+c.Client.ID, "master", map[string]any{"expires_at": soon}), 200, "bring expiry forward")
		eventually(t, 3*time.Second, "live token refused after the new expiry", func() bool { return g.call("/mcp", bearer(tok)...).status == 401 })
		// And "never" again is accepted for an active client.
		d := g.create("later", store.TypeOAuth, []string{"mcp:read"}, nil)
		r := g.adminCall("PATCH", "/clients/"+d.Client.ID, "master", map[string]any{"expires_at": nil})
		if r.status != 200 || r.body["expires_at"] != nil {
			t.Fatalf("expires_at null: %d %s", r.status, r.raw)
		}
	})
}

// TestAdminAPIRollSecret: the old secret works for the grace period only.
func TestAdminAPIRollSecret(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: adminRoutesConfig})
		c := g.create("rolled", store.TypeOAuth, []string{"mcp:read"}, nil)
		r := g.adminCall("POST", "/clients/"+c.Client.ID+"/roll-secret", "master", map[string]any{"grace_period": "1h"})
		mustStatus(t, r, 200, "roll with grace")
		if r.header.Get("Cache-Control") != "no-store" {
			t.Error("roll response may be cached")
		}
		newSecret := r.body["client_secret"].(string)
		g.token(c.Client.ID, newSecret, nil)
		g.token(c.Client.ID, c.Secret, nil) // still within the grace period
		r = g.adminCall("POST", "/clients/"+c.Client.ID+"/roll-secret", "master", nil)
		mustStatus(t, r, 200, "roll without grace")
		newest := r.body["client_secret"].(string)
		eventually(t, time.Second, "old secret refused at once", func() bool {
			return g.postToken(url.Values{"grant_type": {"client_credentials"}}, c.Client.ID, newSecret).status == 401
		})
		g.token(c.Client.ID, newest, nil)

		key := g.create("key", store.TypeAPIKey, []string{"mcp:read"}, nil)
		mustStatus(t, g.call("/mcp", "X-Blnk-Key", key.Secret), 200, "old key")
		r = g.adminCall("POST", "/clients/"+key.Client.ID+"/roll-secret", "master", nil)
		mustStatus(t, r, 200, "roll key")
		newKey, _ := r.body["api_key"].(string)
		if newKey == "" || r.body["client_secret"] != nil {
			t.Fatalf("roll of an API key: %s", r.raw)
		}
		mustStatus(t, g.call("/mcp", "X-Blnk-Key", newKey), 200, "new key")
		eventually(t, time.Second, "old key refused", func() bool { return g.call("/mcp", "X-Blnk-Key", key.Secret).status == 401 })
	})
}

// TestAdminAPIPagination: thousands of clients, listed while others are
// created, each old one exactly once, newest first.
func TestAdminAPIPagination(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: adminRoutesConfig})
		const n = 2000
		var wg sync.WaitGroup
		ids := make(chan string, n)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n/8; i++ {
					c, err := g.svc.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "bulk", Scopes: []string{"mcp:read"}})
					if err != nil {
						t.Error(err)
						return
					}
					ids <- c.Client.ID
				}
			}()
		}
		wg.Wait()
		close(ids)
		want := map[string]bool{}
		for id := range ids {
			want[id] = true
		}

		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // keep creating while we page
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
					_, _ = g.svc.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "during", Scopes: []string{"mcp:read"}})
				}
			}
		}()
		seen := map[string]int{}
		var last string
		cursor := ""
		for {
			path := "/clients?limit=137"
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			r := g.adminCall("GET", path, "master", nil)
			mustStatus(t, r, 200, "page")
			for _, c := range r.body["clients"].([]any) {
				cm := c.(map[string]any)
				id := cm["client_id"].(string)
				seen[id]++
				created, err := time.Parse(time.RFC3339Nano, cm["created_at"].(string))
				if err != nil {
					t.Fatal(err)
				}
				key := fmt.Sprintf("%020d|%s", created.UnixMicro(), id)
				if last != "" && key >= last {
					t.Fatalf("not newest first: %s after %s", key, last)
				}
				last = key
			}
			next, _ := r.body["next_cursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		close(stop)
		<-done
		for id := range want {
			if seen[id] != 1 {
				t.Fatalf("client %s listed %d times", id, seen[id])
			}
		}
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("client %s listed %d times", id, k)
			}
		}
	})
}

// TestNoSecretAfterCreation: after creation no response body and no log line
// (Caddy's logs and access logs at DEBUG) contains a secret.
func TestNoSecretAfterCreation(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		dir := t.TempDir()
		logFile := filepath.Join(dir, "caddy.log")
		accessLog := filepath.Join(dir, "access.log")
		g := startGateway(t, gatewayOptions{store: kind,
			// Caddy redacts Authorization in access logs by itself; X-Blnk-Key
			// needs the filter the README documents (Caddy clones the request for
			// its access log before any handler runs, so no handler can remove it).
			apiRoutes:   adminRoutesConfig + "\n\tlog {\n\t\toutput file " + accessLog + "\n\t\tformat filter {\n\t\t\trequest>headers>X-Blnk-Key delete\n\t\t}\n\t}",
			globalExtra: "log {\n\toutput file " + logFile + "\n\tlevel DEBUG\n}",
		})
		var secrets []string
		var bodies []string
		for _, typ := range []string{"oauth", "api_key"} {
			r := g.adminCall("POST", "/clients", "master", map[string]any{"name": "secretive " + typ, "scopes": []string{"mcp:read"}, "type": typ})
			mustStatus(t, r, 201, "create")
			id := r.body["client_id"].(string)
			s, _ := r.body["client_secret"].(string)
			if typ == "api_key" {
				s = r.body["api_key"].(string)
				bodies = append(bodies, g.call("/mcp", "X-Blnk-Key", s).raw)
				bodies = append(bodies, g.call("/mcp", "X-Blnk-Key", alterLast(s)).raw)
			} else {
				tok := g.postToken(url.Values{"grant_type": {"client_credentials"}}, id, s)
				bodies = append(bodies, g.call("/mcp", bearer(tok.body["access_token"].(string))...).raw)
				bodies = append(bodies, g.postToken(url.Values{"grant_type": {"client_credentials"}}, id, s+"x").raw)
			}
			secrets = append(secrets, s)
			for _, call := range [][2]string{{"GET", "/clients"}, {"GET", "/clients/" + id}, {"GET", "/audit"}, {"PATCH", "/clients/" + id}, {"POST", "/clients/" + id + "/revoke"}} {
				var body any
				if call[0] == "PATCH" {
					body = map[string]any{"name": "renamed"}
				}
				bodies = append(bodies, g.adminCall(call[0], call[1], "master", body).raw)
			}
			bodies = append(bodies, g.adminCall("DELETE", "/clients/"+id, "master", nil).raw)
		}
		// A caller trying to set a secret is refused without echoing it.
		bodies = append(bodies, g.adminCall("POST", "/clients", "master", map[string]any{"name": "x", "scopes": []string{"*"}, "client_secret": secrets[0]}).raw)
		if err := stopCaddy(); err != nil { // flush the logs
			t.Fatal(err)
		}
		logs, _ := os.ReadFile(logFile)
		access, _ := os.ReadFile(accessLog)
		if len(logs) == 0 || len(access) == 0 {
			t.Fatalf("no logs captured (%d, %d bytes)", len(logs), len(access))
		}
		if !strings.Contains(string(logs), `"logger":"http.handlers.blnk_admin.audit"`) {
			t.Error("no audit log line from a logger named ...audit")
		}
		for _, s := range secrets {
			for _, b := range bodies {
				if strings.Contains(b, s) {
					t.Fatalf("a response after creation contains a secret: %s", b)
				}
			}
			for _, f := range []string{logFile, accessLog} {
				b, _ := os.ReadFile(f)
				for _, line := range strings.Split(string(b), "\n") {
					if strings.Contains(line, s) {
						t.Fatalf("%s contains a secret: %s", filepath.Base(f), line)
					}
				}
			}
		}
	})
}

// TestOpenAPIMatchesRoutes: the OpenAPI document and the router list the same
// operations, and each documented operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	var documented, routed []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	for _, r := range adminRoutes {
		routed = append(routed, r.method+" "+r.pattern)
	}
	sort.Strings(documented)
	sort.Strings(routed)
	if strings.Join(documented, "\n") != strings.Join(routed, "\n") {
		t.Fatalf("OpenAPI and router differ:\ndocumented:\n%s\nrouted:\n%s", strings.Join(documented, "\n"), strings.Join(routed, "\n"))
	}

	g := startGateway(t, gatewayOptions{apiRoutes: adminRoutesConfig})
	served := g.adminCall("GET", "/openapi.json", "master", nil)
	if served.status != 200 || served.raw != string(openAPIDocument) {
		t.Fatalf("GET /openapi.json: %d", served.status)
	}
	c := g.create("probe", store.TypeOAuth, []string{"mcp:read"}, nil)
	for _, op := range routed {
		method, path, _ := strings.Cut(op, " ")
		path = strings.ReplaceAll(path, "{client_id}", c.Client.ID)
		var body any
		if method == "POST" || method == "PATCH" {
			body = map[string]any{}
		}
		r := g.adminCall(method, path, "master", body)
		if r.status == 405 || r.body["error_description"] == "no such endpoint" || r.status >= 500 {
			t.Errorf("%s: %d %s", op, r.status, r.raw)
		}
	}
}

// TestAdminCORS: no CORS unless configured; preflights from allowed origins answered.
func TestAdminCORS(t *testing.T) {
	g := startGateway(t, gatewayOptions{apiRoutes: adminRoutesConfig})
	pre := func(origin string) tokenResponse {
		req, _ := http.NewRequest("OPTIONS", g.apiURL+"/admin/clients", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		return g.do(req)
	}
	r := pre("https://dash.example.com")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://dash.example.com" || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("allowed preflight: %d %v", r.status, r.header)
	}
	r = pre("https://evil.example.com")
	if r.header.Get("Access-Control-Allow-Origin") != "" || r.status == 204 {
		t.Fatalf("foreign preflight: %d %v", r.status, r.header)
	}
	get := g.adminCall("GET", "/clients", "master", nil, "Origin", "https://dash.example.com")
	if get.header.Get("Access-Control-Allow-Origin") != "https://dash.example.com" {
		t.Errorf("simple request from an allowed origin: %v", get.header)
	}
}
