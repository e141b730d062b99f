package mcpscope

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// TestPeekBehindReverseProxy runs Peek where the gateway does: in an HTTP
// handler in front of a reverse proxy. Whatever Peek decides, it forwards
// the request, and the upstream must receive the client's bytes with the
// client's framing.
func TestPeekBehindReverseProxy(t *testing.T) {
	type seen struct {
		sum           [32]byte
		n             int
		contentLength int64
		chunked       bool
	}
	var (
		mu       sync.Mutex
		upstream seen
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("upstream read: %v", err)
		}
		mu.Lock()
		upstream = seen{sha256.Sum256(b), len(b), r.ContentLength, len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"}
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer up.Close()
	upURL, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(upURL)

	const maxBody = 256
	var (
		peeked  Call
		peekErr error
	)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Peek(r, maxBody)
		mu.Lock()
		peeked, peekErr = c, err
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	tests := []struct {
		name    string
		body    []byte
		headers map[string]string
		want    Call
		err     error
	}{
		{"tools/call", []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather"}}`), nil,
			Call{Method: "tools/call", Name: "get_weather", ID: []byte(`1`)}, nil},
		{"notification", []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), nil,
			Call{Method: "notifications/initialized"}, nil},
		{"malformed", []byte(`{"jsonrpc":"2.0","id":1,`), nil, Call{}, ErrParse},
		{"batch", []byte(`[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`), nil, Call{}, ErrBatch},
		{"just too large", hugeBody(maxBody + 1), nil, Call{}, ErrTooLarge},
		{"much too large", hugeBody(3 << 20), nil, Call{}, ErrTooLarge},
		{"header mode", hugeBody(3 << 20), map[string]string{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "get_weather"},
			Call{Method: "tools/call", Name: "get_weather"}, nil},
	}
	for _, tt := range tests {
		for _, chunked := range []bool{false, true} {
			name := tt.name
			if chunked {
				name += "/chunked"
			}
			t.Run(name, func(t *testing.T) {
				var body io.Reader = bytes.NewReader(tt.body)
				if chunked {
					body = struct{ io.Reader }{body} // unknown length: sent chunked
				}
				req, err := http.NewRequest(http.MethodPost, front.URL+"/mcp", body)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				for k, v := range tt.headers {
					req.Header.Set(k, v)
				}
				resp, err := front.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					t.Fatalf("status %d", resp.StatusCode)
				}

				mu.Lock()
				got, c, err := upstream, peeked, peekErr
				mu.Unlock()
				if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
					t.Errorf("Peek error = %v, want %v", err, tt.err)
				}
				if !sameCall(c, tt.want) {
					t.Errorf("Peek = %+v, want %+v", c, tt.want)
				}
				if got.sum != sha256.Sum256(tt.body) || got.n != len(tt.body) {
					t.Errorf("upstream received %d bytes that differ from the %d sent", got.n, len(tt.body))
				}
				wantCL := int64(len(tt.body))
				if chunked {
					wantCL = -1
				}
				if got.contentLength != wantCL || got.chunked != chunked {
					t.Errorf("upstream framing: Content-Length %d, chunked %v; want %d, %v", got.contentLength, got.chunked, wantCL, chunked)
				}
			})
		}
	}
}
