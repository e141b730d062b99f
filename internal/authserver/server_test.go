package authserver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend/backendtest"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

const (
	issuer   = "https://auth.example.com"
	resource = "https://mcp.example.com/mcp"
)

// fixture is a Server over a real SQLite store, client cache, signing key
// and verifier.
type fixture struct {
	srv      *authserver.Server
	backend  *backend.Backend
	signer   *token.Issuer
	verifier *token.Verifier
	key      *token.Key
	clients  *admin.Service

	mu       sync.Mutex
	outcomes []string
	// grantOutcomes are "<grant> <outcome>".
	grantOutcomes []string
}

func newFixture(t *testing.T, iss string) *fixture {
	t.Helper()
	return newFixtureWith(t, iss, nil)
}

// newFixtureWith is newFixture with the server's Config changed by edit.
func newFixtureWith(t *testing.T, iss string, edit func(*authserver.Config)) *fixture {
	t.Helper()
	b := backendtest.Backend(t)
	k, v := backendtest.Keys(t, iss)
	u, err := url.Parse(iss)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		backend:  b,
		signer:   &token.Issuer{Key: k, Issuer: iss, TTL: time.Hour},
		verifier: v,
		key:      k,
		clients:  &admin.Service{Store: b.Store, Invalidate: b.ClientChanged},
	}
	cfg := authserver.Config{
		Issuer:   u,
		Audience: iss,
		Leeway:   time.Second,
		Signer:   f.signer,
		Verifier: v,
		Keys:     func() []*token.Key { return []*token.Key{k} },
		Decider:  &authn.Decider{Clients: b.Clients, Verifier: v, Revoked: b},
		Backend:  b,
		Resource: func(id string) bool { return authn.SameResource(id, resource) },
		Scopes:   func() []string { return []string{"mcp:read", "mcp:write", scope.All} },
		Logger:   zaptest.NewLogger(t),
		TokenOutcome: func(g, o string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.outcomes = append(f.outcomes, o)
			f.grantOutcomes = append(f.grantOutcomes, g+" "+o)
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	f.srv = authserver.New(cfg)
	return f
}

// client creates a client and returns its ID and secret (an API key for store.TypeAPIKey).
func (f *fixture) client(t *testing.T, typ store.Type, scopes ...string) (id, secret string) {
	t.Helper()
	c, err := f.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "test", Type: typ, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return c.Client.ID, c.Secret
}

// token mints an access token for client id.
func (f *fixture) token(t *testing.T, id, scopes string) string {
	t.Helper()
	tok, err := f.signer.Issue(id, scope.MustParse(scopes), issuer, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// post sends a form to path with an optional Authorization header.
func (f *fixture) post(path, authz, form string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	return w
}

// decode parses a JSON answer.
func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%d %q: %v", w.Code, w.Body, err)
	}
	return m
}

// wantError checks an RFC 6749 §5.2 error answer.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	if got := decode(t, w)["error"]; got != code {
		t.Fatalf("error %v, want %s: %s", got, code, w.Body)
	}
	if w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", w.Header().Get("Content-Type"))
	}
}

func TestServes(t *testing.T) {
	f := newFixture(t, issuer+"/tenant")
	for _, p := range []string{
		"/tenant/oauth/token", "/tenant/oauth/authorize", "/tenant/oauth/introspect", "/tenant/oauth/revoke",
		"/tenant/.well-known/jwks.json", "/tenant/.well-known/openid-configuration",
		"/.well-known/oauth-authorization-server/tenant", // RFC 8414 §3
	} {
		if !f.srv.Serves(p) {
			t.Errorf("Serves(%q) = false", p)
		}
	}
	for _, p := range []string{"/oauth/token", "/.well-known/oauth-authorization-server", "/tenant/mcp"} {
		if f.srv.Serves(p) {
			t.Errorf("Serves(%q) = true", p)
		}
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, p, nil))
		if w.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, w.Code)
		}
	}
}

func TestAuthorizeRefuses(t *testing.T) {
	f := newFixture(t, issuer)
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/oauth/authorize?response_type=code&client_id=x&redirect_uri=https://evil.example", nil))
	wantError(t, w, http.StatusBadRequest, "unsupported_response_type")
	if w.Header().Get("Location") != "" {
		t.Error("redirected")
	}
}
