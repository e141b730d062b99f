package admin_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

const testMasterKey = "master-key-0123456789abcdef-0123456789"

// api is an admin.Handler over a fixture's Service, with bearer tokens that
// stand for clients of the store (the Authenticate of the test).
type api struct {
	t     *testing.T
	f     *fixture
	h     *admin.Handler
	logs  *observer.ObservedLogs
	creds map[string]admin.Caller // bearer value → caller
	fail  error                   // when set, Authenticate returns it
}

func newAPI(t *testing.T, f *fixture) *api {
	core, logs := observer.New(zapcore.InfoLevel)
	a := &api{t: t, f: f, logs: logs, creds: map[string]admin.Caller{}}
	a.h = admin.NewHandler(admin.HandlerConfig{
		Service:        f.svc,
		MasterKey:      testMasterKey,
		AllowedOrigins: []string{"https://dash.example.com"},
		Authenticate: func(r *http.Request) (admin.Caller, error) {
			if a.fail != nil {
				return admin.Caller{}, a.fail
			}
			cred, err := authn.CredentialOf(r.Header)
			if err != nil {
				return admin.Caller{}, err
			}
			if c, ok := a.creds[cred.Value]; ok {
				return c, nil
			}
			return admin.Caller{}, authn.ErrInvalidToken
		},
		ClientIP:  func(*http.Request) string { return "203.0.113.7" },
		RequestID: func(*http.Request) string { return "server-request-id" },
		Logger:    zap.New(core),
	})
	return a
}

