package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

const rateLimitRoutes = `
	blnk_auth /mcp* {
		mcp
	}
	blnk_auth /limited* {
		rate_limit 3/m burst 3
	}
	blnk_auth /ledgers* ledgers:read
	reverse_proxy {upstream}`

func rateLimitOptions(kind string, metricsPort int) gatewayOptions {
	return gatewayOptions{
		store:       kind,
		apiRoutes:   rateLimitRoutes,
		appExtra:    "throttle {\n\taddress_failures 5\n}",
		globalExtra: "servers {\n\ttrusted_proxies static 127.0.0.1/32\n\tclient_ip_headers X-Forwarded-For\n}",
		extraConfig: fmt.Sprintf("http://:%d {\n\tbind 127.0.0.1\n\tmetrics\n}", metricsPort),
	}
}

// createLimited makes a client with its own rate limit, as the CLI would.
func (g *testGateway) createLimited(name string, typ store.Type, scopes []string, limit *store.RateLimit) *admin.Created {
	g.t.Helper()
	c, err := g.svc.Create(context.Background(), admin.CLI, admin.CreateParams{Name: name, Type: typ, Scopes: scopes, RateLimit: limit})
	if err != nil {
		g.t.Fatal(err)
	}
	return c
}

// mustRateLimited checks a 429 over a rate limit: Retry-After, the IETF
// RateLimit fields naming the policy, and the route's kind of body.
func mustRateLimited(t *testing.T, r tokenResponse, policy string, requests, window int, jsonRPC bool, what string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("%s: %d %s, want 429", what, r.status, r.raw)
	}
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > window {
		t.Errorf("%s: Retry-After %q", what, r.header.Get("Retry-After"))
	}
	if got, want := r.header.Get("RateLimit-Policy"), fmt.Sprintf(`"%s";q=%d;w=%d`, policy, requests, window); got != want {
		t.Errorf("%s: RateLimit-Policy %q, want %q", what, got, want)
	}
	if got, want := r.header.Get("RateLimit"), fmt.Sprintf(`"%s";r=0;t=%d`, policy, retry); got != want {
		t.Errorf("%s: RateLimit %q, want %q", what, got, want)
	}
	if jsonRPC {
		if !strings.Contains(r.raw, `"jsonrpc":"2.0"`) || !strings.Contains(r.raw, `"code":-32000`) {
			t.Errorf("%s: body %s, want a JSON-RPC error", what, r.raw)
		}
	} else if r.body["error"] != "too_many_requests" {
		t.Errorf("%s: body %s, want error too_many_requests", what, r.raw)
	}
}

