package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// throttleOptions: small budgets, and X-Forwarded-For honoured from the
// test's own address (trusted_proxies), so that one test can speak from many
// addresses as Caddy determines them.
func throttleOptions(kind string, metricsPort int) gatewayOptions {
	return gatewayOptions{
		store:       kind,
		appExtra:    "throttle {\n\taddress_failures 5\n\tclient_failures 8\n\twindow 1m\n}",
		globalExtra: "servers {\n\ttrusted_proxies static 127.0.0.1/32\n\ttrusted_proxies_strict\n\tclient_ip_headers X-Forwarded-For\n}",
		apiRoutes:   adminRoutesConfig,
		extraConfig: fmt.Sprintf("http://:%d {\n\tbind 127.0.0.1\n\tmetrics\n}", metricsPort),
	}
}

// postFrom posts a client-authenticated form to an OAuth endpoint as if from addr.
func (g *testGateway) postFrom(addr, path string, form url.Values, id, secret string) tokenResponse {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.authURL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	if addr != "" {
		req.Header.Set("X-Forwarded-For", addr)
	}
	return g.do(req)
}

var grant = url.Values{"grant_type": {"client_credentials"}}

// mustThrottled checks a 429 of the failure throttle: Retry-After in whole
// seconds and the RFC 6749 §5.2 body.
func mustThrottled(t *testing.T, r tokenResponse, what string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("%s: %d %s, want 429", what, r.status, r.raw)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("%s: Retry-After %q, want whole seconds within the window", what, r.header.Get("Retry-After"))
	}
	if r.body["error"] != "temporarily_unavailable" || r.body["error_description"] == nil || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("%s: body %s, want an RFC 6749 §5.2 error", what, r.raw)
	}
}

// TestThrottleFailedAuthentication: RFC 6749 §2.3.1 brute-force protection
// at the token, revocation and introspection endpoints, through real Caddy.
func TestThrottleFailedAuthentication(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		mport := freePort(t)
		g := startGateway(t, throttleOptions(kind, mport))
		victim := g.create("victim", store.TypeOAuth, []string{"mcp:read", "oauth:introspect"}, nil)
		bystander := g.create("bystander", store.TypeOAuth, []string{"mcp:read"}, nil)

		// One address: five wrong secrets get 401, then it is refused unjudged,
		// even with the right secret, and for any client, at every endpoint.
		const attacker = "198.51.100.66"
		for i := range 5 {
			if r := g.postFrom(attacker, "/oauth/token", grant, victim.Client.ID, victim.Secret+"x"); r.status != 401 {
				t.Fatalf("wrong secret %d: %d %s, want 401", i+1, r.status, r.raw)
			}
		}
		mustThrottled(t, g.postFrom(attacker, "/oauth/token", grant, victim.Client.ID, victim.Secret), "right secret from the throttled address")
		mustThrottled(t, g.postFrom(attacker, "/oauth/token", grant, bystander.Client.ID, bystander.Secret), "another client from the throttled address")
		mustThrottled(t, g.postFrom(attacker, "/oauth/revoke", url.Values{"token": {"x"}}, victim.Client.ID, victim.Secret), "revocation from the throttled address")
		mustThrottled(t, g.postFrom(attacker, "/oauth/introspect", url.Values{"token": {"x"}}, victim.Client.ID, victim.Secret), "introspection from the throttled address")
		// The victim itself, from its own address, is untouched.
		if r := g.postFrom("203.0.113.10", "/oauth/token", grant, victim.Client.ID, victim.Secret); r.status != 200 {
			t.Fatalf("the victim from a clean address: %d %s", r.status, r.raw)
		}

		// Many addresses, one wrong secret each, against one client ID: past
		// its budget (8, counting the five above) the ID is refused from
		// addresses that failed, never from clean ones.
		for i := range 3 {
			addr := fmt.Sprintf("192.0.2.%d", i+1)
			if r := g.postFrom(addr, "/oauth/revoke", url.Values{"token": {"x"}}, victim.Client.ID, "wrong"+victim.Secret[5:]); r.status != 401 {
				t.Fatalf("flood %d: %d %s, want 401", i, r.status, r.raw)
			}
		}
		mustThrottled(t, g.postFrom("192.0.2.1", "/oauth/token", grant, victim.Client.ID, victim.Secret), "the flooded ID from a failing address")
		if r := g.postFrom("192.0.2.1", "/oauth/token", grant, bystander.Client.ID, bystander.Secret); r.status != 200 {
			t.Fatalf("another ID from a failing address under its own budget: %d %s", r.status, r.raw)
		}
		for i := range 20 {
			if r := g.postFrom("203.0.113.10", "/oauth/token", grant, victim.Client.ID, victim.Secret); r.status != 200 {
				t.Fatalf("the victim from its clean address during the flood, request %d: %d %s", i, r.status, r.raw)
			}
		}

		// Metrics: throttled requests by endpoint.
		body := scrape(t, mport)
		for _, want := range []string{
			`caddy_blnk_auth_throttled_requests_total{endpoint="token"} 3`,
			`caddy_blnk_auth_throttled_requests_total{endpoint="revoke"} 1`,
			`caddy_blnk_auth_throttled_requests_total{endpoint="introspect"} 1`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}

// TestThrottleIgnoresUntrustedForwardedFor: without trusted_proxies, an
// attacker cannot escape its budget by making up X-Forwarded-For.
func TestThrottleIgnoresUntrustedForwardedFor(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, appExtra: "throttle {\n\taddress_failures 3\n}"})
		c := g.create("victim", store.TypeOAuth, []string{"mcp:read"}, nil)
		for i := range 3 {
			if r := g.postFrom(fmt.Sprintf("10.1.1.%d", i), "/oauth/token", grant, c.Client.ID, c.Secret+"x"); r.status != 401 {
				t.Fatalf("wrong secret %d: %d %s", i, r.status, r.raw)
			}
		}
		mustThrottled(t, g.postFrom("10.1.1.99", "/oauth/token", grant, c.Client.ID, c.Secret), "a made-up X-Forwarded-For")
	})
}

