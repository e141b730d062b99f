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

// TestBlnkAPIKeysManaged: with manage_api_keys the gateway applies Blnk Core's
// own rules for a scoped key, with the caller's client ID as the owner: a new
// key's owner is the caller and its scopes within the caller's, and list and
// revoke reach Blnk with exactly owner=<client ID>. The body is judged only
// when Blnk can read it one way, and reaches Blnk byte for byte.
//
// Checked once by hand against real Blnk Core (github.com/blnkfinance/blnk at
// cba0072, built from source with its listen addresses patched to 127.0.0.1,
// secure mode on, PostgreSQL and Redis on loopback), with a gateway client
// holding "api-keys:* ledgers:read":
//
//   - Directly, with the master key the gateway forwards, POST /api-keys
//     {"owner":"someone-else","scopes":["*:*"]} answered 201 with a *:* key
//     for someone-else: what the gateway used to pass on unchanged.
//   - Through a blnk_api route without manage_api_keys: that POST and
//     GET /api-keys?owner=someone-else got 403 at the gateway;
//     /ledgers/../api-keys, /ledgers/%2e%2e/api-keys and
//     /ledgers/..%2Fapi-keys got 400.
//   - With manage_api_keys: owner someone-else → 403; own owner with *:* →
//     403; own owner with ledgers:read → 201 from Blnk, owner_id the client
//     ID, and that key then read /ledgers (200) but could not POST there
//     (403) on Blnk directly. GET /api-keys listed only the caller's key;
//     ?owner=someone-else → 403. DELETE of someone-else's key → Blnk's 404,
//     the key stayed unrevoked; DELETE of its own → 204, and the key then got
//     401 from Blnk.
func TestBlnkAPIKeysManaged(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g, up := startBlnkKeysGateway(t, kind, "\n\t\t\t\tmanage_api_keys")
		caller := g.create("key admin", store.TypeOAuth, []string{"api-keys:*", "ledgers:read", "balances:*"}, nil)
		key := g.create("key admin key", store.TypeAPIKey, []string{"api-keys:write", "*:read"}, nil)
		tok := g.token(caller.Client.ID, caller.Secret, nil)
		me := caller.Client.ID
		create := func(owner, scopes string) string {
			return `{"name":"k","owner":"` + owner + `","scopes":` + scopes + `,"expires_at":"2030-01-01T00:00:00Z"}`
		}
		jsonCT := []string{"Content-Type", "application/json"}
		cases := []struct {
			name, method, path string
			body               *string
			headers            []string
			status             int
			need               string // scope named by a 403 challenge
			wantURI            string // what Blnk receives, when it does
		}{
			{"create own, narrower", "POST", "/api-keys", ptr(create(me, `["ledgers:read","balances:write"]`)), jsonCT, 200, "", "/api-keys"},
			{"create own, equal wildcard", "POST", "/api-keys", ptr(create(me, `["balances:*","api-keys:delete"]`)), jsonCT, 200, "", "/api-keys"},
			{"create own, no scopes", "POST", "/api-keys", ptr(create(me, `[]`)), []string{"Content-Type", "application/json; charset=utf-8"}, 200, "", "/api-keys"},
			{"create own, escaped name", "POST", "/api-keys", ptr(`{"\u006fwner":"` + me + `","scopes":["ledgers:read"]}`), jsonCT, 200, "", "/api-keys"},
			{"another owner", "POST", "/api-keys", ptr(create("someone-else", `["ledgers:read"]`)), jsonCT, 403, "", ""},
			{"another owner, escaped name", "POST", "/api-keys", ptr(`{"\u006fwner":"someone-else","scopes":["ledgers:read"]}`), jsonCT, 403, "", ""},
			{"escalation to everything", "POST", "/api-keys", ptr(create(me, `["*:*"]`)), jsonCT, 403, "*:*", ""},
			{"escalation to an action", "POST", "/api-keys", ptr(create(me, `["ledgers:read","ledgers:write"]`)), jsonCT, 403, "ledgers:write", ""},
			{"escalation to a resource wildcard", "POST", "/api-keys", ptr(create(me, `["ledgers:*"]`)), jsonCT, 403, "ledgers:*", ""},
			{"escalation to an action wildcard", "POST", "/api-keys", ptr(create(me, `["*:read"]`)), jsonCT, 403, "*:read", ""},
			{"owner twice", "POST", "/api-keys", ptr(`{"owner":"` + me + `","owner":"someone-else","scopes":[]}`), jsonCT, 400, "", ""},
			{"owner in upper case", "POST", "/api-keys", ptr(`{"owner":"` + me + `","OWNER":"someone-else","scopes":[]}`), jsonCT, 400, "", ""},
			{"scopes with a long s", "POST", "/api-keys", ptr(`{"owner":"` + me + `","scopes":[],"ſcopes":["*:*"]}`), jsonCT, 400, "", ""},
			{"second object", "POST", "/api-keys", ptr(create(me, `[]`) + create("someone-else", `["*:*"]`)), jsonCT, 400, "", ""},
			{"owner missing", "POST", "/api-keys", ptr(`{"scopes":["ledgers:read"]}`), jsonCT, 400, "", ""},
			{"owner null", "POST", "/api-keys", ptr(`{"owner":null,"scopes":["ledgers:read"]}`), jsonCT, 400, "", ""},
			{"scopes missing", "POST", "/api-keys", ptr(`{"owner":"` + me + `"}`), jsonCT, 400, "", ""},
			{"scopes a string", "POST", "/api-keys", ptr(create(me, `"*:*"`)), jsonCT, 400, "", ""},
			{"scope not Blnk's", "POST", "/api-keys", ptr(create(me, `["ledgers"]`)), jsonCT, 400, "", ""},
			{"bare star", "POST", "/api-keys", ptr(create(me, `["*"]`)), jsonCT, 400, "", ""},
			{"scope null", "POST", "/api-keys", ptr(create(me, `[null]`)), jsonCT, 400, "", ""},
			{"not JSON", "POST", "/api-keys", ptr(`{"owner":`), jsonCT, 400, "", ""},
			{"invalid UTF-8", "POST", "/api-keys", ptr(`{"owner":"` + me + "\xff" + `","scopes":[]}`), jsonCT, 400, "", ""},
			{"byte order mark", "POST", "/api-keys", ptr("\xef\xbb\xbf" + create(me, `[]`)), jsonCT, 400, "", ""},
			{"no body", "POST", "/api-keys", nil, jsonCT, 400, "", ""},
			{"text/plain", "POST", "/api-keys", ptr(create(me, `[]`)), []string{"Content-Type", "text/plain"}, 415, "", ""},
			{"utf-7", "POST", "/api-keys", ptr(create(me, `[]`)), []string{"Content-Type", "application/json; charset=utf-7"}, 415, "", ""},
			{"gzip", "POST", "/api-keys", ptr(create(me, `[]`)), []string{"Content-Type", "application/json", "Content-Encoding", "gzip"}, 415, "", ""},
			{"two content types", "POST", "/api-keys", ptr(create(me, `[]`)), []string{"Content-Type", "application/json", "Content-Type", "text/plain"}, 400, "", ""},
			{"too large", "POST", "/api-keys", ptr(`{"owner":"` + me + `","scopes":[],"name":"` + strings.Repeat("a", 70<<10) + `"}`), jsonCT, 413, "", ""},
			{"list own", "GET", "/api-keys", nil, nil, 200, "", "/api-keys?owner=" + me},
			{"list own, named", "GET", "/api-keys?owner=" + me + "&x=1", nil, nil, 200, "", "/api-keys?owner=" + me},
			{"list another's", "GET", "/api-keys?owner=someone-else", nil, nil, 403, "", ""},
			{"list own and another's", "GET", "/api-keys?owner=" + me + "&owner=someone-else", nil, nil, 403, "", ""},
			{"list, query does not parse", "GET", "/api-keys?owner=%zz", nil, nil, 400, "", ""},
			{"revoke own", "DELETE", "/api-keys/api_key_1", nil, nil, 200, "", "/api-keys/api_key_1?owner=" + me},
			{"revoke another's", "DELETE", "/api-keys/api_key_1?owner=someone-else", nil, nil, 403, "", ""},
			{"not a Blnk route", "GET", "/api-keys/api_key_1", nil, nil, 403, "", ""},
			{"not a Blnk route either", "PUT", "/api-keys", ptr(create(me, `[]`)), jsonCT, 403, "", ""},
		}
		for _, c := range cases {
			before := up.count()
			r := g.send(c.method, c.path, c.body, append(append([]string(nil), c.headers...), bearer(tok)...)...)
			if r.status != c.status {
				t.Errorf("%s: %d %s, want %d", c.name, r.status, r.raw, c.status)
				continue
			}
			if c.status != 200 {
				if up.count() != before {
					t.Errorf("%s reached Blnk: %+v", c.name, up.last())
				}
				if c.need != "" && !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="`+c.need+`"`) {
					t.Errorf("%s: challenge %q should name %s", c.name, r.header.Get("WWW-Authenticate"), c.need)
				}
				continue
			}
			got := up.last()
			if up.count() != before+1 || got.uri != c.wantURI || got.key != "gateway-master-key" {
				t.Errorf("%s: Blnk saw %+v, want %s", c.name, got, c.wantURI)
			}
			if c.body != nil && got.body != *c.body {
				t.Errorf("%s: Blnk got body %q, want it byte for byte", c.name, got.body)
			}
		}

		// An API key of the gateway: its own client ID is the owner.
		r := g.send("POST", "/api-keys", ptr(create(key.Client.ID, `["ledgers:read"]`)), "Content-Type", "application/json", "X-Blnk-Key", key.Secret)
		if r.status != 200 {
			t.Errorf("API key creates its own: %d %s", r.status, r.raw)
		}
		r = g.send("POST", "/api-keys", ptr(create(me, `["ledgers:read"]`)), "Content-Type", "application/json", "X-Blnk-Key", key.Secret)
		if r.status != 403 {
			t.Errorf("API key creates for another client: %d %s", r.status, r.raw)
		}
		// The route's scope still comes first: no api-keys:write, no create.
		reader := g.create("reader", store.TypeOAuth, []string{"*:read"}, nil)
		rt := g.token(reader.Client.ID, reader.Secret, nil)
		r = g.send("POST", "/api-keys", ptr(create(reader.Client.ID, `["ledgers:read"]`)), "Content-Type", "application/json", "Authorization", "Bearer "+rt)
		if r.status != 403 || !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="api-keys:write"`) {
			t.Errorf("reader creates: %d %s %q", r.status, r.raw, r.header.Get("WWW-Authenticate"))
		}
	})
}