// TestRateLimitPerClient: a client's own rate limit, set through the admin
// service as the CLI and the admin API do, is enforced by blnk_auth with 429,
// Retry-After and the RateLimit fields (a JSON-RPC error on an MCP route),
// touches no other client, and a change to it takes effect at once.
func TestRateLimitPerClient(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		mport := freePort(t)
		g := startGateway(t, rateLimitOptions(kind, mport))
		limited := g.createLimited("limited", store.TypeOAuth, []string{"mcp:read", "ledgers:read"}, &store.RateLimit{Requests: 2, Per: time.Minute, Burst: 2})
		other := g.create("other", store.TypeOAuth, []string{"mcp:read", "ledgers:read"}, nil)
		tok, otherTok := g.token(limited.Client.ID, limited.Secret, nil), g.token(other.Client.ID, other.Secret, nil)

		for i := range 2 {
			if r := g.call("/ledgers", bearer(tok)...); r.status != 200 {
				t.Fatalf("request %d within the limit: %d %s", i+1, r.status, r.raw)
			}
		}
		hits := g.upstream.hitCount()
		mustRateLimited(t, g.call("/ledgers", bearer(tok)...), "client", 2, 60, false, "third request under 2/m")
		mustRateLimited(t, g.call("/mcp", bearer(tok)...), "client", 2, 60, true, "on an MCP route")
		if g.upstream.hitCount() != hits {
			t.Error("a rate-limited request reached the upstream")
		}
		for range 5 {
			if r := g.call("/ledgers", bearer(otherTok)...); r.status != 200 {
				t.Fatalf("a client without a limit: %d %s", r.status, r.raw)
			}
		}

		// Raised: at once, on this instance through the change feed (the
		// service writes straight to the store, as the CLI does).
		id := limited.Client.ID
		raise := &store.RateLimit{Requests: 1000, Per: time.Second, Burst: 1000}
		if _, err := g.svc.Update(context.Background(), admin.CLI, id, admin.UpdateParams{RateLimit: &raise}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, "the raised limit applies", func() bool { return g.call("/ledgers", bearer(tok)...).status == 200 })
		// Lowered to 1/h: the bucket has tokens left from the raise, then none.
		lower := &store.RateLimit{Requests: 1, Per: time.Hour, Burst: 1}
		if _, err := g.svc.Update(context.Background(), admin.CLI, id, admin.UpdateParams{RateLimit: &lower}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, "the lowered limit applies", func() bool { return g.call("/ledgers", bearer(tok)...).status == 429 })
		mustRateLimited(t, g.call("/ledgers", bearer(tok)...), "client", 1, 3600, false, "under 1/h")
		// Removed: no limit at all.
		none := (*store.RateLimit)(nil)
		if _, err := g.svc.Update(context.Background(), admin.CLI, id, admin.UpdateParams{RateLimit: &none}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, "the removed limit stops applying", func() bool { return g.call("/ledgers", bearer(tok)...).status == 200 })
		for range 10 {
			if r := g.call("/ledgers", bearer(tok)...); r.status != 200 {
				t.Fatalf("without a limit: %d %s", r.status, r.raw)
			}
		}
		body := scrape(t, mport)
		for _, want := range []string{
			`caddy_blnk_auth_rate_limited_requests_total{endpoint="blnk_auth"}`,
			`caddy_blnk_auth_requests_total{outcome="rate_limited",route_kind="plain"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
		if n := metricValue(body, `caddy_blnk_auth_rate_limited_requests_total{endpoint="blnk_auth"}`); n < 4 {
			t.Errorf("rate_limited_requests_total is %d, want at least the 4 refusals above", n)
		}
	})
}

// TestRateLimitRoute: a route's rate_limit applies to every client, each in
// its own bucket, on that route only; with a client's own limit too, the
// stricter one refuses first.
func TestRateLimitRoute(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, rateLimitOptions(kind, freePort(t)))
		a := g.create("a", store.TypeAPIKey, []string{"*"}, nil)
		b := g.create("b", store.TypeAPIKey, []string{"*"}, nil)
		strict := g.createLimited("strict", store.TypeAPIKey, []string{"*"}, &store.RateLimit{Requests: 2, Per: time.Hour, Burst: 2})
		loose := g.createLimited("loose", store.TypeAPIKey, []string{"*"}, &store.RateLimit{Requests: 100, Per: time.Second, Burst: 100})
		key := func(c *admin.Created) []string { return []string{"X-Blnk-Key", c.Secret} }

		for i := range 3 {
			mustStatus(t, g.call("/limited", key(a)...), 200, fmt.Sprintf("a, request %d", i+1))
		}
		mustRateLimited(t, g.call("/limited", key(a)...), "route", 3, 60, false, "a over the route's 3/m")
		mustStatus(t, g.call("/ledgers", key(a)...), 200, "a on a route without a limit")
		mustStatus(t, g.call("/limited", key(b)...), 200, "b: its own bucket on the route")

		// The client's 2/h is stricter than the route's 3/m.
		for range 2 {
			mustStatus(t, g.call("/limited", key(strict)...), 200, "strict within its own limit")
		}
		mustRateLimited(t, g.call("/limited", key(strict)...), "client", 2, 3600, false, "strict over its own 2/h")
		// The route's 3/m is stricter than the client's 100/s.
		for range 3 {
			mustStatus(t, g.call("/limited", key(loose)...), 200, "loose within the route's limit")
		}
		mustRateLimited(t, g.call("/limited", key(loose)...), "route", 3, 60, false, "loose over the route's 3/m")
	})
}

// TestThrottleAPIKeys: wrong API keys at blnk_auth count against the address;
// past the budget it gets 429 unjudged (no challenge: nothing was judged),
// while the key's owner keeps working from its own address; a flood of random
// API keys costs at most the budget in store reads.
func TestThrottleAPIKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		mport := freePort(t)
		g := startGateway(t, rateLimitOptions(kind, mport))
		c := g.create("key", store.TypeAPIKey, []string{"*"}, nil)
		wrong := c.Secret[:len(c.Secret)-8] + "AAAAAAAA" // may break the checksum: counted all the same
		for i := range 5 {
			r := g.call("/ledgers", "X-Blnk-Key", wrong, "X-Forwarded-For", "198.51.100.3")
			mustStatus(t, r, 401, fmt.Sprintf("wrong key %d", i+1))
		}
		r := g.call("/ledgers", "X-Blnk-Key", c.Secret, "X-Forwarded-For", "198.51.100.3")
		mustThrottled(t, r, "the right key from the throttled address")
		if r.header.Get("WWW-Authenticate") != "" {
			t.Errorf("a throttled request carries a challenge: %q", r.header.Get("WWW-Authenticate"))
		}
		mustStatus(t, g.call("/ledgers", "X-Blnk-Key", c.Secret, "X-Forwarded-For", "203.0.113.5"), 200, "the right key from a clean address")
		if body := scrape(t, mport); !strings.Contains(body, `caddy_blnk_auth_throttled_requests_total{endpoint="blnk_auth"} 1`) {
			t.Error("metrics lack 1 throttled blnk_auth request")
		} else if !strings.Contains(body, `caddy_blnk_auth_requests_total{outcome="throttled",route_kind="plain"} 1`) ||
			strings.Contains(body, `caddy_blnk_auth_requests_total{outcome="temporarily_unavailable",route_kind="plain"} 1`) {
			t.Error("the throttled decision is not counted as throttled, apart from store outages")
		}

		// A flood of random well-formed API keys from one address: at most
		// the address budget (5) in store reads, not one each.
		before := cacheMisses(t, mport)
		for range 100 {
			key, err := credential.NewAPIKey(credential.NewClientID())
			if err != nil {
				t.Fatal(err)
			}
			if r := g.call("/ledgers", "X-Blnk-Key", key, "X-Forwarded-For", "198.51.100.4"); r.status != 401 && r.status != 429 {
				t.Fatalf("random API key: %d %s", r.status, r.raw)
			}
		}
		if reads := cacheMisses(t, mport) - before; reads < 1 || reads > 5 {
			t.Errorf("100 random API keys from one address cost %d store reads, want between 1 and the address budget, 5", reads)
		}
	})
}

// metricValue is the value of the sample named exactly line in a scrape; -1 when absent.
func metricValue(body, line string) int {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, line+" "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}
