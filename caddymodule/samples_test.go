package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// replaceAll replaces every old by new in s, failing the test when old is
// absent: a sample that changed shape must not go untested silently.
func replaceAll(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("the sample no longer contains %q; update the test", old)
	}
	return strings.ReplaceAll(s, old, new)
}

// runSample adapts a Caddyfile and runs it in process until the test ends.
// It returns the adapted JSON.
func runSample(t *testing.T, caddyfile string) []byte {
	t.Helper()
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	cfgJSON, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	for _, w := range warnings {
		t.Logf("caddyfile warning: %s", w)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("loading: %v\n%s", err, caddyfile)
	}
	t.Cleanup(func() { _ = stopCaddy() })
	return cfgJSON
}

// sampleRequest sends method to http://127.0.0.1:port path with the given Host.
func sampleRequest(t *testing.T, method, host string, port int, path string, body io.Reader, headers ...string) tokenResponse {
	t.Helper()
	req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), body)
	req.Host = host
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := tokenResponse{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// sampleToken gets an access token from the token endpoint at port.
func sampleToken(t *testing.T, host string, port int, id, secret string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/oauth/token", port), strings.NewReader(form.Encode()))
	req.Host = host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

// listensOnlyOnLoopback checks, in the adapted JSON, that the server
// serving port listens on 127.0.0.1 only, and that the port refuses a
// connection to another address of this host.
func listensOnlyOnLoopback(t *testing.T, cfgJSON []byte, port int) {
	t.Helper()
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf(":%d", port)
	found := false
	for name, srv := range cfg.Apps.HTTP.Servers {
		for _, l := range srv.Listen {
			if !strings.HasSuffix(l, suffix) {
				continue
			}
			found = true
			if l != "tcp/127.0.0.1"+suffix && l != "127.0.0.1"+suffix {
				t.Errorf("server %s listens on %q: reachable beyond loopback", name, l)
			}
		}
	}
	if !found {
		t.Fatalf("no server listens on port %d", port)
	}
	// 127.0.0.2 is this host too: a listener on every interface accepts it.
	others := []string{"127.0.0.2"}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				others = append(others, ipn.IP.String())
			}
		}
	}
	for _, ip := range others {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, fmt.Sprint(port)), 2*time.Second)
		if err == nil {
			c.Close()
			t.Errorf("port %d accepts connections on %s", port, ip)
		}
	}
}

// TestCaddyfileExample runs Caddyfile.example as shipped (ports moved to
// free ones, Caddy's admin endpoint off): the workflow of README's Run
// section works, every protected site refuses unauthenticated requests on
// any path, and the demo upstream is reachable on loopback only.
func TestCaddyfileExample(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		raw, err := os.ReadFile("../Caddyfile.example")
		if err != nil {
			t.Fatal(err)
		}
		authPort, apiPort, upPort := freePort(t), freePort(t), freePort(t)
		cfg := replaceAll(t, string(raw), "\n{\n", "\n{\n\tadmin off\n")
		cfg = replaceAll(t, cfg, ":8080", fmt.Sprintf(":%d", authPort))
		cfg = replaceAll(t, cfg, ":8081", fmt.Sprintf(":%d", apiPort))
		cfg = replaceAll(t, cfg, ":8082", fmt.Sprintf(":%d", upPort))
		dsn := newDatabase(t, kind)
		t.Setenv("BLNK_AUTH_DATABASE_URL", dsn)
		t.Setenv("BLNK_AUTH_SECRET", testSecret)
		t.Setenv("BLNK_AUTH_MASTER_KEY", testMasterKey)
		cfgJSON := runSample(t, cfg)

		authHost, apiHost := fmt.Sprintf("localhost:%d", authPort), fmt.Sprintf("localhost:%d", apiPort)
		for _, path := range []string{"/", "/mcp", "/ledgers", "/unmatched", "/admin-not", "/.well-known/x"} {
			if r := sampleRequest(t, "GET", apiHost, apiPort, path, nil); r.status != 401 {
				t.Errorf("unauthenticated GET %s on the API: %d %q, want 401", path, r.status, r.raw)
			}
		}
		for _, path := range []string{"/admin/clients", "/admin/audit"} {
			if r := sampleRequest(t, "GET", authHost, authPort, path, nil); r.status != 401 {
				t.Errorf("unauthenticated GET %s on the authorization server: %d %q, want 401", path, r.status, r.raw)
			}
		}
		if r := sampleRequest(t, "GET", authHost, authPort, "/unmatched", nil); r.status != 404 {
			t.Errorf("GET /unmatched on the authorization server: %d %q, want 404", r.status, r.raw)
		}

		// README's workflow: create a client (here through the admin API
		// with the master key), get a token, reach the demo upstream.
		r := sampleRequest(t, "POST", authHost, authPort, "/admin/clients", strings.NewReader(`{"name": "MCP Integration", "scopes": ["mcp:read"]}`),
			"Content-Type", "application/json", APIKeyHeader, testMasterKey)
		mustStatus(t, r, 201, "create through the admin API")
		id, secret := r.body["client_id"].(string), r.body["client_secret"].(string)
		tok := sampleToken(t, authHost, authPort, id, secret)
		r = sampleRequest(t, "GET", apiHost, apiPort, "/mcp", nil, bearer(tok)...)
		if r.status != 200 || !strings.Contains(r.raw, "Hello "+id) {
			t.Fatalf("GET /mcp with a token: %d %q, want the demo upstream's greeting", r.status, r.raw)
		}
		listensOnlyOnLoopback(t, cfgJSON, upPort)
	})
}

