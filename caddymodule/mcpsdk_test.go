package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth/extauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// sdkUpstream wraps the MCP SDK's Streamable HTTP handler and records what
// reached it through the gateway.
type sdkUpstream struct {
	stateful, stateless http.Handler
	useStateless        atomic.Bool

	mu         sync.Mutex
	credential bool           // a request carried Authorization or X-Blnk-Key
	methods    map[string]int // HTTP methods seen
	hosts      map[string]bool
	versions   map[string]bool // MCP-Protocol-Version headers seen
}

func (u *sdkUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	if r.Header.Get("Authorization") != "" || r.Header.Get("X-Blnk-Key") != "" {
		u.credential = true
	}
	u.methods[r.Method]++
	u.hosts[r.Host] = true
	if v := r.Header.Get("MCP-Protocol-Version"); v != "" {
		u.versions[v] = true
	}
	u.mu.Unlock()
	if u.useStateless.Load() {
		u.stateless.ServeHTTP(w, r)
		return
	}
	u.stateful.ServeHTTP(w, r)
}

func (u *sdkUpstream) count(method string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.methods[method]
}

// httpLog is a RoundTripper that records the requests an SDK client makes.
type httpLog struct {
	mu      sync.Mutex
	entries []httpLogEntry
}

type httpLogEntry struct {
	method, url string
	status      int
	bearer      bool   // the request carried a bearer token
	challenge   string // the response's WWW-Authenticate
}

func (l *httpLog) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	e := httpLogEntry{method: req.Method, url: req.URL.String(), bearer: strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ")}
	if resp != nil {
		e.status = resp.StatusCode
		e.challenge = resp.Header.Get("WWW-Authenticate")
	}
	l.mu.Lock()
	l.entries = append(l.entries, e)
	l.mu.Unlock()
	return resp, err
}

func (l *httpLog) all() []httpLogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]httpLogEntry(nil), l.entries...)
}

type echoArgs struct {
	Text string `json:"text"`
}

type transferArgs struct {
	Amount int `json:"amount"`
}

type transferResult struct {
	Status string `json:"status"`
}

