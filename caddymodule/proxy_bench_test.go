package caddymodule

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// BenchmarkProxy measures whole requests through a real Caddy in this
// process, over loopback with keep-alive: plain reverse_proxy against
// blnk_auth + reverse_proxy, on a plain route (GET) and an mcp route
// (tools/list POST), each with and without the token's bytes on the plain
// side. The client and the upstream are the same for both, so the
// difference in B/op and allocs/op is exactly what the gateway adds to a
// request, whatever else the machine is doing; ns/op is CPU on two cores
// shared with the client and the upstream.
func BenchmarkProxy(b *testing.B) {
	caddyMu.Lock()
	defer caddyMu.Unlock()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok"))
	}))
	defer up.Close()
	ports := make([]int, 5)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	upstream := strings.TrimPrefix(up.URL, "http://")
	cfg := fmt.Sprintf(`{
	admin off
	auto_https off
	blnk_auth {
		database %[1]s
		secret %[2]s
		issuer http://127.0.0.1:%[3]d
	}
}
http://:%[3]d {
	bind 127.0.0.1
	blnk_oauth
}
http://:%[4]d {
	bind 127.0.0.1
	blnk_auth mcp:read
	reverse_proxy %[7]s
}
http://:%[5]d {
	bind 127.0.0.1
	reverse_proxy %[7]s
}
http://:%[6]d {
	bind 127.0.0.1
	blnk_auth /mcp* {
		mcp
	}
	reverse_proxy %[7]s
}
`, testdb.New(b), testSecret, ports[0], ports[1], ports[2], ports[3], upstream)
	js, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := caddy.Load(js, true); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = caddy.Stop() }()
	a, err := caddy.ActiveContext().App("blnk_auth")
	if err != nil {
		b.Fatal(err)
	}
	c, err := a.(*App).Service().Create(context.Background(), admin.CLI, admin.CreateParams{Name: "bench", Scopes: []string{"mcp:read"}})
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	resp, err := client.PostForm(fmt.Sprintf("http://127.0.0.1:%d/oauth/token", ports[0]), url.Values{"grant_type": {"client_credentials"}, "client_id": {c.Client.ID}, "client_secret": {c.Secret}})
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := string(body)
	tok = tok[strings.Index(tok, `"access_token":"`)+16:]
	tok = tok[:strings.IndexByte(tok, '"')]

	mcpBody := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`)
	run := func(b *testing.B, port int, path string, post, withToken bool) {
		u := fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
		do := func() {
			var req *http.Request
			if post {
				req, _ = http.NewRequest(http.MethodPost, u, bytes.NewReader(mcpBody))
				req.Header.Set("Content-Type", "application/json")
			} else {
				req, _ = http.NewRequest(http.MethodGet, u, nil)
			}
			if withToken {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("%s: %d", u, resp.StatusCode)
			}
		}
		for range 50 {
			do()
		}
		time.Sleep(50 * time.Millisecond) // caches settle
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			do()
		}
	}
	b.Run("plain", func(b *testing.B) { run(b, ports[2], "/", false, false) })
	b.Run("plain+token", func(b *testing.B) { run(b, ports[2], "/", false, true) })
	b.Run("blnk_auth", func(b *testing.B) { run(b, ports[1], "/", false, true) })
	b.Run("mcp/plain", func(b *testing.B) { run(b, ports[2], "/mcp", true, false) })
	b.Run("mcp/plain+token", func(b *testing.B) { run(b, ports[2], "/mcp", true, true) })
	b.Run("mcp/blnk_auth", func(b *testing.B) { run(b, ports[3], "/mcp", true, true) })
}
