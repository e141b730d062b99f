package resourceserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend/backendtest"
	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpscope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpsession"
	"github.com/blnkfinance/blnk-auth-gateway/internal/resourceserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

const (
	issuer   = "https://auth.example.com"
	resource = "https://api.example.com/mcp"
)

// fixture is a gateway (real SQLite store, cache, change feed, keys) and the
// routes made on it.
type fixture struct {
	backend *backend.Backend
	signer  *token.Issuer
	clients *admin.Service
	shared  *resourceserver.Shared
	routes  *resourceserver.Routes
}

// passKey keeps a request's Pass, as Caddy's request variables do.
type passKey struct{}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	b := backendtest.Backend(t)
	k, v := backendtest.Keys(t, issuer)
	f := &fixture{
		backend: b,
		signer:  &token.Issuer{Key: k, Issuer: issuer, TTL: time.Hour},
		clients: &admin.Service{Store: b.Store, Invalidate: b.ClientChanged},
		routes:  resourceserver.NewRoutes(issuer),
	}
	f.shared = &resourceserver.Shared{
		Backend:         b,
		Decider:         &authn.Decider{Clients: b.Clients, Verifier: v, Revoked: b},
		Sessions:        mcpsession.New(strings.Repeat("s", 32)),
		Issuer:          issuer,
		DefaultAudience: issuer,
		Leeway:          time.Second,
		Routes:          f.routes,
		Earlier: func(r *http.Request) *resourceserver.Pass {
			p, _ := r.Context().Value(passKey{}).(*passBox)
			if p == nil {
				return nil
			}
			return p.pass
		},
		Admitted: func(r *http.Request, p *resourceserver.Pass) {
			if box, _ := r.Context().Value(passKey{}).(*passBox); box != nil {
				box.pass = p
			}
		},
	}
	return f
}

type passBox struct{ pass *resourceserver.Pass }

