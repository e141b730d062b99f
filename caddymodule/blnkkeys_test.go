package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// blnkStandIn is the upstream of the /api-keys tests: it answers 200 and
// remembers what reached it (method, request-target, X-Blnk-Key, body), so a
// test can see the exact query and body Blnk Core would have acted on.
type blnkStandIn struct {
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	method, uri, key, body string
}

func (s *blnkStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.seen = append(s.seen, seenRequest{r.Method, r.RequestURI, r.Header.Get("X-Blnk-Key"), string(body)})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{}`)
}

func (s *blnkStandIn) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func (s *blnkStandIn) last() seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		return seenRequest{}
	}
	return s.seen[len(s.seen)-1]
}

// startBlnkKeysGateway runs a blnk_api route (with extra blnk_api options)
// in front of a fresh stand-in upstream.
func startBlnkKeysGateway(t *testing.T, kind, options string) (*testGateway, *blnkStandIn) {
	up := &blnkStandIn{}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	g := startGateway(t, gatewayOptions{store: kind, apiRoutes: `
		blnk_auth {
			blnk_api {
				upstream_key gateway-master-key` + options + `
			}
		}
		reverse_proxy ` + strings.TrimPrefix(srv.URL, "http://")})
	return g, up
}

// send makes one request to the API site with a body (nil for none) and
// header name/value pairs.
func (g *testGateway) send(method, path string, body *string, headers ...string) tokenResponse {
	g.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(*body)
	}
	req, err := http.NewRequest(method, g.apiURL+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return g.do(req)
}

func ptr(s string) *string { return &s }

// TestBlnkAPIKeysRefusedByDefault: the gateway forwards its own (master)
// upstream key, for which Blnk Core skips the owner and escalation checks it
// applies to scoped keys. So unless the route enables it, Blnk's /api-keys is
// refused (403) whatever the caller's scopes, and nothing reaches Blnk.
// Before the fix a client holding api-keys:write POSTed
// {"owner": "someone-else", "scopes": ["*:*"]} through the gateway and got
// a full-power Blnk key; api-keys:read and api-keys:delete gave cross-owner
// listing and revocation the same way.
func TestBlnkAPIKeysRefusedByDefault(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g, up := startBlnkKeysGateway(t, kind, "")
		admin := g.create("key admin", store.TypeOAuth, []string{"api-keys:*", "ledgers:read"}, nil)
		everything := g.create("everything", store.TypeAPIKey, []string{"*"}, nil)
		for _, cred := range [][]string{
			bearer(g.token(admin.Client.ID, admin.Secret, nil)),
			{"X-Blnk-Key", everything.Secret},
		} {
			for _, c := range []struct {
				method, path string
				body         *string
			}{
				{"POST", "/api-keys", ptr(`{"name":"x","owner":"someone-else","scopes":["*:*"],"expires_at":"2030-01-01T00:00:00Z"}`)},
				{"GET", "/api-keys?owner=someone-else", nil},
				{"GET", "/api-keys", nil},
				{"DELETE", "/api-keys/api_key_1?owner=someone-else", nil},
				{"DELETE", "/api-keys/api_key_1", nil},
			} {
				before := up.count()
				headers := append([]string{"Content-Type", "application/json"}, cred...)
				r := g.send(c.method, c.path, c.body, headers...)
				if r.status != http.StatusForbidden || r.body["error"] != "insufficient_scope" {
					t.Errorf("%s %s: %d %s, want 403", c.method, c.path, r.status, r.raw)
				}
				if up.count() != before {
					t.Errorf("%s %s reached Blnk: %+v", c.method, c.path, up.last())
				}
			}
		}
		// Everything else still passes.
		if r := g.call("/ledgers", bearer(g.token(admin.Client.ID, admin.Secret, nil))...); r.status != 200 {
			t.Errorf("GET /ledgers: %d %s", r.status, r.raw)
		}
	})
}
