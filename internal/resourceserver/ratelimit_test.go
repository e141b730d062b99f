package resourceserver_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/ratelimit"
	"github.com/blnkfinance/blnk-auth-gateway/internal/resourceserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestRouteRateLimit: a client's own limit is taken once per request, however
// many routes it meets; each route's limit is taken on that route; a refusal
// is a 429 with the policy that refused it and never reaches the next
// handler; on an MCP route it is a JSON-RPC error.
func TestRouteRateLimit(t *testing.T) {
	f := newFixture(t)
	f.shared.ClientLimits = ratelimit.New(0)
	limited := 0
	f.shared.RateLimited = func() { limited++ }
	first := f.route(t, resourceserver.Config{})
	second := f.route(t, resourceserver.Config{RateLimit: &ratelimit.Limit{Requests: 1, Per: time.Minute, Burst: 1}})
	c, err := f.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "limited", Scopes: []string{"*"}, RateLimit: &store.RateLimit{Requests: 2, Per: time.Minute, Burst: 2}})
	if err != nil {
		t.Fatal(err)
	}
	auth := map[string]string{"Authorization": "Bearer " + f.token(t, c.Client.ID, "*", issuer)}
	up := &upstream{}
	chain := nextFunc(func(w http.ResponseWriter, r *http.Request) error { return second.ServeHTTP(w, r, up) })

	if w := f.serve(first, chain, request{target: "/x", header: auth}); w.Code != 200 {
		t.Fatalf("first request: %d %s", w.Code, w.Body)
	}
	// The client's bucket has one left (taken once, not once per route); the
	// second route's is empty.
	w := f.serve(first, chain, request{target: "/x", header: auth})
	if w.Code != 429 || w.Header().Get("RateLimit-Policy") != `"route";q=1;w=60` || errorCode(t, w) != "too_many_requests" {
		t.Fatalf("second request: %d %v %s, want 429 by the route's policy", w.Code, w.Header(), w.Body)
	}
	w = f.serve(first, chain, request{target: "/x", header: auth})
	if w.Code != 429 || w.Header().Get("RateLimit-Policy") != `"client";q=2;w=60` || w.Header().Get("Retry-After") == "" {
		t.Fatalf("third request: %d %v %s, want 429 by the client's policy", w.Code, w.Header(), w.Body)
	}
	if up.calls != 1 || limited != 2 {
		t.Fatalf("upstream reached %d times, %d counted as rate limited; want 1 and 2", up.calls, limited)
	}

	mcp := f.route(t, resourceserver.Config{MCP: &resourceserver.MCP{}, RateLimit: &ratelimit.Limit{Requests: 1, Per: time.Hour, Burst: 1}})
	other, _ := f.client(t, store.TypeOAuth, "mcp:read")
	auth = map[string]string{"Authorization": "Bearer " + f.token(t, other, "mcp:read", issuer)}
	if w := f.serve(mcp, &upstream{}, request{target: "/mcp", header: auth}); w.Code != 200 {
		t.Fatalf("MCP GET within the limit: %d %s", w.Code, w.Body)
	}
	w = f.serve(mcp, &upstream{}, request{target: "/mcp", header: auth})
	if w.Code != 429 || errorCode(t, w) != "jsonrpc:-32000" || w.Header().Get("RateLimit") == "" {
		t.Fatalf("MCP GET over the limit: %d %v %s, want 429 with a JSON-RPC error", w.Code, w.Header(), w.Body)
	}
}

// TestRouteRateLimitPerPerson: a route's limit applies per client and, for
// tokens the client holds for people (authorization-code flow), per person:
// one person using a shared MCP host (a company's registered client, or a
// host known by its metadata document that everyone uses) cannot spend
// everyone else's requests. The client's own limit, the operator's cap on
// the whole application, stays one bucket for all its people.
func TestRouteRateLimitPerPerson(t *testing.T) {
	f := newFixture(t)
	f.shared.ClientLimits = ratelimit.New(0)
	route := f.route(t, resourceserver.Config{RateLimit: &ratelimit.Limit{Requests: 1, Per: time.Minute, Burst: 1}})
	c, err := f.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "shared host", Scopes: []string{"*"}, RateLimit: &store.RateLimit{Requests: 2, Per: time.Minute, Burst: 2}})
	if err != nil {
		t.Fatal(err)
	}
	person := func(sub string) map[string]string {
		tok, err := f.signer.IssueFor(sub, c.Client.ID, scope.MustParse("*"), issuer, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"Authorization": "Bearer " + tok.Token}
	}
	alice, bob, carol := person("oidc:https://idp.example#alice"), person("oidc:https://idp.example#bob"), person("oidc:https://idp.example#carol")
	up := &upstream{}
	if w := f.serve(route, up, request{target: "/x", header: alice}); w.Code != 200 {
		t.Fatalf("alice's first request: %d", w.Code)
	}
	if w := f.serve(route, up, request{target: "/x", header: alice}); w.Code != 429 || w.Header().Get("RateLimit-Policy") != `"route";q=1;w=60` {
		t.Fatalf("alice's second request: %d %v, want 429 by the route's policy", w.Code, w.Header())
	}
	if w := f.serve(route, up, request{target: "/x", header: bob}); w.Code != 200 {
		t.Errorf("bob's first request: %d %v, want 200: alice spent bob's bucket", w.Code, w.Header())
	}
	// The client's own bucket (2) is shared: alice and bob took it.
	if w := f.serve(route, up, request{target: "/x", header: carol}); w.Code != 429 || w.Header().Get("RateLimit-Policy") != `"client";q=2;w=60` {
		t.Errorf("carol's first request: %d %v, want 429 by the client's own policy", w.Code, w.Header())
	}
}
