package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestMetrics: token and request outcomes and the client cache show up on
// Caddy's metrics endpoint.
func TestMetrics(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		port := freePort(t)
		g := startGateway(t, gatewayOptions{store: kind, extraConfig: fmt.Sprintf("http://:%d {\n\tbind 127.0.0.1\n\tmetrics\n}", port)})
		c := g.create("metered", store.TypeOAuth, []string{"mcp:read"}, nil)
		tok := g.token(c.Client.ID, c.Secret, nil)
		g.postToken(url.Values{"grant_type": {"client_credentials"}}, c.Client.ID, c.Secret+"x")
		g.call("/mcp", bearer(tok)...)
		g.call("/mcp")
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{
			`caddy_blnk_auth_token_requests_total{outcome="issued"} 1`,
			`caddy_blnk_auth_token_requests_total{outcome="invalid_client"} 1`,
			`caddy_blnk_auth_requests_total{outcome="allowed",route_kind="plain"} 1`,
			`caddy_blnk_auth_requests_total{outcome="unauthenticated",route_kind="plain"} 1`,
			`caddy_blnk_auth_client_cache_hits_total`,
			`caddy_blnk_auth_client_cache_misses_total`,
			`caddy_blnk_auth_change_feed_losses_total 0`,
			`caddy_blnk_auth_change_feed_synced 1`,
			`caddy_blnk_auth_revoked_tokens 0`,
			`caddy_blnk_auth_requests_in_flight 0`,
			"# TYPE caddy_blnk_auth_signing_key_age_seconds gauge",
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %q", want)
			}
		}
		// The key was created at this start: its age is a few seconds at most.
		if m := regexp.MustCompile(`(?m)^caddy_blnk_auth_signing_key_age_seconds ([0-9.e+-]+)$`).FindStringSubmatch(string(body)); m == nil {
			t.Error("no signing key age sample")
		} else if age, err := strconv.ParseFloat(m[1], 64); err != nil || age <= 0 || age > 120 {
			t.Errorf("signing key age %s, want a few seconds", m[1])
		}
		// Every metric the shipped Grafana dashboard queries exists.
		dash, err := os.ReadFile("../grafana/blnk-auth-gateway.json")
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []struct {
				Targets []struct{ Expr string }
			}
		}
		if err := json.Unmarshal(dash, &d); err != nil {
			t.Fatalf("the dashboard is not JSON: %v", err)
		}
		names := 0
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				for _, name := range regexp.MustCompile(`caddy_blnk_auth_[a-z_]+`).FindAllString(tg.Expr, -1) {
					names++
					if !strings.Contains(string(body), "# TYPE "+name+" ") {
						t.Errorf("the dashboard queries %s, which /metrics does not have", name)
					}
				}
			}
		}
		if names < 6 {
			t.Errorf("the dashboard queries only %d metrics", names)
		}
	})
}