// token makes a client holding scopes and a bearer value standing for it.
func (a *api) token(name string, scopes ...string) (bearer, clientID string) {
	a.t.Helper()
	c := a.f.create(a.t, admin.CreateParams{Name: name, Scopes: scopes})
	a.creds["tok-"+name] = admin.Caller{ClientID: c.Client.ID, Scopes: c.Client.Scopes}
	return "tok-" + name, c.Client.ID
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request: cred is "master", "" for none, or a bearer value; a
// non-empty body is sent as application/json unless headers say otherwise.
func (a *api) do(method, path, cred, body string, headers ...string) response {
	a.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	switch cred {
	case "":
	case "master":
		r.Header.Set("X-Blnk-Key", testMasterKey)
	default:
		r.Header.Set("Authorization", "Bearer "+cred)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	res := response{status: w.Code, header: w.Header(), raw: w.Body.String()}
	_ = json.Unmarshal(w.Body.Bytes(), &res.body)
	return res
}

func (a *api) must(r response, status int, what string) response {
	a.t.Helper()
	if r.status != status {
		a.t.Fatalf("%s: %d %s, want %d", what, r.status, r.raw, status)
	}
	if r.header.Get("Cache-Control") == "" {
		a.t.Errorf("%s: no Cache-Control", what)
	}
	return r
}

// TestHandlerWorkflow: every operation with the master key, as the audit log
// and the audit logger record them.
func TestHandlerWorkflow(t *testing.T) { forEachStore(t, testHandlerWorkflow) }

func testHandlerWorkflow(t *testing.T, f *fixture) {
	a := newAPI(t, f)
	created := a.must(a.do("POST", "/clients", "master", `{"name":"MCP Integration","scopes":["mcp:read"]}`, "X-Request-Id", "req-1"), 201, "create")
	id, _ := created.body["client_id"].(string)
	if id == "" || created.body["client_secret"] == "" || created.body["type"] != "oauth" || created.body["status"] != "active" ||
		created.body["name"] != "MCP Integration" || created.header.Get("Content-Type") != "application/json" || created.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %s %v", created.raw, created.header)
	}
	key := a.must(a.do("POST", "/clients", "master", `{"name":"job","type":"api_key","scopes":["ledgers:read"],"expires_at":null}`), 201, "create API key")
	if k, _ := key.body["api_key"].(string); k == "" || key.body["client_secret"] != nil {
		t.Fatalf("create API key: %s", key.raw)
	}

	got := a.must(a.do("GET", "/clients/"+id, "master", ""), 200, "get")
	if got.body["client_id"] != id || got.body["client_secret"] != nil || !strings.Contains(got.raw, `"secret_hint"`) {
		t.Fatalf("get: %s", got.raw)
	}
	list := a.must(a.do("GET", "/clients", "master", ""), 200, "list")
	if cs, _ := list.body["clients"].([]any); len(cs) != 2 || list.body["next_cursor"] != nil {
		t.Fatalf("list: %s", list.raw)
	}
	page := a.must(a.do("GET", "/clients?limit=1", "master", ""), 200, "list page 1")
	cursor, _ := page.body["next_cursor"].(string)
	if cs, _ := page.body["clients"].([]any); len(cs) != 1 || cursor == "" {
		t.Fatalf("list page 1: %s", page.raw)
	}
	page2 := a.must(a.do("GET", "/clients?limit=1&cursor="+cursor, "master", ""), 200, "list page 2")
	if cs, _ := page2.body["clients"].([]any); len(cs) != 1 || cs[0].(map[string]any)["client_id"] == page.body["clients"].([]any)[0].(map[string]any)["client_id"] {
		t.Fatalf("list page 2: %s", page2.raw)
	}
	active := a.must(a.do("GET", "/clients?status=active&type=api_key", "master", ""), 200, "filtered list")
	if cs, _ := active.body["clients"].([]any); len(cs) != 1 {
		t.Fatalf("filtered list: %s", active.raw)
	}

	exp := f.clock.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	patched := a.must(a.do("PATCH", "/clients/"+id, "master", `{"name":"renamed","scopes":["mcp:read","mcp:write"],"expires_at":"`+exp+`"}`), 200, "patch")
	if patched.body["name"] != "renamed" || patched.body["expires_at"] != exp || len(patched.body["scopes"].([]any)) != 2 {
		t.Fatalf("patch: %s", patched.raw)
	}
	rolled := a.must(a.do("POST", "/clients/"+id+"/roll-secret", "master", `{"grace_period":"1d"}`), 200, "roll")
	if s, _ := rolled.body["client_secret"].(string); s == "" || s == created.body["client_secret"] {
		t.Fatalf("roll: %s", rolled.raw)
	}
	a.must(a.do("POST", "/clients/"+id+"/roll-secret", "master", ""), 200, "roll with no body")
	revoked := a.must(a.do("POST", "/clients/"+id+"/revoke", "master", ""), 200, "revoke")
	if revoked.body["status"] != "revoked" || revoked.body["revoked_at"] == nil {
		t.Fatalf("revoke: %s", revoked.raw)
	}
	a.must(a.do("POST", "/clients/"+id+"/revoke", "master", "{}"), 200, "revoke again")
	if r := a.must(a.do("PATCH", "/clients/"+id, "master", `{"name":"x"}`), 409, "patch revoked"); r.body["error"] != "conflict" {
		t.Fatalf("patch revoked: %s", r.raw)
	}
	if r := a.must(a.do("DELETE", "/clients/"+id, "master", ""), 204, "delete"); r.raw != "" {
		t.Fatalf("delete: %q", r.raw)
	}
	a.must(a.do("GET", "/clients/"+id, "master", ""), 404, "get deleted")

	audit := a.must(a.do("GET", "/audit?client_id="+id, "master", ""), 200, "audit")
	var actions []string
	for _, e := range audit.body["events"].([]any) {
		ev := e.(map[string]any)
		if ev["actor"] != admin.MasterActor || ev["client_id"] != id || ev["source"] != "203.0.113.7" || ev["id"] == "" {
			t.Errorf("audit event %v", ev)
		}
		actions = append(actions, ev["action"].(string))
	}
	want := []string{store.ActionDelete, store.ActionRevoke, store.ActionRevoke, store.ActionRollSecret, store.ActionRollSecret, store.ActionUpdate, store.ActionCreate}
	if !slices.Equal(actions, want) {
		t.Fatalf("audit actions %v, want %v", actions, want)
	}
	first := a.must(a.do("GET", "/audit?limit=1", "master", ""), 200, "audit page 1")
	next, _ := first.body["next_cursor"].(string)
	if next == "" {
		t.Fatalf("audit page 1: %s", first.raw)
	}
	second := a.must(a.do("GET", "/audit?limit=1&cursor="+next, "master", ""), 200, "audit page 2")
	if second.body["events"].([]any)[0].(map[string]any)["id"] == first.body["events"].([]any)[0].(map[string]any)["id"] {
		t.Fatalf("audit page 2 repeats page 1: %s", second.raw)
	}

	// The audit logger: one line per change, the caller's request ID when
	// sane, else the server's; never a secret.
	lines := a.logs.FilterLoggerName("audit").All()
	if len(lines) != 8 { // two creates, then the seven changes above less the second create
		t.Fatalf("%d audit lines, want 8", len(lines))
	}
	if c := lines[0].ContextMap(); lines[0].Message != store.ActionCreate || c["actor"] != admin.MasterActor || c["client_id"] != id || c["request_id"] != "req-1" || c["source"] != "203.0.113.7" {
		t.Errorf("first audit line: %s %v", lines[0].Message, lines[0].ContextMap())
	}
	if c := lines[1].ContextMap(); c["request_id"] != "server-request-id" {
		t.Errorf("second audit line: %v", c)
	}
	for _, l := range lines {
		for _, v := range l.ContextMap() {
			if s, _ := v.(string); s != "" && (s == created.body["client_secret"] || s == rolled.body["client_secret"] || s == key.body["api_key"]) {
				t.Errorf("audit line %s holds a secret", l.Message)
			}
		}
	}
}

// TestHandlerDelegated: a client's token acts within its scopes, recorded
// as that client.
func TestHandlerDelegated(t *testing.T) { forEachStore(t, testHandlerDelegated) }

func testHandlerDelegated(t *testing.T, f *fixture) {
	a := newAPI(t, f)
	reader, _ := a.token("reader", "api-keys:read")
	writer, writerID := a.token("writer", "api-keys:read", "api-keys:write", "ledgers:read")
	deleter, _ := a.token("deleter", "api-keys:delete", "ledgers:*")
	all := a.f.create(t, admin.CreateParams{Name: "everything", Scopes: []string{"*"}}).Client.ID

	a.must(a.do("GET", "/clients", reader, ""), 200, "reader lists")
	r := a.must(a.do("POST", "/clients", reader, `{"name":"x","scopes":["ledgers:read"]}`), 403, "reader creates")
	if r.body["error"] != "insufficient_scope" || r.header.Get("WWW-Authenticate") != `Bearer realm="blnk", error="insufficient_scope", error_description="the credential lacks a required scope", scope="api-keys:write"` {
		t.Fatalf("reader creates: %s %v", r.raw, r.header)
	}
	r = a.must(a.do("DELETE", "/clients/"+all, writer, ""), 403, "writer deletes")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="api-keys:delete"`) {
		t.Fatalf("writer deletes: %v", r.header)
	}

	c := a.must(a.do("POST", "/clients", writer, `{"name":"sub","scopes":["ledgers:read"]}`), 201, "writer creates within its scopes")
	sub := c.body["client_id"].(string)
	r = a.must(a.do("POST", "/clients", writer, `{"name":"up","scopes":["ledgers:write"]}`), 403, "writer escalates")
	if r.body["error"] != "forbidden" || r.header.Get("WWW-Authenticate") != "" || strings.HasPrefix(r.body["error_description"].(string), "forbidden") {
		t.Fatalf("writer escalates: %s %v", r.raw, r.header)
	}
	a.must(a.do("POST", "/clients/"+all+"/revoke", writer, ""), 403, "writer revokes a wider client")
	a.must(a.do("POST", "/clients/"+all+"/roll-secret", writer, ""), 403, "writer rolls a wider client")
	a.must(a.do("PATCH", "/clients/"+all, writer, `{"name":"mine"}`), 403, "writer renames a wider client")
	a.must(a.do("DELETE", "/clients/"+all, deleter, ""), 403, "deleter deletes a wider client")
	a.must(a.do("DELETE", "/clients/"+sub, deleter, ""), 204, "deleter deletes within its scopes")
	a.must(a.do("POST", "/clients/"+writerID+"/revoke", writer, ""), 200, "writer revokes itself")

	ev := a.must(a.do("GET", "/audit?client_id="+sub, reader, ""), 200, "audit").body["events"].([]any)
	if len(ev) != 2 || ev[1].(map[string]any)["actor"] != writerID {
		t.Fatalf("audit of sub: %v", ev)
	}
}

// TestHandlerErrors: every refusal, with its status, error code and headers.
func TestHandlerErrors(t *testing.T) { forEachStore(t, testHandlerErrors) }

func testHandlerErrors(t *testing.T, f *fixture) {
	a := newAPI(t, f)
	reader, _ := a.token("reader", "api-keys:read")
	id := f.create(t, admin.CreateParams{}).Client.ID
	revoked := f.create(t, admin.CreateParams{}).Client.ID
	if _, err := f.svc.Revoke(t.Context(), admin.CLI, revoked); err != nil {
		t.Fatal(err)
	}
	badCursor := base64.RawURLEncoding.EncodeToString([]byte("c1|x|y"))
	cases := []struct {
		name, method, path, cred, body string
		headers                        []string
		status                         int
		code                           string // the body's "error"
		description                    string // a substring of error_description
		header                         []string
	}{
		{name: "unknown path", method: "GET", path: "/nope", cred: "master", status: 404, code: "not_found", description: "no such endpoint"},
		{name: "unknown subpath", method: "GET", path: "/clients/" + id + "/x", cred: "master", status: 404, code: "not_found"},
		{name: "empty client ID", method: "GET", path: "/clients/", cred: "master", status: 404, code: "not_found", description: "no such endpoint"},
		{name: "method on /clients", method: "PUT", path: "/clients", cred: "master", status: 405, code: "method_not_allowed", description: "use POST or GET", header: []string{"Allow", "POST, GET"}},
		{name: "method on a client", method: "POST", path: "/clients/" + id, cred: "master", status: 405, code: "method_not_allowed", header: []string{"Allow", "GET, PATCH, DELETE"}},
		{name: "method before credential", method: "PUT", path: "/audit", status: 405, code: "method_not_allowed", header: []string{"Allow", "GET"}},
		{name: "no credential", method: "GET", path: "/clients", status: 401, code: "unauthorized", header: []string{"WWW-Authenticate", `Bearer realm="blnk"`}},
		{name: "invalid token", method: "GET", path: "/clients", cred: "bogus", status: 401, code: "invalid_token", header: []string{"WWW-Authenticate", `Bearer realm="blnk", error="invalid_token", error_description="the access token is invalid, expired or revoked"`}},
		{name: "wrong master key", method: "GET", path: "/clients", headers: []string{"X-Blnk-Key", strings.Repeat("x", 40)}, status: 401, code: "invalid_token"},
		{name: "master key with a token", method: "GET", path: "/clients", cred: "bogus", headers: []string{"X-Blnk-Key", testMasterKey}, status: 400, code: "invalid_request"},
		{name: "insufficient scope", method: "PATCH", path: "/clients/" + id, cred: reader, body: `{"name":"x"}`, status: 403, code: "insufficient_scope", header: []string{"WWW-Authenticate", `Bearer realm="blnk", error="insufficient_scope", error_description="the credential lacks a required scope", scope="api-keys:write"`}},
		{name: "no such client", method: "GET", path: "/clients/nope", cred: "master", status: 404, code: "not_found", description: "no such client"},
		{name: "revoke unknown", method: "POST", path: "/clients/nope/revoke", cred: "master", status: 404, code: "not_found"},
		{name: "delete unknown", method: "DELETE", path: "/clients/nope", cred: "master", status: 404, code: "not_found"},
		{name: "patch revoked", method: "PATCH", path: "/clients/" + revoked, cred: "master", body: `{"name":"x"}`, status: 409, code: "conflict", description: "revoked clients cannot change"},
		{name: "roll revoked", method: "POST", path: "/clients/" + revoked + "/roll-secret", cred: "master", status: 409, code: "conflict"},
		{name: "too large", method: "POST", path: "/clients", cred: "master", body: `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, status: 413, code: "request_too_large", description: "65536 bytes"},
		{name: "not JSON", method: "POST", path: "/clients", cred: "master", body: `name=x`, headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type"},
		{name: "no content type", method: "PATCH", path: "/clients/" + id, cred: "master", body: `{"name":"x"}`, headers: []string{"Content-Type", ""}, status: 415, code: "unsupported_media_type"},
		{name: "JSON with charset", method: "PATCH", path: "/clients/" + id, cred: "master", body: `{"name":"y"}`, headers: []string{"Content-Type", "application/json; charset=utf-8"}, status: 200},
		{name: "empty create", method: "POST", path: "/clients", cred: "master", status: 415, code: "unsupported_media_type"},
		{name: "not an object", method: "POST", path: "/clients", cred: "master", body: `[1]`, status: 400, code: "invalid_request", description: "must be a JSON object"},
		{name: "null body", method: "POST", path: "/clients", cred: "master", body: `null`, status: 400, code: "invalid_request", description: "must be a JSON object"},
		{name: "two objects", method: "POST", path: "/clients", cred: "master", body: `{"name":"a","scopes":["x"]} {}`, status: 400, code: "invalid_request", description: "one JSON object"},
		{name: "name missing", method: "POST", path: "/clients", cred: "master", body: `{"scopes":["x"]}`, status: 400, code: "invalid_request", description: "name: is required"},
		{name: "scopes missing", method: "POST", path: "/clients", cred: "master", body: `{"name":"a"}`, status: 400, code: "invalid_request", description: "scopes: is required"},
		{name: "name not a string", method: "POST", path: "/clients", cred: "master", body: `{"name":1,"scopes":["x"]}`, status: 400, code: "invalid_request", description: "name: wrong type or format"},
		{name: "type not a string", method: "POST", path: "/clients", cred: "master", body: `{"name":"a","type":2,"scopes":["x"]}`, status: 400, code: "invalid_request", description: "type: wrong type or format"},
		{name: "unknown type", method: "POST", path: "/clients", cred: "master", body: `{"name":"a","type":"jwt","scopes":["x"]}`, status: 400, code: "invalid_request", description: "type: "},
		{name: "blank name", method: "POST", path: "/clients", cred: "master", body: `{"name":"  ","scopes":["x"]}`, status: 400, code: "invalid_request", description: "name: "},
		{name: "bad scope", method: "POST", path: "/clients", cred: "master", body: `{"name":"a","scopes":["a b"]}`, status: 400, code: "invalid_request", description: "scopes: "},
		{name: "unknown field", method: "POST", path: "/clients", cred: "master", body: `{"name":"a","scopes":["x"],"owner":"me"}`, status: 400, code: "invalid_request", description: "owner: unknown field (allowed: name, type, scopes, expires_at, rate_limit, redirect_uris, token_endpoint_auth_method, jwks, jwks_uri)"},
		{name: "secret supplied", method: "POST", path: "/clients", cred: "master", body: `{"name":"a","scopes":["x"],"client_secret":"s"}`, status: 400, code: "invalid_request", description: "client_secret: secrets are generated by the gateway"},
		{name: "bad expiry", method: "POST", path: "/clients", cred: "master", body: `{"name":"a","scopes":["x"],"expires_at":"tomorrow"}`, status: 400, code: "invalid_request", description: "expires_at: must be an RFC 3339 time"},
		{name: "past expiry", method: "POST", path: "/clients", cred: "master", body: `{"name":"a","scopes":["x"],"expires_at":"2001-01-01T00:00:00Z"}`, status: 400, code: "invalid_request", description: "expires_at: "},
		{name: "patch nothing", method: "PATCH", path: "/clients/" + id, cred: "master", body: `{}`, status: 400, code: "invalid_request", description: "nothing to change"},
		{name: "patch type", method: "PATCH", path: "/clients/" + id, cred: "master", body: `{"type":"api_key"}`, status: 400, code: "invalid_request", description: "type: cannot change"},
		{name: "patch scopes not a list", method: "PATCH", path: "/clients/" + id, cred: "master", body: `{"scopes":"x"}`, status: 400, code: "invalid_request", description: "scopes: wrong type or format"},
		{name: "revoke with a field", method: "POST", path: "/clients/" + id + "/revoke", cred: "master", body: `{"reason":"x"}`, status: 400, code: "invalid_request", description: "reason: unknown field (allowed: )"},
		{name: "bad grace period", method: "POST", path: "/clients/" + id + "/roll-secret", cred: "master", body: `{"grace_period":"soon"}`, status: 400, code: "invalid_request", description: `grace_period: a duration such as "1h" or "30m"`},
		{name: "grace period not a string", method: "POST", path: "/clients/" + id + "/roll-secret", cred: "master", body: `{"grace_period":3600}`, status: 400, code: "invalid_request", description: "grace_period: wrong type or format"},
		{name: "grace period too long", method: "POST", path: "/clients/" + id + "/roll-secret", cred: "master", body: `{"grace_period":"365d"}`, status: 400, code: "invalid_request", description: "grace_period: "},
		{name: "unknown query parameter", method: "GET", path: "/clients?owner=me", cred: "master", status: 400, code: "invalid_request", description: "owner: unknown query parameter (allowed: status, type, limit, cursor)"},
		{name: "repeated query parameter", method: "GET", path: "/clients?limit=1&limit=2", cred: "master", status: 400, code: "invalid_request", description: "limit: given more than once"},
		{name: "malformed query", method: "GET", path: "/clients?a=%zz", cred: "master", status: 400, code: "invalid_request", description: "malformed query string"},
		{name: "bad status", method: "GET", path: "/clients?status=gone", cred: "master", status: 400, code: "invalid_request", description: `status: must be "active", "revoked" or "expired"`},
		{name: "bad type filter", method: "GET", path: "/clients?type=jwt", cred: "master", status: 400, code: "invalid_request", description: `type: must be "oauth" or "api_key"`},
		{name: "limit zero", method: "GET", path: "/clients?limit=0", cred: "master", status: 400, code: "invalid_request", description: "limit: must be a whole number from 1 to 500"},
		{name: "limit too big", method: "GET", path: "/audit?limit=501", cred: "master", status: 400, code: "invalid_request", description: "limit: must be a whole number from 1 to 500"},
		{name: "bad list cursor", method: "GET", path: "/clients?cursor=" + badCursor, cred: "master", status: 400, code: "invalid_request", description: "cursor: malformed"},
		{name: "empty list cursor", method: "GET", path: "/clients?cursor=", cred: "master", status: 400, code: "invalid_request", description: "cursor: malformed"},
		{name: "bad audit cursor", method: "GET", path: "/audit?cursor=" + badCursor, cred: "master", status: 400, code: "invalid_request", description: "cursor: malformed"},
		{name: "audit cursor zero", method: "GET", path: "/audit?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("a1|0")), cred: "master", status: 400, code: "invalid_request", description: "cursor: malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(tc.method, tc.path, tc.cred, tc.body, tc.headers...)
			if r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.raw, tc.status)
			}
			if tc.code != "" {
				desc, _ := r.body["error_description"].(string)
				if r.body["error"] != tc.code || !strings.Contains(desc, tc.description) {
					t.Errorf("body %s, want error %q with %q", r.raw, tc.code, tc.description)
				}
				if r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("headers %v", r.header)
				}
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
			for i := 0; i+1 < len(tc.header); i += 2 {
				if got := r.header.Get(tc.header[i]); got != tc.header[i+1] {
					t.Errorf("%s: %q, want %q", tc.header[i], got, tc.header[i+1])
				}
			}
		})
	}
}