// TestMCPSDK: the official MCP Go SDK, client and server, through the gateway.
// The client is given only the endpoint, a client ID and a secret; it finds
// the authorization server from the 401 (RFC 9728 resource_metadata, then
// RFC 8414 metadata) and uses the client credentials grant (SEP-1046,
// auth/extauth.ClientCredentialsHandler), stepping up on 403 insufficient_scope.
func TestMCPSDK(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		up, upSrv, echoes, transfers := startSDKServer(t, "blnk-sdk-test")
		upHost := strings.TrimPrefix(upSrv.URL, "http://")

		// Why the Host rewrite matters: the same server refuses a public Host.
		req, _ := http.NewRequest(http.MethodPost, upSrv.URL, strings.NewReader(`{}`))
		req.Host = "mcp.example.com"
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		} else if resp.Body.Close(); resp.StatusCode != http.StatusForbidden {
			t.Errorf("SDK server with a non-loopback Host: %d, want 403 (DNS-rebinding protection)", resp.StatusCode)
		}
		up.mu.Lock()
		clear(up.hosts)
		up.mu.Unlock()

		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: sdkRoutes(upHost)})
		endpoint := g.apiURL + "/mcp"

		// connect gives an SDK client nothing but the endpoint and credentials.
		type sdkClient struct {
			cs        *mcp.ClientSession
			discovery *httpLog // the OAuth handler's requests
			wire      *httpLog // the MCP transport's requests
		}
		connect := func(t *testing.T, id, secret, version string) (*sdkClient, error) {
			t.Helper()
			c := &sdkClient{discovery: &httpLog{}, wire: &httpLog{}}
			oh, err := extauth.NewClientCredentialsHandler(&extauth.ClientCredentialsHandlerConfig{
				Credentials: &oauthex.ClientCredentials{ClientID: id, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: secret}},
				// Recording the discovery requests; a RoundTripper that is not an
				// *http.Transport opts out of the SDK's SSRF dial checks, which
				// allow loopback anyway.
				HTTPClient: &http.Client{Transport: c.discovery},
			})
			if err != nil {
				t.Fatal(err)
			}
			transport := &mcp.StreamableClientTransport{Endpoint: endpoint, OAuthHandler: oh, HTTPClient: &http.Client{Transport: c.wire}}
			client := mcp.NewClient(&mcp.Implementation{Name: "blnk-sdk-client", Version: "0.0.1"}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c.cs, err = client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		callTool := func(c *sdkClient, name string, args any) (*mcp.CallToolResult, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return c.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		}
		listTools := func(c *sdkClient) ([]string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := c.cs.ListTools(ctx, nil)
			if err != nil {
				return nil, err
			}
			var names []string
			for _, tool := range res.Tools {
				names = append(names, tool.Name)
			}
			return names, nil
		}
		text := func(res *mcp.CallToolResult) string {
			var b strings.Builder
			for _, c := range res.Content {
				if tc, ok := c.(*mcp.TextContent); ok {
					b.WriteString(tc.Text)
				}
			}
			return b.String()
		}

		full := g.create("sdk full", store.TypeOAuth, []string{"mcp:read", "mcp:write", "ledgers:write"}, nil)
		for _, tc := range []struct {
			name, version string
			stateless     bool
			want          string // the negotiated version
		}{
			{"default version, stateless server", "", true, "2026-07-28"},
			{"default version, stateful server", "", false, "2025-11-25"},
			{"2025-11-25", "2025-11-25", false, "2025-11-25"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				up.useStateless.Store(tc.stateless)
				defer up.useStateless.Store(false)
				gets, deletes := up.count(http.MethodGet), up.count(http.MethodDelete)
				c, err := connect(t, full.Client.ID, full.Secret, tc.version)
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				negotiated := c.cs.InitializeResult().ProtocolVersion
				if negotiated != tc.want {
					t.Errorf("negotiated %q, want %q", negotiated, tc.want)
				}
				t.Logf("protocol %s, session %q", negotiated, c.cs.ID())

				// Discovery: from the 401's resource_metadata to the token endpoint.
				disc := c.discovery.all()
				wantDisc := []string{
					"GET " + g.apiURL + "/.well-known/oauth-protected-resource/mcp",
					"GET " + g.authURL + "/.well-known/oauth-authorization-server",
					"POST " + g.authURL + "/oauth/token",
				}
				if len(disc) != len(wantDisc) {
					t.Errorf("discovery requests: %+v", disc)
				}
				for i := range min(len(disc), len(wantDisc)) {
					if got := disc[i].method + " " + disc[i].url; got != wantDisc[i] || disc[i].status != 200 {
						t.Errorf("discovery request %d: %s → %d, want %s → 200", i, got, disc[i].status, wantDisc[i])
					}
				}
				if wire := c.wire.all(); len(wire) < 2 || wire[0].status != 401 || wire[0].bearer ||
					!strings.Contains(wire[0].challenge, `resource_metadata="`+g.apiURL+`/.well-known/oauth-protected-resource/mcp"`) ||
					!strings.Contains(wire[0].challenge, `scope="mcp:read"`) || !wire[1].bearer || wire[1].status != 200 {
					t.Errorf("first MCP requests: %+v", wire)
				}

				names, err := listTools(c)
				if err != nil || strings.Join(names, ",") != "echo,transfer_funds" {
					t.Errorf("tools/list: %v %v", names, err)
				}
				// tools/call needs mcp:write: a 403 insufficient_scope, then the
				// handler asks for the challenged scope and retries.
				res, err := callTool(c, "echo", echoArgs{Text: "hello " + tc.name})
				if err != nil || res.IsError || !strings.Contains(text(res), "hello "+tc.name) {
					t.Fatalf("echo: %+v %v", res, err)
				}
				res, err = callTool(c, "transfer_funds", transferArgs{Amount: 5})
				if err != nil || res.IsError || !strings.Contains(text(res), "transferred") {
					t.Errorf("transfer_funds: %+v %v", res, err)
				}
				stepUps := 0
				for _, e := range c.wire.all() {
					if e.status == 403 && strings.Contains(e.challenge, `error="insufficient_scope"`) {
						stepUps++
					}
				}
				if stepUps != 2 {
					t.Errorf("%d step-ups, want 2 (mcp:write, then ledgers:write)", stepUps)
				}

				if tc.want == "2025-11-25" {
					if c.cs.ID() == "" {
						t.Error("no session ID on 2025-11-25")
					}
					eventually(t, 5*time.Second, "the GET stream reaching the upstream", func() bool { return up.count(http.MethodGet) > gets })
				}
				if err := c.cs.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
				if tc.want == "2025-11-25" && up.count(http.MethodDelete) <= deletes {
					t.Error("closing the session sent no DELETE upstream")
				}
			})
		}

		t.Run("read-only client", func(t *testing.T) {
			// On 2026-07-28, so the gateway judges the Mcp-Method/Mcp-Name headers.
			up.useStateless.Store(true)
			defer up.useStateless.Store(false)
			reader := g.create("sdk reader", store.TypeOAuth, []string{"mcp:read"}, nil)
			c, err := connect(t, reader.Client.ID, reader.Secret, "")
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer c.cs.Close()
			if v := c.cs.InitializeResult().ProtocolVersion; v != "2026-07-28" {
				t.Errorf("negotiated %q, want 2026-07-28", v)
			}
			if names, err := listTools(c); err != nil || len(names) != 2 {
				t.Errorf("tools/list: %v %v", names, err)
			}
			before := echoes.Load()
			res, err := callTool(c, "echo", echoArgs{Text: "nope"})
			if err == nil {
				t.Fatalf("a read-only client called a tool: %+v", res)
			}
			// The 403 asked for mcp:write; the token endpoint refused to grant it.
			if !strings.Contains(err.Error(), "invalid_scope") {
				t.Errorf("error %v, want the refused step-up (invalid_scope)", err)
			}
			if echoes.Load() != before {
				t.Error("the refused call reached the tool")
			}
			if names, err := listTools(c); err != nil || len(names) != 2 {
				t.Errorf("tools/list after the refusal: %v %v", names, err)
			}
		})

		t.Run("writer without ledgers:write", func(t *testing.T) {
			writer := g.create("sdk writer", store.TypeOAuth, []string{"mcp:read", "mcp:write"}, nil)
			c, err := connect(t, writer.Client.ID, writer.Secret, "2025-11-25")
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer c.cs.Close()
			if res, err := callTool(c, "echo", echoArgs{Text: "w"}); err != nil || res.IsError {
				t.Errorf("echo: %+v %v", res, err)
			}
			before := transfers.Load()
			if res, err := callTool(c, "transfer_funds", transferArgs{Amount: 1}); err == nil {
				t.Errorf("transfer_funds without ledgers:write: %+v", res)
			} else if !strings.Contains(err.Error(), "invalid_scope") {
				t.Errorf("transfer_funds error %v, want the refused step-up (invalid_scope)", err)
			}
			if transfers.Load() != before {
				t.Error("the refused transfer reached the tool")
			}
			// The session survives: echo still works (the handler re-authorizes).
			if res, err := callTool(c, "echo", echoArgs{Text: "again"}); err != nil || res.IsError || !strings.Contains(text(res), "again") {
				t.Errorf("echo after the refusal: %+v %v", res, err)
			}
		})

		t.Run("revoked mid-session", func(t *testing.T) {
			victim := g.create("sdk victim", store.TypeOAuth, []string{"mcp:read", "mcp:write"}, nil)
			c, err := connect(t, victim.Client.ID, victim.Secret, "2025-11-25")
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer c.cs.Close()
			if res, err := callTool(c, "echo", echoArgs{Text: "before"}); err != nil || res.IsError {
				t.Fatalf("echo: %+v %v", res, err)
			}
			if _, err := g.svc.Revoke(context.Background(), admin.CLI, victim.Client.ID); err != nil {
				t.Fatal(err)
			}
			var lastErr error
			took := eventually(t, time.Second, "revocation cutting the SDK client off", func() bool {
				_, lastErr = callTool(c, "echo", echoArgs{Text: "after"})
				return lastErr != nil
			})
			t.Logf("cut off after %s: %v", took, lastErr)
			after := echoes.Load()
			if _, err := callTool(c, "echo", echoArgs{Text: "still?"}); err == nil {
				t.Error("a revoked client called a tool")
			}
			if _, err := listTools(c); err == nil {
				t.Error("a revoked client listed tools")
			}
			if echoes.Load() != after {
				t.Error("a revoked client's call reached the tool")
			}
		})

		up.mu.Lock()
		defer up.mu.Unlock()
		if up.credential {
			t.Error("the upstream saw an Authorization or X-Blnk-Key header")
		}
		if len(up.hosts) != 1 || !up.hosts[upHost] {
			t.Errorf("upstream Host headers %v, want only %s", up.hosts, upHost)
		}
		t.Logf("upstream saw methods %v, protocol versions %v", up.methods, up.versions)
	})
}