// TestThrottleBoundsStoreReads: a flood of random, well-formed client
// credentials costs at most the address budget in store reads per address,
// not one read each; the same unknown ID again is answered by the negative
// cache.
func TestThrottleBoundsStoreReads(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		mport := freePort(t)
		g := startGateway(t, throttleOptions(kind, mport))
		before := cacheMisses(t, mport)
		const flood = 200
		throttled := 0
		for range flood {
			r := g.postFrom("198.51.100.7", "/oauth/token", grant, credential.NewClientID(), credential.NewSecret())
			switch r.status {
			case 401:
			case 429:
				throttled++
			default:
				t.Fatalf("random credential: %d %s", r.status, r.raw)
			}
		}
		reads := cacheMisses(t, mport) - before
		t.Logf("%d random credentials from one address: %d store reads, %d throttled", flood, reads, throttled)
		if reads < 1 || reads > 5 {
			t.Errorf("%d random credentials from one address cost %d store reads, want between 1 and the address budget, 5", flood, reads)
		}
		if throttled != flood-5 {
			t.Errorf("%d of %d refused unjudged, want %d", throttled, flood, flood-5)
		}

		// From many addresses: at most the budget per address.
		before = cacheMisses(t, mport)
		for i := range flood {
			g.postFrom(fmt.Sprintf("192.0.2.%d", i%10), "/oauth/token", grant, credential.NewClientID(), credential.NewSecret())
		}
		if reads := cacheMisses(t, mport) - before; reads > 10*5 {
			t.Errorf("%d random credentials from 10 addresses cost %d store reads, want at most 50", flood, reads)
		}

		// One unknown ID from clean addresses (none used above, so never
		// refused unjudged): the negative cache answers. ristretto applies a
		// fill's write asynchronously, so a request right after the first
		// may still read the store (CI saw 4 reads for 20 requests on a
		// loaded machine): first send the ID until a request costs no read
		// (within 50), then twenty more must cost none.
		unknown := credential.NewClientID()
		settled := false
		for i := range 50 {
			before = cacheMisses(t, mport)
			g.postFrom(fmt.Sprintf("198.18.0.%d", i), "/oauth/token", grant, unknown, credential.NewSecret())
			if cacheMisses(t, mport) == before {
				settled = true
				break
			}
		}
		if !settled {
			t.Fatal("50 requests with one unknown client ID each read the store: no negative cache")
		}
		before = cacheMisses(t, mport)
		for i := range 20 {
			g.postFrom(fmt.Sprintf("203.0.113.%d", i), "/oauth/token", grant, unknown, credential.NewSecret())
		}
		if reads := cacheMisses(t, mport) - before; reads != 0 {
			t.Errorf("one unknown client ID, once cached, 20 times more cost %d store reads, want 0", reads)
		}
	})
}

