package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestMCPEnforcement: on an MCP mount the JSON-RPC method decides the scope,
// per-tool rules add to it, malformed messages get JSON-RPC errors, and the
// body reaches the upstream intact.
func TestMCPEnforcement(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: `
	blnk_auth /mcp* {
		mcp {
			tool transfer_funds ledgers:write
		}
	}
	reverse_proxy {upstream}`})
		reader := g.create("reader", store.TypeOAuth, []string{"mcp:read"}, nil)
		writer := g.create("writer", store.TypeOAuth, []string{"mcp:write"}, nil)
		banker := g.create("banker", store.TypeOAuth, []string{"mcp:write", "ledgers:write"}, nil)
		rt, wt, bt := g.token(reader.Client.ID, reader.Secret, nil), g.token(writer.Client.ID, writer.Secret, nil), g.token(banker.Client.ID, banker.Secret, nil)

		rpc := func(tok, method, body string, headers ...string) tokenResponse {
			req, _ := http.NewRequest(method, g.apiURL+"/mcp", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			return g.do(req)
		}
		call := func(tool string) string {
			return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
		}
		list := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`

		cases := []struct {
			name, tok, method, body string
			headers                 []string
			status                  int
			scope                   string // the challenge's scope on a 403
		}{
			{"reader lists", rt, "POST", list, nil, 200, ""},
			{"reader initializes", rt, "POST", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}`, nil, 200, ""},
			{"reader notifies", rt, "POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil, 200, ""},
			{"reader calls a tool", rt, "POST", call("echo"), nil, 403, "mcp:write"},
			{"writer calls a tool", wt, "POST", call("echo"), nil, 200, ""},
			{"writer calls a guarded tool", wt, "POST", call("transfer_funds"), nil, 403, "ledgers:write mcp:write"},
			{"banker calls a guarded tool", bt, "POST", call("transfer_funds"), nil, 200, ""},
			{"reader opens the SSE stream", rt, "GET", "", nil, 200, ""},
			{"reader ends the session", rt, "DELETE", "", nil, 200, ""},
			{"unknown method fails closed", rt, "POST", `{"jsonrpc":"2.0","id":2,"method":"tools/unheard"}`, nil, 403, "mcp:write"},
			{"headers trusted when they match", wt, "POST", call("echo"), []string{"MCP-Protocol-Version", "2026-07-28", "Mcp-Method", "tools/call", "Mcp-Name", "echo"}, 200, ""},
		}
		for _, tc := range cases {
			r := rpc(tc.tok, tc.method, tc.body, tc.headers...)
			if r.status != tc.status {
				t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.raw, tc.status)
				continue
			}
			if tc.status == 403 && !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="`+tc.scope+`"`) {
				t.Errorf("%s: challenge %q, want scope=%q", tc.name, r.header.Get("WWW-Authenticate"), tc.scope)
			}
			if tc.status == 200 && tc.method == "POST" && g.upstream.body() != tc.body {
				t.Errorf("%s: upstream got %q, want the body intact", tc.name, g.upstream.body())
			}
			// The replayed body keeps its Content-Length: reverse_proxy must
			// not switch to chunked encoding because blnk_auth read it.
			if n, chunked := g.upstream.framing(); tc.status == 200 && tc.method == "POST" && (n != int64(len(tc.body)) || chunked) {
				t.Errorf("%s: upstream got Content-Length %d (chunked %v), want %d", tc.name, n, chunked, len(tc.body))
			}
		}

		// Malformed JSON-RPC: a JSON-RPC error, not a crash, and nothing upstream.
		before := g.upstream.hitCount()
		for name, tc := range map[string]struct {
			body    string
			headers []string
			code    string
		}{
			"batch":           {`[` + list + `]`, nil, "-32600"},
			"not json":        {`{"jsonrpc":`, nil, "-32700"},
			"wrong version":   {`{"jsonrpc":"1.0","id":1,"method":"tools/list"}`, nil, "-32600"},
			"header mismatch": {call("echo"), []string{"MCP-Protocol-Version", "2026-07-28", "Mcp-Method", "tools/list"}, "-32020"},
		} {
			r := rpc(wt, "POST", tc.body, tc.headers...)
			if r.status != 400 || !strings.Contains(r.raw, `"jsonrpc":"2.0"`) || !strings.Contains(r.raw, `"code":`+tc.code) {
				t.Errorf("%s: %d %s, want a JSON-RPC error %s", name, r.status, r.raw, tc.code)
			}
		}
		if big := rpc(wt, "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"pad":"`+strings.Repeat("a", 2<<20)+`"}}}`); big.status != 413 {
			t.Errorf("oversized: %d", big.status)
		}
		if g.upstream.hitCount() != before {
			t.Error("a malformed message reached the upstream")
		}

		// The 401 asks for the least an MCP client needs.
		r := rpc("", "POST", list)
		if ch := r.header.Get("WWW-Authenticate"); r.status != 401 || !strings.Contains(ch, `scope="mcp:read"`) {
			t.Errorf("401 challenge %q", ch)
		}
		md := g.call("/.well-known/oauth-protected-resource/mcp")
		if !strings.Contains(md.raw, `"scopes_supported":["ledgers:write","mcp:read","mcp:write"]`) {
			t.Errorf("metadata scopes: %s", md.raw)
		}
		// The one mount of the config also answers the root variant (RFC 9728 §3).
		if root := g.call("/.well-known/oauth-protected-resource"); root.status != 200 || root.raw != md.raw {
			t.Errorf("root metadata: %d %s", root.status, root.raw)
		}
	})
}