func (f *fixture) route(t *testing.T, cfg resourceserver.Config) *resourceserver.Route {
	t.Helper()
	cfg.Decisions = zaptest.NewLogger(t)
	rt, err := resourceserver.New(cfg, f.shared)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func (f *fixture) client(t *testing.T, typ store.Type, scopes ...string) (id, secret string) {
	t.Helper()
	c, err := f.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "test", Type: typ, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return c.Client.ID, c.Secret
}

func (f *fixture) token(t *testing.T, id, scopes, aud string) string {
	t.Helper()
	tok, err := f.signer.Issue(id, scope.MustParse(scopes), aud, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// upstream records what reached it.
type upstream struct {
	calls  int
	header http.Header
	query  string
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	u.calls++
	u.header = r.Header.Clone()
	u.query = r.URL.RawQuery
	w.Header().Set(sessionHeader, "upstream-session")
	w.WriteHeader(http.StatusOK)
	return nil
}

const sessionHeader = "Mcp-Session-Id"

type request struct {
	method, target, body string
	header               map[string]string
}

func (f *fixture) serve(rt *resourceserver.Route, next resourceserver.Next, q request) *httptest.ResponseRecorder {
	var body *strings.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	method := q.method
	if method == "" {
		method = http.MethodGet
	}
	var r *http.Request
	if body != nil {
		r = httptest.NewRequest(method, q.target, body)
	} else {
		r = httptest.NewRequest(method, q.target, nil)
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	r = r.WithContext(context.WithValue(r.Context(), passKey{}, &passBox{}))
	w := httptest.NewRecorder()
	if err := rt.ServeHTTP(w, r, next); err != nil {
		w.Code = 599
	}
	return w
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%d %q: %v", w.Code, w.Body, err)
	}
	if e, ok := m["error"].(string); ok {
		return e
	}
	if e, ok := m["error"].(map[string]any); ok { // JSON-RPC
		return "jsonrpc:" + fmt.Sprint(e["code"])
	}
	return ""
}

// TestRoute runs requests through plain, MCP and Blnk routes, each against
// real clients and tokens, and checks the answer, the challenge and what
// reached the next handler.
func TestRoute(t *testing.T) {
	f := newFixture(t)
	plain := f.route(t, resourceserver.Config{Required: scope.MustParse("ledgers:read"), Resources: []string{"https://api.example.com/ledgers"}})
	mcp := f.route(t, resourceserver.Config{Resources: []string{resource}, MCP: &resourceserver.MCP{
		Policy: mcpscope.DefaultPolicy().WithTool("transfer_funds", scope.MustParse("ledgers:write")),
	}})
	blnk := f.route(t, resourceserver.Config{MountPath: "/blnk", Blnk: &resourceserver.Blnk{UpstreamKey: "gateway-key"}})

	reader, _ := f.client(t, store.TypeOAuth, "ledgers:read", "mcp:read")
	writer, _ := f.client(t, store.TypeOAuth, "*")
	_, key := f.client(t, store.TypeAPIKey, "ledgers:read")
	readTok := f.token(t, reader, "ledgers:read mcp:read", issuer)
	writeTok := f.token(t, writer, "*", resource)
	otherAud := f.token(t, writer, "*", "https://elsewhere.example.com/mcp")
	anyTok := f.token(t, writer, "*", issuer)
	revoked, _ := f.client(t, store.TypeOAuth, "*")
	revokedTok := f.token(t, revoked, "*", issuer)
	if _, err := f.clients.Revoke(context.Background(), admin.CLI, revoked); err != nil {
		t.Fatal(err)
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	jsonBody := func(tok string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	}

	for _, tc := range []struct {
		name      string
		route     *resourceserver.Route
		req       request
		status    int
		code      string // error code, "jsonrpc:<n>" for a JSON-RPC error
		challenge string // a substring of WWW-Authenticate
		reached   bool
	}{
		{"no credential", plain, request{target: "/ledgers"}, 401, "", `resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/ledgers"`, false},
		{"token with the scope", plain, request{target: "/ledgers", header: bearer(readTok)}, 200, "", "", true},
		{"API key with the scope", plain, request{target: "/ledgers", header: map[string]string{"X-Blnk-Key": key}}, 200, "", "", true},
		{"two credentials", plain, request{target: "/ledgers", header: map[string]string{"X-Blnk-Key": key, "Authorization": "Bearer " + readTok}}, 400, "invalid_request", "", false},
		{"scope short", mcp, request{method: "POST", target: "/mcp", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`, header: jsonBody(readTok)}, 403, "insufficient_scope", `scope="mcp:write"`, false},
		{"tool needs more", mcp, request{method: "POST", target: "/mcp", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer_funds"}}`, header: jsonBody(readTok)}, 403, "insufficient_scope", `scope="ledgers:write mcp:write"`, false},
		{"token for another resource", mcp, request{method: "POST", target: "/mcp", body: `{"jsonrpc":"2.0","id":1,"method":"ping"}`, header: jsonBody(otherAud)}, 401, "invalid_token", `error="invalid_token"`, false},
		{"token for this resource", mcp, request{method: "POST", target: "/mcp", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer_funds"}}`, header: jsonBody(writeTok)}, 200, "", "", true},
		{"revoked client", plain, request{target: "/ledgers", header: bearer(revokedTok)}, 401, "invalid_token", "", false},
		{"malformed JSON-RPC", mcp, request{method: "POST", target: "/mcp", body: `{"jsonrpc":"2.0",`, header: jsonBody(writeTok)}, 400, "jsonrpc:-32700", "", false},
		{"not JSON on an MCP route", mcp, request{method: "POST", target: "/mcp", body: `{}`, header: map[string]string{"Authorization": "Bearer " + writeTok, "Content-Type": "text/plain"}}, 415, "jsonrpc:-32600", "", false},
		{"foreign MCP session", mcp, request{method: "POST", target: "/mcp", body: `{"jsonrpc":"2.0","id":1,"method":"ping"}`, header: map[string]string{"Authorization": "Bearer " + writeTok, "Content-Type": "application/json", sessionHeader: "made-up"}}, 404, "jsonrpc:-32001", "", false},
		{"Blnk path not canonical", blnk, request{target: "/ledgers/../balances", header: bearer(anyTok)}, 400, "invalid_request", "", false},
		{"Blnk API keys off", blnk, request{target: "/api-keys", header: bearer(anyTok)}, 403, "insufficient_scope", "", false},
		{"Blnk operation scope short", blnk, request{method: "POST", target: "/ledgers", header: bearer(readTok)}, 403, "insufficient_scope", `scope="ledgers:write"`, false},
		{"Blnk read", blnk, request{target: "/ledgers", header: bearer(readTok)}, 200, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &upstream{}
			w := f.serve(tc.route, up, tc.req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if (up.calls == 1) != tc.reached {
				t.Fatalf("upstream calls %d, want reached=%v", up.calls, tc.reached)
			}
			if tc.code != "" {
				if got := errorCode(t, w); got != tc.code {
					t.Errorf("error %q, want %q: %s", got, tc.code, w.Body)
				}
			}
			if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, tc.challenge) {
				t.Errorf("WWW-Authenticate %q lacks %q", got, tc.challenge)
			}
			if tc.status == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer realm="blnk"`) {
				t.Errorf("401 without a Bearer challenge: %q", w.Header().Get("WWW-Authenticate"))
			}
			if up.calls == 1 {
				if up.header.Get("Authorization") != "" {
					t.Error("the caller's token reached the upstream")
				}
				if tc.route == blnk && up.header.Get("X-Blnk-Key") != "gateway-key" {
					t.Errorf("upstream X-Blnk-Key %q, want the gateway's", up.header.Get("X-Blnk-Key"))
				} else if tc.route != blnk && up.header.Get("X-Blnk-Key") != "" {
					t.Error("the caller's API key reached the upstream")
				}
			}
			if tc.route == mcp && tc.reached {
				got := w.Header().Get(sessionHeader)
				if got == "" || got == "upstream-session" {
					t.Errorf("upstream session ID went out unbound: %q", got)
				}
			}
		})
	}
}

// TestRouteSessionBinding: a session ID wrapped for one client works for it
// and is refused for another, which never reaches the upstream with it.
func TestRouteSessionBinding(t *testing.T) {
	f := newFixture(t)
	mcp := f.route(t, resourceserver.Config{Resources: []string{resource}, MCP: &resourceserver.MCP{}})
	a, _ := f.client(t, store.TypeOAuth, "mcp:read")
	b, _ := f.client(t, store.TypeOAuth, "mcp:read")
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	hdr := func(id, session string) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + f.token(t, id, "mcp:read", issuer), "Content-Type": "application/json"}
		if session != "" {
			h[sessionHeader] = session
		}
		return h
	}
	up := &upstream{}
	w := f.serve(mcp, up, request{method: "POST", target: "/mcp", body: ping, header: hdr(a, "")})
	session := w.Header().Get(sessionHeader)
	if w.Code != 200 || session == "" {
		t.Fatalf("%d, session %q", w.Code, session)
	}
	if w := f.serve(mcp, up, request{method: "POST", target: "/mcp", body: ping, header: hdr(a, session)}); w.Code != 200 || up.header.Get(sessionHeader) != "upstream-session" {
		t.Fatalf("own session: %d, upstream saw %q", w.Code, up.header.Get(sessionHeader))
	}
	if w := f.serve(mcp, up, request{method: "POST", target: "/mcp", body: ping, header: hdr(b, session)}); w.Code != 404 || up.calls != 2 {
		t.Fatalf("another client's session: %d, upstream calls %d", w.Code, up.calls)
	}
}

// TestRouteSessionBoundToPerson: with the authorization-code flow many
// people use one client (a company's registered MCP host, or every user of a
// host known by its metadata document): a session opened with one person's
// token is refused, as unknown, with another person's token of the same
// client, and the upstream never sees it (MCP security best practices: bind
// the session to the user, not only to the client). The client's own
// (client credentials) tokens are a third owner.
func TestRouteSessionBoundToPerson(t *testing.T) {
	f := newFixture(t)
	mcp := f.route(t, resourceserver.Config{Resources: []string{resource}, MCP: &resourceserver.MCP{}})
	app, _ := f.client(t, store.TypeOAuth, "mcp:read")
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	person := func(sub string) string {
		tok, err := f.signer.IssueFor(sub, app, scope.MustParse("mcp:read"), issuer, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok.Token
	}
	hdr := func(tok, session string) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
		if session != "" {
			h[sessionHeader] = session
		}
		return h
	}
	alice, bob := person("oidc:https://idp.example#alice"), person("oidc:https://idp.example#bob")
	up := &upstream{}
	w := f.serve(mcp, up, request{method: "POST", target: "/mcp", body: ping, header: hdr(alice, "")})
	session := w.Header().Get(sessionHeader)
	if w.Code != 200 || session == "" {
		t.Fatalf("%d, session %q", w.Code, session)
	}
	if w := f.serve(mcp, up, request{method: "POST", target: "/mcp", body: ping, header: hdr(person("oidc:https://idp.example#alice"), session)}); w.Code != 200 || up.header.Get(sessionHeader) != "upstream-session" {
		t.Fatalf("the same person's session with a new token: %d, upstream saw %q", w.Code, up.header.Get(sessionHeader))
	}
	for name, tok := range map[string]string{"another person": bob, "the client itself": f.token(t, app, "mcp:read", issuer)} {
		calls := up.calls
		if w := f.serve(mcp, up, request{method: "POST", target: "/mcp", body: ping, header: hdr(tok, session)}); w.Code != 404 || up.calls != calls {
			t.Errorf("%s with a person's session: %d, upstream calls %d → %d", name, w.Code, calls, up.calls)
		}
	}
}

// TestRouteEarlierPass: a second route on the same request judges only its
// own scopes against the Pass the first admitted it with.
func TestRouteEarlierPass(t *testing.T) {
	f := newFixture(t)
	first := f.route(t, resourceserver.Config{Required: scope.MustParse("ledgers:read")})
	second := f.route(t, resourceserver.Config{Required: scope.MustParse("ledgers:write")})
	id, _ := f.client(t, store.TypeOAuth, "ledgers:read")
	chain := nextFunc(func(w http.ResponseWriter, r *http.Request) error {
		return second.ServeHTTP(w, r, &upstream{})
	})
	w := f.serve(first, chain, request{target: "/x", header: map[string]string{"Authorization": "Bearer " + f.token(t, id, "ledgers:read", issuer)}})
	if w.Code != 403 || errorCode(t, w) != "insufficient_scope" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

type nextFunc func(http.ResponseWriter, *http.Request) error

func (n nextFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return n(w, r) }

// TestRouteRevokedWhileRunning: revoking the client ends the request's
// context, which is what stops a proxied exchange or stream.
func TestRouteRevokedWhileRunning(t *testing.T) {
	f := newFixture(t)
	rt := f.route(t, resourceserver.Config{})
	id, _ := f.client(t, store.TypeOAuth, "mcp:read")
	tok := f.token(t, id, "mcp:read", issuer)
	cut := make(chan error, 1)
	next := nextFunc(func(w http.ResponseWriter, r *http.Request) error {
		if _, err := f.clients.Revoke(context.Background(), admin.CLI, id); err != nil {
			return err
		}
		select {
		case <-r.Context().Done():
			cut <- nil
		case <-time.After(10 * time.Second):
			cut <- context.DeadlineExceeded
		}
		return nil
	})
	f.serve(rt, next, request{target: "/x", header: map[string]string{"Authorization": "Bearer " + tok}})
	if err := <-cut; err != nil {
		t.Fatal("the request's context outlived its client's revocation")
	}
}

// TestMetadata: each route serves its Protected Resource Metadata (RFC 9728),
// and the registry knows the resources and scopes of every route.
func TestMetadata(t *testing.T) {
	f := newFixture(t)
	mcp := f.route(t, resourceserver.Config{Resources: []string{resource, "https://mcp.example.com/mcp"}, MCP: &resourceserver.MCP{}})
	none := f.route(t, resourceserver.Config{MountPath: "/plain"})
	for _, tc := range []struct {
		route        *resourceserver.Route
		method, path string
		host         string
		status       int
		resource     string
	}{
		{mcp, "GET", "/.well-known/oauth-protected-resource/mcp", "api.example.com", 200, resource},
		{mcp, "GET", "/.well-known/oauth-protected-resource/mcp", "mcp.example.com", 200, "https://mcp.example.com/mcp"},
		{mcp, "GET", "/.well-known/oauth-protected-resource/mcp", "evil.example.com", 200, resource},
		{mcp, "POST", "/.well-known/oauth-protected-resource/mcp", "api.example.com", 405, ""},
		{mcp, "GET", "/.well-known/oauth-protected-resource", "api.example.com", 200, resource}, // the only described route
		{none, "GET", "/.well-known/oauth-protected-resource/plain", "api.example.com", 404, ""},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		r.Host = tc.host
		w := httptest.NewRecorder()
		if err := tc.route.ServeHTTP(w, r, &upstream{}); err != nil {
			t.Fatal(err)
		}
		if w.Code != tc.status {
			t.Fatalf("%s %s (%s): %d, want %d: %s", tc.method, tc.path, tc.host, w.Code, tc.status, w.Body)
		}
		if tc.status != 200 {
			continue
		}
		var m struct {
			Resource string   `json:"resource"`
			Servers  []string `json:"authorization_servers"`
			Scopes   []string `json:"scopes_supported"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if m.Resource != tc.resource || len(m.Servers) != 1 || m.Servers[0] != issuer || strings.Join(m.Scopes, " ") != "mcp:read mcp:write" {
			t.Errorf("%s (%s): %+v", tc.path, tc.host, m)
		}
	}
	for r, want := range map[string]bool{resource: true, resource + "/": true, "https://mcp.example.com/mcp": true, issuer: true, "https://api.example.com/other": false, "https://api.example.com/mcp/x": false} {
		if f.routes.Known(r) != want {
			t.Errorf("Known(%q) = %v", r, !want)
		}
	}
	if got := strings.Join(f.routes.Scopes(), " "); got != "* mcp:read mcp:write" {
		t.Errorf("Scopes() = %q", got)
	}
}
