package resourceserver_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/ratelimit"
	"github.com/blnkfinance/blnk-auth-gateway/internal/resourceserver"
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
