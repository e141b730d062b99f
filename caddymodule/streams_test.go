package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/blnkfinance/blnk-auth-gateway/internal/keyring"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// pulseServer is a stateful MCP Go SDK server that pushes a progress
// notification to every session every 100 ms. Outside any request the SDK
// delivers those on the session's standalone GET stream, so a client counting
// them sees exactly whether its stream still delivers. It records how many GET
// streams are open upstream right now.
type pulseServer struct {
	handler http.Handler
	pulses  atomic.Int64 // rounds of notifications sent
	streams atomic.Int64 // GET streams open upstream
	posts   atomic.Int64 // POSTs that reached the upstream

	mu       sync.Mutex
	sessions map[string]bool // the session IDs the upstream issued
}

func (p *pulseServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		p.streams.Add(1)
		defer p.streams.Add(-1)
	}
	if r.Method == http.MethodPost {
		p.posts.Add(1)
	}
	p.handler.ServeHTTP(w, r)
	if id := w.Header().Get("Mcp-Session-Id"); id != "" {
		p.mu.Lock()
		p.sessions[id] = true
		p.mu.Unlock()
	}
}

func (p *pulseServer) issued(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions[id]
}

// startPulseServer runs a pulseServer (with the echo tool) until the test ends.
func startPulseServer(t *testing.T) (*pulseServer, string) {
	t.Helper()
	server := mcp.NewServer(&mcp.Implementation{Name: "blnk-pulse", Version: "0.0.1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "echoes its text"},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, echoArgs, error) {
			return nil, in, nil
		})
	p := &pulseServer{sessions: map[string]bool{}}
	p.handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	srv := httptest.NewServer(p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for ss := range server.Sessions() {
				_ = ss.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: "pulse", Progress: float64(n)})
			}
			p.pulses.Add(1)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return p, strings.TrimPrefix(srv.URL, "http://")
}

// staticBearer is an http.RoundTripper that sends one fixed access token,
// as a client holding a token (rather than its secret) would: when that
// token stops working, the client has nothing to fall back on.
type staticBearer struct{ token string }

func (s staticBearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+s.token)
	return http.DefaultTransport.RoundTrip(req)
}

// cutOff is one way a held stream must be ended: what the test does to the
// client (or its token) while the stream is open.
type cutOff struct {
	name string
	// scopes and expires make the client; do ends the stream's authority.
	scopes  []string
	expires time.Duration // 0: never
	do      func(t *testing.T, g *testGateway, id, secret, token string)
}

// cutOffs: revocation through another connection to the store (as the CLI
// and other instances do), RFC 7009 revocation of the one token, scopes
// narrowed below what the stream needs (mcp:read), and expiry (the token's
// exp is capped at the client's expiry, so both end together).
func cutOffs() []cutOff {
	return []cutOff{
		{name: "client revoked", scopes: []string{"mcp:read"}, do: func(t *testing.T, g *testGateway, id, _, _ string) {
			if _, err := g.svc.Revoke(context.Background(), adminCLI(), id); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "token revoked", scopes: []string{"mcp:read"}, do: func(t *testing.T, g *testGateway, id, secret, token string) {
			if r := g.postForm("/oauth/revoke", url.Values{"token": {token}}, id, secret); r.status != http.StatusOK {
				t.Fatalf("revoking the token: %d %s", r.status, r.raw)
			}
		}},
		{name: "scopes narrowed", scopes: []string{"mcp:read", "ledgers:read"}, do: func(t *testing.T, g *testGateway, id, _, _ string) {
			if _, err := g.svc.Update(context.Background(), adminCLI(), id, updateScopes("ledgers:read")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "token expired", scopes: []string{"mcp:read"}, expires: 8 * time.Second, do: func(*testing.T, *testGateway, string, string, string) {}},
		// Last: every token signed before stops working.
		{name: "signing key revoked", scopes: []string{"mcp:read"}, do: func(t *testing.T, g *testGateway, _, _, _ string) {
			// As the CLI does (caddy blnk-auth keys rotate --now), through
			// another connection: the gateway learns of it by the change feed.
			if _, err := keyring.Rotate(context.Background(), g.store, keyring.Options{Secret: testSecret, Algorithm: token.ES256, Audit: store.Audit{Actor: "cli"}}, true); err != nil {
				t.Fatal(err)
			}
		}},
	}
}

// TestRevocationEndsGoSDKStream: a standalone GET stream of the official MCP
// Go SDK client, open through the gateway before the client loses its
// authority, stops delivering once it has: the gateway ends the stream (the
// upstream sees it close) and no notification arrives after that.
func TestRevocationEndsGoSDKStream(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		up, upHost := startPulseServer(t)
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: sdkRoutes(upHost)})
		for _, co := range cutOffs() {
			t.Run(co.name, func(t *testing.T) {
				var expires *time.Time
				if co.expires > 0 {
					e := time.Now().Add(co.expires)
					expires = &e
				}
				c := g.create("stream "+co.name, store.TypeOAuth, co.scopes, expires)
				tok := g.token(c.Client.ID, c.Secret, nil)

				received := holdStream(t, g, staticBearer{tok})

				co.do(t, g, c.Client.ID, c.Secret, tok)
				wait := 3 * time.Second
				if co.expires > 0 {
					wait += co.expires
				}
				took := eventually(t, wait, "the gateway ending the held GET stream", func() bool { return up.streams.Load() == 0 })
				t.Logf("stream ended upstream after %s", took)
				stopped := received.Load()
				from := up.pulses.Load()
				eventually(t, 5*time.Second, "three more rounds of notifications", func() bool { return up.pulses.Load() >= from+3 })
				if got := received.Load(); got != stopped {
					t.Errorf("the client received %d notifications after its stream was cut off", got-stopped)
				}
			})
		}
	})
}