// TestHandlerAuthenticateFails: an authentication that cannot decide is a
// 503 with Retry-After; anything else unexpected a 500 that says nothing.
func TestHandlerAuthenticateFails(t *testing.T) { forEachStore(t, testHandlerAuthenticateFails) }

func testHandlerAuthenticateFails(t *testing.T, f *fixture) {
	a := newAPI(t, f)
	a.fail = authn.ErrUnavailable
	r := a.must(a.do("GET", "/clients", "tok", ""), 503, "unavailable")
	if r.header.Get("Retry-After") != "1" || r.header.Get("WWW-Authenticate") != "" || r.body["error"] != "temporarily_unavailable" {
		t.Fatalf("unavailable: %s %v", r.raw, r.header)
	}
	a.must(a.do("GET", "/clients", "master", ""), 200, "the master key needs no authentication")
	a.fail = errors.New("database on fire")
	r = a.must(a.do("GET", "/clients", "tok", ""), 500, "unexpected")
	if r.raw != `{"error":"server_error","error_description":"internal error"}` {
		t.Fatalf("unexpected: %s", r.raw)
	}
	if l := a.logs.FilterMessage("admin API request failed").All(); len(l) != 1 {
		t.Fatalf("%d error log lines", len(l))
	}
}

// TestHandlerNoMasterKey: without one, X-Blnk-Key is an API key like any other.
func TestHandlerNoMasterKey(t *testing.T) { forEachStore(t, testHandlerNoMasterKey) }

