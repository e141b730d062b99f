package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// mcpTSDir is the Node project driving the MCP TypeScript SDK
// (@modelcontextprotocol/sdk, pinned exactly in package.json and
// package-lock.json). Its node_modules is not committed: the test installs it.
const mcpTSDir = "testdata/mcp-ts"

// Exit codes of testdata/mcp-ts/client.mjs.
const (
	tsExitOK          = 0
	tsExitCallRefused = 3 // connect and tools/list worked, tools/call was refused
)

// tsRequest is one HTTP request the TypeScript SDK made, as client.mjs recorded it.
type tsRequest struct {
	Method     string            `json:"method"`
	URL        string            `json:"url"`
	AuthScheme string            `json:"authScheme"`
	Basic      string            `json:"basic"` // the decoded Basic credentials, as sent
	Form       map[string]string `json:"form"`
	Status     int               `json:"status"`
	Challenge  string            `json:"challenge"`
}

// tsResult is client.mjs's JSON line.
type tsResult struct {
	Mode            string   `json:"mode"`
	ProtocolVersion string   `json:"protocolVersion"`
	SessionID       string   `json:"sessionId"`
	Tools           []string `json:"tools"`
	Echo            *struct {
		IsError bool   `json:"isError"`
		Text    string `json:"text"`
	} `json:"echo"`
	CallError string      `json:"callError"`
	Error     string      `json:"error"`
	Requests  []tsRequest `json:"requests"`
}

var (
	mcpTSInstall    sync.Once
	mcpTSInstallErr error
)

// requireMCPTS makes sure node, npm and the Node project's dependencies are
// there. Without node or npm the test fails on CI and is skipped elsewhere.
func requireMCPTS(t *testing.T) {
	t.Helper()
	needNode(t, "the MCP TypeScript SDK test")
	mcpTSInstall.Do(func() {
		if _, err := os.Stat(filepath.Join(mcpTSDir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = mcpTSDir
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			mcpTSInstallErr = errors.New("npm ci in " + mcpTSDir + ": " + err.Error() + "\n" + string(out))
		}
	})
	if mcpTSInstallErr != nil {
		t.Fatal(mcpTSInstallErr)
	}
}

// runMCPTS runs client.mjs in mode with only the endpoint and the credentials.
func runMCPTS(t *testing.T, mode, endpoint, id, secret string) (tsResult, int) {
	t.Helper()
	return runMCPTSEnv(t, mode, "MCP_ENDPOINT="+endpoint, "MCP_CLIENT_ID="+id, "MCP_CLIENT_SECRET="+secret)
}

// runMCPTSEnv runs client.mjs in mode with env added to the environment.
func runMCPTSEnv(t *testing.T, mode string, env ...string) (tsResult, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "client.mjs", mode)
	cmd.Dir = mcpTSDir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running client.mjs %s: %v\nstderr: %s", mode, err, stderr.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("client.mjs %s timed out\nstdout: %s\nstderr: %s", mode, stdout.String(), stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("client.mjs %s stderr: %s", mode, s)
	}
	var res tsResult
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("client.mjs %s (exit %d) printed no JSON result: %v\nstdout: %s\nstderr: %s", mode, code, err, stdout.String(), stderr.String())
	}
	return res, code
}

