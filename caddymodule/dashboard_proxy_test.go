package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/blnkfinance/blnk-auth-gateway/admin/dashboard"
)

// TestDashboardBehindTLSProxy: behind a proxy that terminates TLS (Caddy's
// trusted_proxies names it), the browser is on https although the request
// reaches Caddy in plain HTTP. The session cookie must then be Secure (else
// the browser would send it on any http:// request to the host, readable on
// the way), and the browser's https Origin must pass the same-origin check.
// X-Forwarded-Proto from a peer that is not a trusted proxy changes nothing.
func TestDashboardBehindTLSProxy(t *testing.T) {
	signIn := func(t *testing.T, g *testGateway, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, g.apiURL+"/admin/ui/session", strings.NewReader(`{"master_key":"`+testMasterKey+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	sessionCookie := func(t *testing.T, resp *http.Response) *http.Cookie {
		t.Helper()
		for _, c := range resp.Cookies() {
			if c.Name == dashboard.CookieName {
				return c
			}
		}
		t.Fatalf("sign-in set no session cookie: %v", resp.Header["Set-Cookie"])
		return nil
	}

	t.Run("trusted proxy", func(t *testing.T) {
		g := startGateway(t, gatewayOptions{store: "sqlite", apiRoutes: dashboardRoutes,
			globalExtra: "servers {\n\ttrusted_proxies static 127.0.0.1/32\n\ttrusted_proxies_strict\n}"})
		u, _ := url.Parse(g.apiURL)
		resp := signIn(t, g, "https://"+u.Host)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-in from the browser's https origin through the proxy: %d", resp.StatusCode)
		}
		if c := sessionCookie(t, resp); !c.Secure {
			t.Errorf("session cookie behind a TLS-terminating trusted proxy is not Secure: %v", resp.Header["Set-Cookie"])
		}
		if resp := signIn(t, g, "http://"+u.Host); resp.StatusCode != http.StatusForbidden {
			t.Errorf("sign-in with an http Origin while the proxy says https: %d, want 403", resp.StatusCode)
		}
	})
	t.Run("untrusted peer", func(t *testing.T) {
		g := startGateway(t, gatewayOptions{store: "sqlite", apiRoutes: dashboardRoutes})
		u, _ := url.Parse(g.apiURL)
		resp := signIn(t, g, "http://"+u.Host)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-in over http: %d", resp.StatusCode)
		}
		if c := sessionCookie(t, resp); c.Secure {
			t.Errorf("an untrusted X-Forwarded-Proto made the cookie Secure")
		}
		if resp := signIn(t, g, "https://"+u.Host); resp.StatusCode != http.StatusForbidden {
			t.Errorf("an untrusted X-Forwarded-Proto let an https Origin pass: %d, want 403", resp.StatusCode)
		}
	})
}

// TestForwardedHTTPSReadsAsCaddyDoes: the dashboard reads X-Forwarded-Proto
// as Caddy's reverse_proxy does (addForwardedHeaders: the last value, from a
// trusted peer only), so that the gateway and what it forwards to agree on
// the browser's scheme. A proxy that adds its own header after the client's
// (HAProxy's add-header, a chain that appends) puts its word last; the first
// is then the client's, which means nothing. Within a comma-separated value
// the last element is likewise the nearest proxy's.
func TestForwardedHTTPSReadsAsCaddyDoes(t *testing.T) {
	tests := []struct {
		name    string
		trusted bool
		values  []string
		want    bool
	}{
		{"trusted https", true, []string{"https"}, true},
		{"trusted HTTPS", true, []string{"HTTPS"}, true},
		{"trusted http", true, []string{"http"}, false},
		{"trusted, none", true, nil, false},
		{"untrusted https", false, []string{"https"}, false},
		{"client's https first, the proxy's http last", true, []string{"https", "http"}, false},
		{"client's http first, the proxy's https last", true, []string{"http", "https"}, true},
		{"list ending in http", true, []string{"https, http"}, false},
		{"list ending in https", true, []string{"http, https"}, true},
		{"list ending in https, no space", true, []string{"http,https"}, true},
		{"empty last element", true, []string{"https,"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/admin/", nil)
			r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.TrustedProxyVarKey: tt.trusted}))
			r.Header["X-Forwarded-Proto"] = tt.values
			if got := forwardedHTTPS(r); got != tt.want {
				t.Errorf("forwardedHTTPS with %q (trusted %v) = %v, want %v", tt.values, tt.trusted, got, tt.want)
			}
		})
	}
	// Outside Caddy's server (no vars at all) nothing is trusted.
	r := httptest.NewRequest(http.MethodGet, "/admin/", nil)
	r.Header.Set("X-Forwarded-Proto", "https")
	if forwardedHTTPS(r) {
		t.Error("forwardedHTTPS believed a request without Caddy's vars")
	}
}