// readmeCaddyfile is the sample of README.md's Caddyfile section: its first
// caddyfile block.
func readmeCaddyfile(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	md := string(raw)
	i := strings.Index(md, "\n## Caddyfile\n")
	if i < 0 {
		t.Fatal("README.md has no Caddyfile section")
	}
	blocks := caddyfileBlocks(md[i:])
	if len(blocks) == 0 {
		t.Fatal("README.md's Caddyfile section has no caddyfile block")
	}
	return blocks[0]
}

// TestREADMECaddyfileSample runs README.md's Caddyfile sample (sites moved
// to plain HTTP on free ports, the upstream to a recorder): every path of
// the API site needs a credential, none reaches the upstream without one,
// and a valid token still gets through.
func TestREADMECaddyfileSample(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		authPort, apiPort := freePort(t), freePort(t)
		rec := &recorder{}
		up := httptest.NewServer(rec)
		t.Cleanup(up.Close)
		cfg := replaceAll(t, readmeCaddyfile(t), "{\n\tblnk_auth {", "{\n\tadmin off\n\tauto_https off\n\tblnk_auth {")
		cfg = replaceAll(t, cfg, "\nauth.example.com {", fmt.Sprintf("\nhttp://auth.example.com:%d {", authPort))
		cfg = replaceAll(t, cfg, "\napi.example.com {", fmt.Sprintf("\nhttp://api.example.com:%d {", apiPort))
		cfg = replaceAll(t, cfg, "reverse_proxy 127.0.0.1:8000", "reverse_proxy "+strings.TrimPrefix(up.URL, "http://"))
		dsn := newDatabase(t, kind)
		t.Setenv("BLNK_AUTH_DATABASE_URL", dsn)
		t.Setenv("BLNK_AUTH_SECRET", testSecret)
		// The sample's single sign-on: its provider need not answer (it is
		// discovered in the background, and sign-in through it is not tried).
		t.Setenv("OIDC_CLIENT_ID", "gateway")
		t.Setenv("OIDC_CLIENT_SECRET", "provider-secret")
		runSample(t, cfg)

		apiHost := fmt.Sprintf("api.example.com:%d", apiPort)
		for _, path := range []string{"/", "/unmatched", "/tool", "/tools", "/mcp", "/ledgers", "/admin"} {
			if r := sampleRequest(t, "GET", apiHost, apiPort, path, nil); r.status != 401 {
				t.Errorf("unauthenticated GET %s: %d %q, want 401", path, r.status, r.raw)
			}
		}
		if n := rec.hitCount(); n != 0 {
			t.Errorf("%d unauthenticated requests reached the upstream", n)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := openTestStore(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		c, err := (&admin.Service{Store: st}).Create(ctx, admin.CLI, admin.CreateParams{Name: "reader", Type: store.TypeOAuth, Scopes: []string{"mcp:read"}})
		if err != nil {
			t.Fatal(err)
		}
		tok := sampleToken(t, fmt.Sprintf("auth.example.com:%d", authPort), authPort, c.Client.ID, c.Secret)
		for _, path := range []string{"/unmatched", "/tools"} {
			if r := sampleRequest(t, "GET", apiHost, apiPort, path, nil, bearer(tok)...); r.status != 200 {
				t.Errorf("GET %s with a token: %d %q, want 200", path, r.status, r.raw)
			}
		}
	})
}
