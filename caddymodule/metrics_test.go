package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
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
			`caddy_blnk_auth_requests_total{outcome="allowed"} 1`,
			`caddy_blnk_auth_requests_total{outcome="unauthenticated"} 1`,
			`caddy_blnk_auth_client_cache_hits_total`,
			`caddy_blnk_auth_client_cache_misses_total`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}
