package caddymodule

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// slowPost sends a POST whose body arrives in two parts, first before and
// rest after the test calls between; it returns the response's status.
func slowPost(t *testing.T, url, apiKey, first, rest string, between func()) int {
	t.Helper()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, url, pr)
	req.Header.Set("X-Blnk-Key", apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	_, _ = pw.Write([]byte(first))
	between()
	_, _ = pw.Write([]byte(rest))
	_ = pw.Close()
	select {
	case status := <-done:
		return status
	case <-time.After(20 * time.Second):
		t.Fatal("the slow request got no answer")
	}
	return 0
}

// TestRevokedWhileBodyArrives: a request whose body is still arriving when its
// client is revoked never reaches the upstream, however long the upload takes
// (found by a hostile review: the request was registered for revocation only
// once its body had been read, on mcp routes and on Blnk's /api-keys).
func TestRevokedWhileBodyArrives(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		t.Run("mcp tools/call", func(t *testing.T) {
			g := startGateway(t, gatewayOptions{store: kind, apiRoutes: sdkRoutes("{upstream}")})
			c := g.create("slow", store.TypeAPIKey, []string{"mcp:read", "mcp:write", "ledgers:write"}, nil)
			status := slowPost(t, g.apiURL+"/mcp", c.Secret,
				`{"jsonrpc":"2.0","id":1,"method":"tools/call",`, `"params":{"name":"transfer_funds","arguments":{}}}`,
				func() {
					time.Sleep(200 * time.Millisecond) // the request is in the gateway, reading
					if _, err := g.svc.Revoke(context.Background(), adminCLI(), c.Client.ID); err != nil {
						t.Fatal(err)
					}
					eventually(t, 5*time.Second, "the revocation refusing new requests", func() bool {
						return g.call("/mcp", "X-Blnk-Key", c.Secret).status == http.StatusUnauthorized
					})
				})
			if status != http.StatusUnauthorized || strings.Contains(g.upstream.body(), "transfer_funds") {
				t.Errorf("slow tools/call after revocation: %d, upstream saw %q", status, g.upstream.body())
			}
		})
		t.Run("blnk_api POST /api-keys", func(t *testing.T) {
			g, up := startBlnkKeysGateway(t, kind, "\n\t\t\t\tmanage_api_keys")
			c := g.create("slow keys", store.TypeAPIKey, []string{"api-keys:*", "ledgers:read"}, nil)
			status := slowPost(t, g.apiURL+"/api-keys", c.Secret,
				`{"name":"k","owner":"`+c.Client.ID+`",`, `"scopes":["ledgers:read"]}`,
				func() {
					time.Sleep(200 * time.Millisecond)
					if _, err := g.svc.Revoke(context.Background(), adminCLI(), c.Client.ID); err != nil {
						t.Fatal(err)
					}
					eventually(t, 5*time.Second, "the revocation refusing new requests", func() bool {
						return g.call("/ledgers", "X-Blnk-Key", c.Secret).status == http.StatusUnauthorized
					})
				})
			up.mu.Lock()
			minted := 0
			for _, seen := range up.seen {
				if seen.method == http.MethodPost {
					minted++
				}
			}
			up.mu.Unlock()
			if status != http.StatusUnauthorized || minted != 0 {
				t.Errorf("slow POST /api-keys after revocation: %d, %d reached Blnk", status, minted)
			}
		})
	})
}

// staticKey is an http.RoundTripper that sends one fixed API key.
type staticKey struct{ key string }

func (s staticKey) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(APIKeyHeader, s.key)
	return http.DefaultTransport.RoundTrip(req)
}

// TestRolledAPIKeyEndsStream: a stream held with an API key ends when the key
// is rolled (at once with no grace period, at its end otherwise), as the old
// key stops working on new requests (found by a hostile review: it kept
// delivering).
func TestRolledAPIKeyEndsStream(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		up, upHost := startPulseServer(t)
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: sdkRoutes(upHost)})
		for _, grace := range []time.Duration{0, 2 * time.Second} {
			t.Run("grace "+grace.String(), func(t *testing.T) {
				c := g.create("leaked key", store.TypeAPIKey, []string{"mcp:read"}, nil)
				holdStream(t, g, staticKey{c.Secret})
				if _, err := g.svc.RollSecret(context.Background(), adminCLI(), c.Client.ID, grace); err != nil {
					t.Fatal(err)
				}
				took := eventually(t, grace+5*time.Second, "the gateway ending the held GET stream", func() bool { return up.streams.Load() == 0 })
				t.Logf("stream ended %s after the roll", took)
				if r := g.call("/mcp", APIKeyHeader, c.Secret); r.status != http.StatusUnauthorized {
					t.Errorf("the old key after the roll and its grace: %d", r.status)
				}
			})
		}
	})
}
