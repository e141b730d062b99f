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
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestMetrics: token and request outcomes, the client cache, the store's
// latency and the change feed's lag show up on Caddy's metrics endpoint.
func TestMetrics(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		port := freePort(t)
		g := startGateway(t, gatewayOptions{store: kind, extraConfig: fmt.Sprintf("http://:%d {\n\tbind 127.0.0.1\n\tmetrics\n}", port)})
		c := g.create("metered", store.TypeOAuth, []string{"mcp:read"}, nil)
		tok := g.token(c.Client.ID, c.Secret, nil)
		g.postToken(url.Values{"grant_type": {"client_credentials"}}, c.Client.ID, c.Secret+"x")
		g.call("/mcp", bearer(tok)...)
		g.call("/mcp")
		g.postToken(url.Values{"scope": {"mcp:read"}}, c.Client.ID, c.Secret)
		scrape := func() string {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return string(body)
		}
		// A change the feed brings back (made once it follows the log: one
		// made before is not delivered): its lag is measured within a second
		// or two (lagInterval).
		eventually(t, 5*time.Second, "the change feed syncs", func() bool {
			return strings.Contains(scrape(), "\ncaddy_blnk_auth_change_feed_synced 1\n")
		})
		gone := g.create("revoked", store.TypeOAuth, []string{"mcp:read"}, nil)
		if _, err := g.svc.Revoke(t.Context(), adminCLI(), gone.Client.ID); err != nil {
			t.Fatal(err)
		}
		lagged := regexp.MustCompile(`(?m)^caddy_blnk_auth_change_feed_lag_seconds_count [1-9]`)
		eventually(t, 5*time.Second, "the change feed's lag is measured", func() bool { return lagged.MatchString(scrape()) })
		body := scrape()
		for _, want := range []string{
			`caddy_blnk_auth_token_requests_total{grant="client_credentials",outcome="issued"} 1`,
			`caddy_blnk_auth_token_requests_total{grant="client_credentials",outcome="invalid_client"} 1`,
			`caddy_blnk_auth_token_requests_total{grant="other",outcome="invalid_request"} 1`,
			`caddy_blnk_auth_client_cache_entries `,
			`caddy_blnk_auth_store_duration_seconds_bucket{operation="get_client",le="+Inf"} `,
			`caddy_blnk_auth_store_duration_seconds_count{operation="keyring"} `,
			`caddy_blnk_auth_change_feed_lag_seconds_bucket{le="0.064"} `,
			`caddy_blnk_auth_change_feed_reconnects_total 0`,
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
			if !strings.Contains(body, want) {
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
				ID      int
				Title   string
				GridPos struct{ X, Y, W, H int }
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
					if !strings.Contains(body, "# TYPE "+strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")+" ") {
						t.Errorf("the dashboard queries %s, which /metrics does not have", name)
					}
				}
			}
		}
		if names < 6 {
			t.Errorf("the dashboard queries only %d metrics", names)
		}
		// Panels merged from several branches keep IDs and places of their own.
		for i, a := range d.Panels {
			for _, b := range d.Panels[i+1:] {
				if a.ID == b.ID {
					t.Errorf("panels %q and %q share ID %d", a.Title, b.Title, a.ID)
				}
				ga, gb := a.GridPos, b.GridPos
				if ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H {
					t.Errorf("panels %q and %q overlap", a.Title, b.Title)
				}
			}
		}
	})
}