// holdStream connects the official MCP Go SDK client to the gateway's /mcp
// with a fixed credential (rt), so that it holds a standalone GET stream
// until the test ends, and waits for notifications on it. It returns the
// count of notifications received.
func holdStream(t *testing.T, g *testGateway, rt http.RoundTripper) *atomic.Int64 {
	t.Helper()
	received := new(atomic.Int64)
	client := mcp.NewClient(&mcp.Implementation{Name: "blnk-stream-client", Version: "0.0.1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { received.Add(1) },
	})
	transport := &mcp.StreamableClientTransport{Endpoint: g.apiURL + "/mcp", HTTPClient: &http.Client{Transport: rt}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cs, err := client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	eventually(t, 5*time.Second, "notifications on the GET stream", func() bool { return received.Load() >= 3 })
	return received
}

// tsStream is client.mjs in stream mode: the MCP TypeScript SDK client holding
// a standalone GET stream, asked over stdin how many notifications arrived.
type tsStream struct {
	t      *testing.T
	stdin  io.WriteCloser
	events chan map[string]any
}

// startTSStream runs client.mjs stream with a fixed token and waits until its
// stream has delivered three notifications; it returns the session ID too.
func startTSStream(t *testing.T, endpoint, token string) (*tsStream, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, "node", "client.mjs", "stream")
	cmd.Dir = mcpTSDir
	cmd.Env = append(os.Environ(), "MCP_ENDPOINT="+endpoint, "MCP_TOKEN="+token)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &tsStream{t: t, stdin: stdin, events: make(chan map[string]any, 16)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				s.events <- ev
			}
		}
	}()
	t.Cleanup(func() {
		_, _ = io.WriteString(stdin, "close\n")
		stdin.Close()
		_ = cmd.Wait()
		cancel()
		if e := strings.TrimSpace(stderr.String()); e != "" {
			t.Logf("client.mjs stream stderr: %s", e)
		}
	})
	ev := s.next("ready")
	sid, _ := ev["sessionId"].(string)
	return s, sid
}

// next waits for the client's next event, which must be of the given kind.
func (s *tsStream) next(kind string) map[string]any {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatalf("client.mjs stream ended before %q", kind)
		}
		if ev["event"] != kind {
			s.t.Fatalf("client.mjs stream: %v, want event %q", ev, kind)
		}
		return ev
	case <-time.After(30 * time.Second):
		s.t.Fatalf("client.mjs stream: no %q event within 30s", kind)
	}
	return nil
}

// count asks how many notifications the client has received.
func (s *tsStream) count() int {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, "count\n"); err != nil {
		s.t.Fatal(err)
	}
	n, _ := s.next("count")["count"].(float64)
	return int(n)
}

// TestRevocationEndsTypeScriptSDKStream: the same as
// TestRevocationEndsGoSDKStream with the MCP TypeScript SDK on both ends:
// client.mjs holding the standalone GET stream of server.mjs (stateful).
func TestRevocationEndsTypeScriptSDKStream(t *testing.T) {
	requireMCPTS(t)
	forEachStore(t, func(t *testing.T, kind string) {
		srv := startTSServer(t, "stateful")
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: sdkRoutes(srv.hostport)})
		for _, co := range cutOffs() {
			t.Run(co.name, func(t *testing.T) {
				var expires *time.Time
				if co.expires > 0 {
					e := time.Now().Add(co.expires)
					expires = &e
				}
				c := g.create("ts stream "+co.name, store.TypeOAuth, co.scopes, expires)
				tok := g.token(c.Client.ID, c.Secret, nil)
				s, _ := startTSStream(t, g.apiURL+"/mcp", tok)
				eventually(t, 5*time.Second, "one GET stream open upstream", func() bool { return srv.calls(t)["streams"] == 1 })

				co.do(t, g, c.Client.ID, c.Secret, tok)
				wait := 3 * time.Second
				if co.expires > 0 {
					wait += co.expires
				}
				took := eventually(t, wait, "the gateway ending the held GET stream", func() bool { return srv.calls(t)["streams"] == 0 })
				t.Logf("stream ended upstream after %s", took)
				stopped := s.count()
				from := srv.calls(t)["pulses"]
				eventually(t, 5*time.Second, "three more rounds of notifications", func() bool { return srv.calls(t)["pulses"] >= from+3 })
				if got := s.count(); got != stopped {
					t.Errorf("the client received %d notifications after its stream was cut off", got-stopped)
				}
			})
		}
	})
}