// startSDKServer runs a real MCP Go SDK server, with the tools echo and
// transfer_funds, behind a recording upstream (stateful and stateless
// handlers) for the SDK end-to-end tests.
func startSDKServer(t *testing.T, name string) (up *sdkUpstream, upSrv *httptest.Server, echoes, transfers *atomic.Int64) {
	echoes, transfers = new(atomic.Int64), new(atomic.Int64)
	server := mcp.NewServer(&mcp.Implementation{Name: name, Version: "0.0.1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "echoes its text"},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, echoArgs, error) {
			echoes.Add(1)
			return nil, in, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "transfer_funds", Description: "moves money"},
		func(_ context.Context, _ *mcp.CallToolRequest, in transferArgs) (*mcp.CallToolResult, transferResult, error) {
			transfers.Add(1)
			return nil, transferResult{Status: "transferred"}, nil
		})
	// The SDK's handler has DNS-rebinding protection on by default
	// (StreamableHTTPOptions.DisableLocalhostProtection, mcp/streamable.go,
	// ServeHTTP): a request arriving on a loopback listener whose Host is
	// not a loopback name gets 403 "Forbidden: invalid Host header". A
	// gateway serving a public host name in front of a loopback MCP server
	// must therefore rewrite Host (header_up Host {upstream_hostport}), which
	// is what the config below does; nothing else was needed (no
	// Origin/CrossOriginProtection is set by default, and the SDK accepts the
	// unchanged body the gateway forwards).
	//
	// The SDK speaks protocol 2026-07-28 (its client's default) over HTTP
	// only when StreamableHTTPOptions.Stateless is set (mcp/streamable.go,
	// the stateful rejection of calls with a version >= 2026-07-28); a
	// stateful server answers server/discover with
	// CodeUnsupportedProtocolVersion and the client falls back to
	// initialize with 2025-11-25. Both servers are exercised.
	getServer := func(*http.Request) *mcp.Server { return server }
	up = &sdkUpstream{
		stateful:  mcp.NewStreamableHTTPHandler(getServer, nil),
		stateless: mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{Stateless: true}),
		methods:   map[string]int{},
		hosts:     map[string]bool{},
		versions:  map[string]bool{},
	}
	upSrv = httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	return up, upSrv, echoes, transfers
}

// sdkRoutes is the API site of the SDK end-to-end tests: an MCP mount with a
// tool rule, proxied to the SDK server with the Host rewrite it needs.
func sdkRoutes(upHost string) string {
	return `
	blnk_auth /mcp* {
		mcp {
			tool transfer_funds ledgers:write
		}
	}
	reverse_proxy ` + upHost + ` {
		header_up Host {upstream_hostport}
	}`
}
