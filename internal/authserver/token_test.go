package authserver_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

func TestToken(t *testing.T) {
	f := newFixture(t, issuer)
	id, secret := f.client(t, store.TypeOAuth, "mcp:read", "mcp:write")
	keyID, apiKey := f.client(t, store.TypeAPIKey, "mcp:read")
	_, otherSecret := f.client(t, store.TypeOAuth, "mcp:read")
	body := func(v ...string) string {
		q := url.Values{}
		for i := 0; i+1 < len(v); i += 2 {
			q.Add(v[i], v[i+1])
		}
		return q.Encode()
	}
	cc := "client_credentials"
	for _, tc := range []struct {
		name, authz, form string
		status            int
		code              string // error code, or "" for a token
		scope, aud        string // of the token
		challenge         bool   // WWW-Authenticate: Basic expected
	}{
		{name: "basic", authz: basic(id, secret), form: body("grant_type", cc), status: 200, scope: "mcp:read mcp:write", aud: issuer},
		{name: "body", form: body("grant_type", cc, "client_id", id, "client_secret", secret), status: 200, scope: "mcp:read mcp:write", aud: issuer},
		{name: "basic with the same client_id in the body", authz: basic(id, secret), form: body("grant_type", cc, "client_id", id), status: 200, scope: "mcp:read mcp:write", aud: issuer},
		{name: "both methods", authz: basic(id, secret), form: body("grant_type", cc, "client_secret", secret), status: 400, code: "invalid_request"},
		{name: "basic and another client_id", authz: basic(id, secret), form: body("grant_type", cc, "client_id", keyID), status: 400, code: "invalid_request"},
		{name: "malformed basic", authz: "Basic !!!", form: body("grant_type", cc), status: 401, code: "invalid_client", challenge: true},
		{name: "no authentication", form: body("grant_type", cc), status: 401, code: "invalid_client", challenge: true},
		{name: "bad secret basic", authz: basic(id, otherSecret), form: body("grant_type", cc), status: 401, code: "invalid_client", challenge: true},
		{name: "bad secret body", form: body("grant_type", cc, "client_id", id, "client_secret", otherSecret), status: 401, code: "invalid_client"},
		{name: "unknown client", authz: basic("blnk_oc_unknown", secret), form: body("grant_type", cc), status: 401, code: "invalid_client", challenge: true},
		{name: "api key client", authz: basic(keyID, apiKey), form: body("grant_type", cc), status: 401, code: "invalid_client", challenge: true},
		{name: "no grant_type", authz: basic(id, secret), form: body("scope", "mcp:read"), status: 400, code: "invalid_request"},
		{name: "other grant", authz: basic(id, secret), form: body("grant_type", "authorization_code"), status: 400, code: "unsupported_grant_type"},
		{name: "scope narrowed", authz: basic(id, secret), form: body("grant_type", cc, "scope", "mcp:read"), status: 200, scope: "mcp:read", aud: issuer},
		{name: "scope beyond the client's", authz: basic(id, secret), form: body("grant_type", cc, "scope", "mcp:read admin"), status: 400, code: "invalid_scope"},
		{name: "malformed scope", authz: basic(id, secret), form: body("grant_type", cc, "scope", `"`), status: 400, code: "invalid_scope"},
		{name: "empty scope", authz: basic(id, secret), form: body("grant_type", cc, "scope", " "), status: 400, code: "invalid_scope"},
		{name: "resource", authz: basic(id, secret), form: body("grant_type", cc, "resource", resource), status: 200, scope: "mcp:read mcp:write", aud: resource},
		{name: "resource with a trailing slash", authz: basic(id, secret), form: body("grant_type", cc, "resource", resource+"/"), status: 200, scope: "mcp:read mcp:write", aud: resource + "/"},
		{name: "default audience as resource", authz: basic(id, secret), form: body("grant_type", cc, "resource", issuer), status: 200, scope: "mcp:read mcp:write", aud: issuer},
		{name: "unknown resource", authz: basic(id, secret), form: body("grant_type", cc, "resource", "https://elsewhere.example.com/"), status: 400, code: "invalid_target"},
		{name: "relative resource", authz: basic(id, secret), form: body("grant_type", cc, "resource", "/mcp"), status: 400, code: "invalid_target"},
		{name: "resource with a fragment", authz: basic(id, secret), form: body("grant_type", cc, "resource", resource+"#x"), status: 400, code: "invalid_target"},
		{name: "two resources", authz: basic(id, secret), form: body("grant_type", cc, "resource", resource, "resource", issuer), status: 400, code: "invalid_target"},
		{name: "repeated parameter", authz: basic(id, secret), form: body("grant_type", cc, "grant_type", cc), status: 400, code: "invalid_request"},
		{name: "too large", authz: basic(id, secret), form: body("grant_type", cc, "pad", strings.Repeat("x", authserver.MaxRequestBody)), status: 413, code: "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.post(authserver.TokenPath, tc.authz, tc.form)
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q", got)
			}
			if tc.code != "" {
				wantError(t, w, tc.status, tc.code)
				if got := w.Header().Get("WWW-Authenticate"); (got != "") != tc.challenge || (tc.challenge && got != `Basic realm="auth.example.com", charset="UTF-8"`) {
					t.Errorf("WWW-Authenticate %q", got)
				}
				return
			}
			if w.Code != tc.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			m := decode(t, w)
			if m["token_type"] != "Bearer" || m["scope"] != tc.scope || m["expires_in"] != float64(3600) {
				t.Fatalf("answer %s", w.Body)
			}
			v, err := f.verifier.Verify(m["access_token"].(string), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if v.ClientID != id || !slices.Equal(v.Audience, []string{tc.aud}) {
				t.Errorf("token for %s, aud %v", v.ClientID, v.Audience)
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.outcomes, "issued") || !slices.Contains(f.outcomes, "invalid_target") || !slices.Contains(f.outcomes, "invalid_client") {
		t.Errorf("outcomes %v", f.outcomes)
	}
	// Counted by grant; a missing grant_type is "other", as an unknown one
	// would be, so a request cannot make up label values.
	for _, want := range []string{"client_credentials issued", "client_credentials invalid_client", "other invalid_request", "authorization_code unsupported_grant_type"} {
		if !slices.Contains(f.grantOutcomes, want) {
			t.Errorf("grant outcomes lack %q: %v", want, f.grantOutcomes)
		}
	}
	if slices.ContainsFunc(f.grantOutcomes, func(s string) bool { return !slices.Contains(authserver.Grants, strings.Fields(s)[0]) }) {
		t.Errorf("a grant outside authserver.Grants: %v", f.grantOutcomes)
	}
}

func TestTokenRequestShape(t *testing.T) {
	f := newFixture(t, issuer)
	for _, tc := range []struct {
		name, method, contentType string
		status                    int
		allow                     string
	}{
		{"GET", http.MethodGet, "", 405, "POST"},
		{"PUT", http.MethodPut, "application/x-www-form-urlencoded", 405, "POST"},
		{"JSON body", http.MethodPost, "application/json", 400, ""},
		{"form with charset", http.MethodPost, "application/x-www-form-urlencoded; charset=UTF-8", 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, authserver.TokenPath, strings.NewReader("grant_type=client_credentials"))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			w := httptest.NewRecorder()
			f.srv.ServeHTTP(w, r)
			if w.Code != tc.status || w.Header().Get("Allow") != tc.allow {
				t.Fatalf("%d Allow %q: %s", w.Code, w.Header().Get("Allow"), w.Body)
			}
		})
	}
}

func TestTokenStoreUnavailable(t *testing.T) {
	f := newFixture(t, issuer)
	id, secret := f.client(t, store.TypeOAuth, "mcp:read")
	f.backend.Store.Close() // the cache has never seen the client: the lookup fails
	w := f.post(authserver.TokenPath, basic(id, secret), "grant_type=client_credentials")
	wantError(t, w, http.StatusServiceUnavailable, "temporarily_unavailable")
	if w.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
	}
}
