package caddymodule

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// utf7Smuggle returns one body that reads as tools/list to a UTF-8 reader and
// as tools/call of tool to a UTF-7 reader. In UTF-7, "+…-" is base64 of
// UTF-16BE text; in UTF-8 it is a few letters inside a string. The hidden text
// closes that string and repeats "method" and "params", and JSON.parse keeps
// the last of duplicate members.
func utf7Smuggle(tool string) []byte {
	hidden := `"}},"method":"tools/call","params":{"name":"` + tool + `","arguments":{"x":"`
	var be []byte
	for _, u := range utf16.Encode([]rune(hidden)) {
		be = append(be, byte(u>>8), byte(u))
	}
	return []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"` + tool +
		`","arguments":{"x":"+` + base64.RawStdEncoding.EncodeToString(be) + `-"}}}`)
}

// utf16LE encodes s as UTF-16LE.
func utf16LE(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func gzipped(s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return buf.Bytes()
}

// TestMCPCharsetSmuggling: in front of an MCP server built as the TypeScript
// SDK documents it (createMcpExpressApp, whose express.json() decodes a body
// by its declared charset and Content-Encoding), a client holding only
// mcp:read cannot get the guarded tool to run by making the gateway and the
// server read one body two ways. Each trick is refused with a JSON-RPC error
// and never reaches the server; a plain request and the real SDK client still
// work.
func TestMCPCharsetSmuggling(t *testing.T) {
	requireMCPTS(t)
	forEachStore(t, func(t *testing.T, kind string) {
		up := startTSServer(t, "stateless")
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: sdkRoutes(up.hostport)})
		reader := g.create("reader", store.TypeOAuth, []string{"mcp:read"}, nil)
		rt := g.token(reader.Client.ID, reader.Secret, nil)

		post := func(body []byte, headers ...string) tokenResponse {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, g.apiURL+"/mcp", bytes.NewReader(body))
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+rt)
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Add(headers[i], headers[i+1])
			}
			return g.do(req)
		}
		call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer_funds","arguments":{}}}`
		list := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
		smuggle := utf7Smuggle("transfer_funds")
		if !strings.Contains(string(smuggle), `"method":"tools/list"`) || strings.Contains(string(smuggle), "tools/call") {
			t.Fatalf("smuggling body reads wrong in UTF-8: %s", smuggle)
		}

		// The plain request works: what follows is refused for its framing,
		// not because the route is broken.
		for _, ct := range []string{"application/json", "application/json; charset=utf-8", `application/json;charset="UTF-8"`, "Application/JSON; Charset=Utf-8"} {
			if r := post([]byte(list), "Content-Type", ct); r.status != http.StatusOK || !strings.Contains(r.raw, "transfer_funds") {
				t.Fatalf("tools/list with Content-Type %q: %d %s", ct, r.status, r.raw)
			}
		}
		before := up.calls(t)

		cases := []struct {
			name    string
			body    []byte
			headers []string
			status  int
		}{
			{"utf-7", smuggle, []string{"Content-Type", "application/json; charset=utf-7"}, 415},
			{"quoted UTF-7", smuggle, []string{"Content-Type", `application/json; charset="UTF-7"`}, 415},
			{"utf-7 in the first of two Content-Types", smuggle, []string{"Content-Type", "application/json; charset=utf-7", "Content-Type", "application/json"}, 400},
			{"utf-7 in the second of two charsets", smuggle, []string{"Content-Type", "application/json; charset=utf-8; charset=utf-7"}, 400},
			{"RFC 2231 charset", smuggle, []string{"Content-Type", "application/json; charset*=utf-8''utf-7"}, 415},
			{"utf-16le", utf16LE(call), []string{"Content-Type", "application/json; charset=utf-16le"}, 415},
			{"other parameter", []byte(call), []string{"Content-Type", "application/json; profile=x"}, 415},
			{"no Content-Type", []byte(call), nil, 415},
			{"text/plain", []byte(call), []string{"Content-Type", "text/plain"}, 415},
			{"malformed Content-Type", []byte(call), []string{"Content-Type", "application/json; charset"}, 400},
			{"gzip", gzipped(call), []string{"Content-Type", "application/json", "Content-Encoding", "gzip"}, 415},
			{"gzip after identity", gzipped(call), []string{"Content-Type", "application/json", "Content-Encoding", "identity, gzip"}, 415},
			{"two Content-Encodings", gzipped(call), []string{"Content-Type", "application/json", "Content-Encoding", "identity", "Content-Encoding", "gzip"}, 415},
			{"UTF-8 BOM", append([]byte("\xef\xbb\xbf"), call...), []string{"Content-Type", "application/json"}, 400},
			{"invalid UTF-8", []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"` + "\xff\xfe" + `"}}`), []string{"Content-Type", "application/json"}, 400},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := post(c.body, c.headers...)
				if r.status != c.status {
					t.Errorf("status %d, want %d: %s", r.status, c.status, r.raw)
				}
				var rpc struct {
					JSONRPC string `json:"jsonrpc"`
					Error   *struct {
						Code    int    `json:"code"`
						Message string `json:"message"`
					} `json:"error"`
				}
				if err := json.Unmarshal([]byte(r.raw), &rpc); err != nil || rpc.JSONRPC != "2.0" || rpc.Error == nil {
					t.Errorf("answer is not a JSON-RPC error: %s", r.raw)
				}
			})
		}
		after := up.calls(t)
		if after["transfer_funds"] != before["transfer_funds"] {
			t.Errorf("the guarded tool ran %d times for a read-only client", after["transfer_funds"]-before["transfer_funds"])
		}
		if after["requests"] != before["requests"] {
			t.Errorf("%d refused requests reached the server", after["requests"]-before["requests"])
		}

		// A body on a bodiless method is refused too: a server that reads it
		// anyway would act on what the gateway never judged.
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			req, _ := http.NewRequest(method, g.apiURL+"/mcp", strings.NewReader(call))
			req.Header.Set("Authorization", "Bearer "+rt)
			req.Header.Set("Content-Type", "application/json")
			if r := g.do(req); r.status != http.StatusBadRequest || !strings.Contains(r.raw, `"jsonrpc":"2.0"`) {
				t.Errorf("%s with a body: %d %s, want a 400 JSON-RPC error", method, r.status, r.raw)
			}
		}

		// The real SDK client still works against this server.
		full := g.create("ts full", store.TypeOAuth, []string{"mcp:read", "mcp:write"}, nil)
		res, code := runMCPTS(t, "full", g.apiURL+"/mcp", full.Client.ID, full.Secret)
		if code != tsExitOK || res.Echo == nil || !strings.Contains(res.Echo.Text, "echo: hello from full") {
			t.Errorf("SDK client: exit %d, %+v", code, res)
		}
		res, code = runMCPTS(t, "readonly", g.apiURL+"/mcp", reader.Client.ID, reader.Secret)
		if code != tsExitCallRefused || len(res.Tools) != 3 {
			t.Errorf("read-only SDK client: exit %d (want %d), %+v", code, tsExitCallRefused, res)
		}
	})
}