// TestThrottleAdminAPI: wrong master keys and wrong API keys at the admin
// API count against the address; past the budget it gets 429 unjudged.
func TestThrottleAdminAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		mport := freePort(t)
		g := startGateway(t, throttleOptions(kind, mport))
		key := g.create("admin key", store.TypeAPIKey, []string{"api-keys:read"}, nil)
		for i := range 3 {
			r := g.adminCall("GET", "/clients", "", nil, "X-Blnk-Key", "not-the-master-key-"+strconv.Itoa(i)+strings.Repeat("x", 30), "X-Forwarded-For", "198.51.100.9")
			mustStatus(t, r, 401, "wrong master key")
		}
		for i := range 2 {
			r := g.adminCall("GET", "/clients", "", nil, "X-Blnk-Key", alterLast(key.Secret), "X-Forwarded-For", "198.51.100.9")
			mustStatus(t, r, 401, "wrong API key "+strconv.Itoa(i))
		}
		r := g.adminCall("GET", "/clients", "", nil, "X-Blnk-Key", testMasterKey, "X-Forwarded-For", "198.51.100.9")
		mustThrottled(t, r, "the right master key from the throttled address")
		if r.header.Get("WWW-Authenticate") != "" {
			t.Errorf("a 429 carries a challenge: %q", r.header.Get("WWW-Authenticate"))
		}
		mustThrottled(t, g.adminCall("GET", "/clients", "", nil, "X-Blnk-Key", key.Secret, "X-Forwarded-For", "198.51.100.9"), "the right API key from the throttled address")
		mustStatus(t, g.adminCall("GET", "/clients", "", nil, "X-Blnk-Key", key.Secret, "X-Forwarded-For", "198.51.100.10"), 200, "the API key from a clean address")
		mustStatus(t, g.adminCall("GET", "/clients", "master", nil, "X-Forwarded-For", "198.51.100.10"), 200, "the master key from a clean address")
		if body := scrape(t, mport); !strings.Contains(body, `caddy_blnk_auth_throttled_requests_total{endpoint="admin"} 2`) {
			t.Errorf("metrics lack 2 throttled admin requests")
		}
	})
}

// TestThrottleOff: "throttle off" lets every failure be judged.
func TestThrottleOff(t *testing.T) {
	g := startGateway(t, gatewayOptions{store: kindSQLite, appExtra: "throttle off"})
	c := g.create("victim", store.TypeOAuth, []string{"mcp:read"}, nil)
	for i := range 30 {
		if r := g.postFrom("", "/oauth/token", grant, c.Client.ID, c.Secret+"x"); r.status != 401 {
			t.Fatalf("wrong secret %d with the throttle off: %d %s", i, r.status, r.raw)
		}
	}
	g.token(c.Client.ID, c.Secret, nil)
}

// scrape reads Caddy's metrics endpoint.
func scrape(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

var missesLine = regexp.MustCompile(`(?m)^caddy_blnk_auth_client_cache_misses_total (\d+)`)

// cacheMisses is how many client lookups read the store so far.
func cacheMisses(t *testing.T, port int) int {
	t.Helper()
	m := missesLine.FindStringSubmatch(scrape(t, port))
	if m == nil {
		t.Fatal("no client_cache_misses_total on the metrics endpoint")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestThrottleBoundsConcurrentStoreReads: random credentials sent all at
// once from one address (as one HTTP/2 connection could) cost no more store
// reads than the address's failure budget: a judgement that would read the
// store reserves its share of the budget before it starts.
func TestThrottleBoundsConcurrentStoreReads(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		mport := freePort(t)
		g := startGateway(t, throttleOptions(kind, mport))
		before := cacheMisses(t, mport)
		const flood = 200
		start := make(chan struct{})
		statuses := make(chan int, flood)
		var wg sync.WaitGroup
		for range flood {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, _ := http.NewRequest(http.MethodPost, g.authURL+"/oauth/token", strings.NewReader(grant.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(credential.NewClientID(), credential.NewSecret())
				req.Header.Set("X-Forwarded-For", "198.51.100.77")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					statuses <- 0
					return
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}()
		}
		close(start)
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for s := range statuses {
			counts[s]++
		}
		reads := cacheMisses(t, mport) - before
		t.Logf("%d concurrent random credentials from one address: %d store reads, statuses %v", flood, reads, counts)
		if counts[401]+counts[429] != flood {
			t.Fatalf("statuses %v, want only 401 and 429", counts)
		}
		if reads < 1 || reads > 6 {
			t.Errorf("%d concurrent random credentials from one address cost %d store reads, want at most the budget (5, and one more refilled)", flood, reads)
		}
	})
}