// TestMCPTypeScriptSDK: the official MCP TypeScript SDK's client, through the
// gateway, to an MCP Go SDK server. The client gets only the endpoint, a client
// ID and a secret, and uses the SDK's ClientCredentialsProvider
// (@modelcontextprotocol/sdk/client/auth-extensions.js) with
// StreamableHTTPClientTransport: it finds the authorization server from the
// 401 (RFC 9728, then RFC 8414) and fetches a token with the client
// credentials grant. On 403 insufficient_scope it fetches a token again and
// retries once; since the provider never sends a scope parameter (the SDK's
// fetchToken uses the provider's clientMetadata.scope, not the challenged
// scope), the token carries all the client's scopes from the start, and a
// client lacking mcp:write gets the same 403 again and gives up.
//
// What the SDK sends to the token endpoint, checked below:
//   - client_secret_basic as btoa(id + ":" + secret), without the RFC 6749
//     §2.3.1 form-encoding. The gateway accepts it because its client IDs and
//     secrets contain no character that form-encoding would change (asserted).
//   - resource equal to the protected resource metadata's resource, verbatim:
//     the mount's canonical URL, which the gateway accepts.
func TestMCPTypeScriptSDK(t *testing.T) {
	requireMCPTS(t)
	forEachStore(t, func(t *testing.T, kind string) {
		// As in TestMCPSDK: the Go SDK's DNS-rebinding protection needs the
		// loopback Host, hence header_up Host {upstream_hostport}.
		up, upSrv, echoes, _ := startSDKServer(t, "blnk-ts-test")
		upHost := strings.TrimPrefix(upSrv.URL, "http://")

		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: sdkRoutes(upHost)})
		endpoint := g.apiURL + "/mcp"
		prm := g.apiURL + "/.well-known/oauth-protected-resource/mcp"

		// The resource the protected resource metadata advertises.
		resp, err := http.Get(prm)
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Resource string `json:"resource"`
		}
		err = json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		if err != nil || meta.Resource == "" {
			t.Fatalf("protected resource metadata: %v %+v", err, meta)
		}

		// tokenRequests checks every token request: Basic credentials sent
		// unencoded, and the metadata's resource.
		tokenRequests := func(t *testing.T, res tsResult, id, secret string) (scopes []string) {
			t.Helper()
			if url.QueryEscape(id) != id || url.QueryEscape(secret) != secret {
				t.Fatalf("client ID %q or secret needs form-encoding; the TS SDK would send it unencoded", id)
			}
			for _, r := range res.Requests {
				if r.URL != g.authURL+"/oauth/token" {
					continue
				}
				if r.AuthScheme != "Basic" || r.Basic != id+":"+secret {
					t.Errorf("token request credentials: %s %q, want Basic %q", r.AuthScheme, r.Basic, id+":"+secret)
				}
				if r.Form["grant_type"] != "client_credentials" || r.Form["resource"] != meta.Resource {
					t.Errorf("token request form %v, want client_credentials and resource=%s", r.Form, meta.Resource)
				}
				if len(scopes) == 0 {
					t.Logf("token request: Authorization %s %q, form %v", r.AuthScheme, r.Basic, r.Form)
				}
				scopes = append(scopes, r.Form["scope"])
			}
			return scopes
		}

		t.Run("full client", func(t *testing.T) {
			full := g.create("ts full", store.TypeOAuth, []string{"mcp:read", "mcp:write", "ledgers:write"}, nil)
			before := echoes.Load()
			res, code := runMCPTS(t, "full", endpoint, full.Client.ID, full.Secret)
			if code != tsExitOK || res.Error != "" || res.CallError != "" {
				t.Fatalf("client.mjs full: exit %d, %+v", code, res)
			}
			t.Logf("protocol %s, session %q, tools %v, echo %+v", res.ProtocolVersion, res.SessionID, res.Tools, res.Echo)
			if strings.Join(res.Tools, ",") != "echo,transfer_funds" {
				t.Errorf("tools/list: %v", res.Tools)
			}
			if res.Echo == nil || res.Echo.IsError || !strings.Contains(res.Echo.Text, "hello from full") {
				t.Errorf("echo: %+v", res.Echo)
			}
			if echoes.Load() != before+1 {
				t.Errorf("echo ran %d times, want 1", echoes.Load()-before)
			}
			// Discovery from the 401's resource_metadata, then the token endpoint.
			reqs := res.Requests
			if len(reqs) < 4 || reqs[0].Method != "POST" || reqs[0].URL != endpoint || reqs[0].Status != 401 || reqs[0].AuthScheme != "" ||
				!strings.Contains(reqs[0].Challenge, `resource_metadata="`+prm+`"`) {
				t.Fatalf("first requests: %+v", reqs)
			}
			var sawPRM, sawASM bool
			for _, r := range reqs {
				sawPRM = sawPRM || (r.Method == "GET" && r.URL == prm && r.Status == 200)
				sawASM = sawASM || (r.Method == "GET" && r.URL == g.authURL+"/.well-known/oauth-authorization-server" && r.Status == 200)
			}
			if !sawPRM || !sawASM {
				t.Errorf("no successful discovery (PRM %v, AS metadata %v): %+v", sawPRM, sawASM, reqs)
			}
			// ClientCredentialsProvider sends no scope parameter (fetchToken uses
			// the provider's clientMetadata.scope, unset here, not the challenged
			// scope), so the gateway grants all the client's scopes: one token
			// request, and tools/call needs no step-up.
			if scopes := tokenRequests(t, res, full.Client.ID, full.Secret); len(scopes) != 1 || scopes[0] != "" {
				t.Errorf("token request scopes %q, want one request without scope", scopes)
			}
			for _, r := range reqs[1:] {
				if r.URL == endpoint && (r.Status == 401 || r.Status == 403) {
					t.Errorf("MCP request refused after authorization: %+v", r)
				}
			}
		})

		t.Run("read-only client", func(t *testing.T) {
			reader := g.create("ts reader", store.TypeOAuth, []string{"mcp:read"}, nil)
			before := echoes.Load()
			res, code := runMCPTS(t, "readonly", endpoint, reader.Client.ID, reader.Secret)
			if code != tsExitCallRefused || res.Error != "" {
				t.Fatalf("client.mjs readonly: exit %d, want %d (tools/call refused): %+v", code, tsExitCallRefused, res)
			}
			t.Logf("tools/call refused: %s", res.CallError)
			if len(res.Tools) != 2 {
				t.Errorf("tools/list: %v", res.Tools)
			}
			if res.Echo != nil {
				t.Errorf("a read-only client called a tool: %+v", res.Echo)
			}
			// The 403 asks for mcp:write; the SDK fetches a new token (again
			// without a scope parameter, so again only mcp:read), retries, gets
			// the same 403 and gives up.
			if !strings.Contains(res.CallError, "403") {
				t.Errorf("call error %q, want the 403 after the step-up attempt", res.CallError)
			}
			refused := 0
			for _, r := range res.Requests {
				if r.URL == endpoint && r.Status == 403 && strings.Contains(r.Challenge, `error="insufficient_scope"`) && strings.Contains(r.Challenge, "mcp:write") {
					refused++
				}
			}
			if refused != 2 {
				t.Errorf("%d 403 insufficient_scope answers asking for mcp:write, want 2 (the call and its retry): %+v", refused, res.Requests)
			}
			if scopes := tokenRequests(t, res, reader.Client.ID, reader.Secret); len(scopes) != 2 || scopes[0] != "" || scopes[1] != "" {
				t.Errorf("token request scopes %q, want two requests without scope (initial, step-up attempt)", scopes)
			}
			if echoes.Load() != before {
				t.Error("the refused call reached the tool")
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

// tsServer is testdata/mcp-ts/server.mjs running: an MCP server built the
// way the MCP TypeScript SDK documents it (createMcpExpressApp +
// StreamableHTTPServerTransport).
type tsServer struct {
	hostport string // 127.0.0.1:port
}

// startTSServer runs server.mjs in mode ("stateless" or "stateful") until the
// test ends.
func startTSServer(t *testing.T, mode string) *tsServer {
	t.Helper()
	requireMCPTS(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", "server.mjs", mode)
	cmd.Dir = mcpTSDir
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if s := strings.TrimSpace(stderr.String()); s != "" {
			t.Logf("server.mjs stderr: %s", s)
		}
	})
	ready := make(chan int, 1)
	go func() {
		var hello struct {
			Port int `json:"port"`
		}
		if err := json.NewDecoder(stdout).Decode(&hello); err == nil {
			ready <- hello.Port
		}
		close(ready)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case port, ok := <-ready:
		if !ok || port == 0 {
			t.Fatalf("server.mjs did not start: %s", stderr.String())
		}
		return &tsServer{hostport: fmt.Sprintf("127.0.0.1:%d", port)}
	case <-time.After(30 * time.Second):
		t.Fatalf("server.mjs did not start within 30s: %s", stderr.String())
	}
	return nil
}

// calls reports how often each tool ran and how many HTTP requests reached
// the server, asked of the server directly (not through the gateway).
func (s *tsServer) calls(t *testing.T) map[string]int {
	t.Helper()
	resp, err := http.Get("http://" + s.hostport + "/__calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}
