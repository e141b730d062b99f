package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// postInSession sends tools/list in session sid with token, as any HTTP
// client could, and returns the answer.
func postInSession(t *testing.T, g *testGateway, token, sid string) tokenResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.apiURL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	req.Header.Set("Mcp-Session-Id", sid)
	return g.do(req)
}

// wantSessionNotFound checks the MCP answer to an unknown session: 404 with a
// JSON-RPC error.
func wantSessionNotFound(t *testing.T, what string, r tokenResponse) {
	t.Helper()
	var body struct {
		JSONRPC string `json:"jsonrpc"`
		Error   *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if r.status != http.StatusNotFound || json.Unmarshal([]byte(r.raw), &body) != nil || body.JSONRPC != "2.0" || body.Error == nil {
		t.Errorf("%s: %d %s, want 404 with a JSON-RPC error", what, r.status, r.raw)
	}
}

// TestMCPSessionBoundToClient: an MCP session opened through the gateway by
// one client (the official MCP Go SDK) cannot be used by another client that
// learns its Mcp-Session-Id: that client gets 404 as for an unknown session,
// and nothing reaches the upstream. The session keeps working for its owner.
func TestMCPSessionBoundToClient(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		up, upHost := startPulseServer(t)
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: sdkRoutes(upHost)})
		owner := g.create("session owner", store.TypeOAuth, []string{"mcp:read"}, nil)
		other := g.create("session other", store.TypeOAuth, []string{"mcp:read"}, nil)
		ownerTok := g.token(owner.Client.ID, owner.Secret, nil)
		otherTok := g.token(other.Client.ID, other.Secret, nil)

		client := mcp.NewClient(&mcp.Implementation{Name: "blnk-session-client", Version: "0.0.1"}, nil)
		transport := &mcp.StreamableClientTransport{Endpoint: g.apiURL + "/mcp", HTTPClient: &http.Client{Transport: staticBearer{ownerTok}}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cs, err := client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer cs.Close()
		sid := cs.ID()
		if sid == "" {
			t.Fatal("no session ID")
		}
		if up.issued(sid) {
			t.Errorf("the client holds the upstream's own session ID %q: nothing binds it to the client", sid)
		}
		for _, c := range sid {
			if c < 0x21 || c > 0x7e {
				t.Fatalf("session ID %q has a character outside visible ASCII", sid)
			}
		}
		if res, err := cs.ListTools(ctx, nil); err != nil || len(res.Tools) != 1 {
			t.Fatalf("tools/list in the session: %v %v", res, err)
		}
		if r := postInSession(t, g, ownerTok, sid); r.status != http.StatusOK {
			t.Errorf("the owner in its own session: %d %s", r.status, r.raw)
		}

		before := up.posts.Load()
		wantSessionNotFound(t, "another client in the owner's session", postInSession(t, g, otherTok, sid))
		wantSessionNotFound(t, "a tampered session ID", postInSession(t, g, ownerTok, alterLast(sid)))
		wantSessionNotFound(t, "a made-up session ID", postInSession(t, g, ownerTok, "made-up"))
		if n := up.posts.Load() - before; n != 0 {
			t.Errorf("%d refused requests reached the upstream", n)
		}
		// The SDK session is unharmed.
		if res, err := cs.ListTools(ctx, nil); err != nil || len(res.Tools) != 1 {
			t.Errorf("tools/list after the refusals: %v %v", res, err)
		}
	})
}

// TestMCPSessionBoundToClientTypeScriptSDK: the same with the MCP TypeScript
// SDK on both ends. client.mjs opens a session of server.mjs (stateful);
// client.mjs resuming that session with another client's token is refused
// with 404, and with the owner's token works.
func TestMCPSessionBoundToClientTypeScriptSDK(t *testing.T) {
	requireMCPTS(t)
	forEachStore(t, func(t *testing.T, kind string) {
		srv := startTSServer(t, "stateful")
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: sdkRoutes(srv.hostport)})
		owner := g.create("ts session owner", store.TypeOAuth, []string{"mcp:read"}, nil)
		other := g.create("ts session other", store.TypeOAuth, []string{"mcp:read"}, nil)
		ownerTok := g.token(owner.Client.ID, owner.Secret, nil)
		otherTok := g.token(other.Client.ID, other.Secret, nil)
		endpoint := g.apiURL + "/mcp"

		_, sid := startTSStream(t, endpoint, ownerTok)
		if sid == "" {
			t.Fatal("no session ID")
		}
		res, code := runMCPTSSession(t, endpoint, ownerTok, sid)
		if code != tsExitOK || len(res.Tools) == 0 {
			t.Errorf("the owner resuming its session: exit %d %+v", code, res)
		}
		before := srv.calls(t)["requests"]
		res, code = runMCPTSSession(t, endpoint, otherTok, sid)
		if code != tsExitSessionRefused || len(res.Requests) != 1 || res.Requests[0].Status != http.StatusNotFound || !strings.Contains(res.CallError, "Session not found") {
			t.Errorf("another client resuming the owner's session: exit %d %+v, want %d after a 404 Session not found", code, res, tsExitSessionRefused)
		}
		if n := srv.calls(t)["requests"] - before; n != 0 {
			t.Errorf("%d requests of the other client reached the upstream", n)
		}
	})
}

// tsExitSessionRefused: client.mjs session mode's tools/list was refused.
const tsExitSessionRefused = 4

// runMCPTSSession runs client.mjs session: resume session sid with token.
func runMCPTSSession(t *testing.T, endpoint, token, sid string) (tsResult, int) {
	t.Helper()
	return runMCPTSEnv(t, "session", "MCP_ENDPOINT="+endpoint, "MCP_TOKEN="+token, "MCP_SESSION_ID="+sid)
}