func testHandlerNoMasterKey(t *testing.T, f *fixture) {
	h := admin.NewHandler(admin.HandlerConfig{Service: f.svc})
	for _, key := range []string{testMasterKey, ""} {
		r := httptest.NewRequest("GET", "/clients", nil)
		if key != "" {
			r.Header.Set("X-Blnk-Key", key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 401 || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer realm="blnk"`) {
			t.Fatalf("X-Blnk-Key %q: %d %s", key, w.Code, w.Body)
		}
	}
}

// TestHandlerCORS: answered only for allowed origins.
func TestHandlerCORS(t *testing.T) { forEachStore(t, testHandlerCORS) }

func testHandlerCORS(t *testing.T, f *fixture) {
	a := newAPI(t, f)
	pre := a.do("OPTIONS", "/clients", "", "", "Origin", "https://dash.example.com", "Access-Control-Request-Method", "POST")
	if pre.status != 204 || pre.raw != "" {
		t.Fatalf("allowed preflight: %d %s", pre.status, pre.raw)
	}
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin":  "https://dash.example.com",
		"Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE",
		"Access-Control-Allow-Headers": "Authorization, Content-Type, X-Blnk-Key, X-Request-Id",
		"Access-Control-Max-Age":       "600",
		"Vary":                         "Origin",
		"Cache-Control":                "no-store",
	} {
		if got := pre.header.Get(k); got != v {
			t.Errorf("preflight %s: %q, want %q", k, got, v)
		}
	}
	foreign := a.do("OPTIONS", "/clients", "", "", "Origin", "https://evil.example.com", "Access-Control-Request-Method", "POST")
	if foreign.status != 405 || foreign.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %v", foreign.status, foreign.header)
	}
	simple := a.must(a.do("GET", "/clients", "master", "", "Origin", "https://dash.example.com"), 200, "simple request")
	if simple.header.Get("Access-Control-Allow-Origin") != "https://dash.example.com" || simple.header.Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("simple request from an allowed origin: %v", simple.header)
	}
	refused := a.must(a.do("GET", "/clients", "", "", "Origin", "https://dash.example.com"), 401, "refused request")
	if refused.header.Get("Access-Control-Allow-Origin") != "https://dash.example.com" {
		t.Errorf("refusal from an allowed origin: %v", refused.header)
	}
	other := a.must(a.do("GET", "/clients", "master", "", "Origin", "https://evil.example.com"), 200, "foreign simple request")
	if other.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("simple request from a foreign origin: %v", other.header)
	}
}

// TestOpenAPIMatchesRoutes: the OpenAPI document lists the operations the
// handler serves, and is served as it is.
func TestOpenAPIMatchesRoutes(t *testing.T) { forEachStore(t, testOpenAPIMatchesRoutes) }

func testOpenAPIMatchesRoutes(t *testing.T, f *fixture) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(admin.OpenAPIDocument(), &doc); err != nil {
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
	for _, op := range admin.Operations() {
		routed = append(routed, op.Method+" "+op.Pattern)
		want := map[string]string{"GET": admin.ScopeRead, "POST": admin.ScopeWrite, "PATCH": admin.ScopeWrite, "DELETE": admin.ScopeDelete}[op.Method]
		if strings.HasPrefix(op.Pattern, "/keys") {
			want = map[string]string{"GET": admin.ScopeKeysRead, "POST": admin.ScopeKeysWrite}[op.Method]
		}
		if op.Scope != want {
			t.Errorf("%s %s needs %q, want %q", op.Method, op.Pattern, op.Scope, want)
		}
	}
	sort.Strings(documented)
	sort.Strings(routed)
	if strings.Join(documented, "\n") != strings.Join(routed, "\n") {
		t.Fatalf("OpenAPI and router differ:\ndocumented:\n%s\nrouted:\n%s", strings.Join(documented, "\n"), strings.Join(routed, "\n"))
	}

	a := newAPI(t, f)
	reader, _ := a.token("reader", "api-keys:read")
	served := a.must(a.do("GET", "/openapi.json", reader, ""), 200, "openapi.json")
	if served.raw != string(admin.OpenAPIDocument()) || served.header.Get("Content-Type") != "application/json" || served.header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET /openapi.json: %v", served.header)
	}
	id := f.create(t, admin.CreateParams{}).Client.ID
	for _, op := range routed {
		method, path, _ := strings.Cut(op, " ")
		body := ""
		if method == "POST" || method == "PATCH" {
			body = "{}"
		}
		r := a.do(method, strings.ReplaceAll(path, "{client_id}", id), "master", body)
		if r.status == 405 || r.body["error_description"] == "no such endpoint" || r.status >= 500 {
			t.Errorf("%s: %d %s", op, r.status, r.raw)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"0s": 0, "1h": time.Hour, "30m": 30 * time.Minute, "1d": 24 * time.Hour, "1.5d": 36 * time.Hour,
		"1d2h": 26 * time.Hour, "-1d": -24 * time.Hour,
	} {
		if got, err := admin.ParseDuration(s); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "soon", "d", "1x", strings.Repeat("1", 1025) + "s"} {
		if _, err := admin.ParseDuration(s); err == nil {
			t.Errorf("ParseDuration(%q): no error", s)
		}
	}
}
