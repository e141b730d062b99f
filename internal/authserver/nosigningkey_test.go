package authserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/keyring"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// TestTokenNoSigningKey: an instance whose signing key was revoked and that
// has no successor it can open (it still runs the old secret while another
// instance changed it and made an emergency rotation) cannot sign. The
// token endpoint says so as RFC 6749 §5.2 allows for a passing condition,
// 503 temporarily_unavailable with Retry-After, for every client: not a 500,
// and not invalid_client for a client that has an expiry (whose credentials
// are fine).
func TestTokenNoSigningKey(t *testing.T) {
	const oldSecret, newSecret = "q0mJ3sV9yq8m3Xw1H4nTQm6u9q2L5d8rFh7bKc1sZx4=", "Zt4P8wq1Lr6yN2vC9xK3mB7hJ5gF0dS4aQ1eW8uI6oU="
	f := newFixture(t, issuer)
	st := f.backend.Store
	off := keyring.Policy{Lead: time.Hour}
	o := keyring.Options{Secret: oldSecret, Algorithm: token.ES256, Policy: off}
	ring, err := keyring.Open(t.Context(), st, o)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(ring.Keys, issuer, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	live := keyring.NewLive(st, o, ring, issuer, time.Hour, v, nil, zaptest.NewLogger(t))
	t.Cleanup(live.Close)

	// Another instance changes the secret, then makes an emergency rotation.
	if _, err := keyring.Open(t.Context(), st, keyring.Options{Secret: newSecret, Previous: []string{oldSecret}, Algorithm: token.ES256, Policy: off}); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.Rotate(t.Context(), st, keyring.Options{Secret: newSecret, Algorithm: token.ES256, Policy: off}, true); err != nil {
		t.Fatal(err)
	}
	if err := live.Reload(t.Context()); err == nil {
		t.Fatal("the old secret still opens the keyring: the test would prove nothing")
	}
	if live.Signing(time.Now()) != nil {
		t.Fatal("this instance still signs with a revoked key")
	}

	u, _ := url.Parse(issuer)
	srv := authserver.New(authserver.Config{
		Issuer: u, Audience: issuer, Leeway: time.Second, Signer: live, Verifier: v,
		Keys:     func() []*token.Key { return live.Published(time.Now()) },
		Decider:  &authn.Decider{Clients: f.backend.Clients, Verifier: v, Revoked: f.backend},
		Backend:  f.backend,
		Resource: func(string) bool { return false },
		Scopes:   func() []string { return []string{"mcp:read"} },
		Logger:   zaptest.NewLogger(t),
	})
	expires := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name    string
		expires *time.Time
	}{{"client without expiry", nil}, {"client with an expiry", &expires}} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "test", Type: store.TypeOAuth, Scopes: []string{"mcp:read"}, ExpiresAt: tc.expires})
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, authserver.TokenPath, strings.NewReader("grant_type=client_credentials"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Authorization", basic(c.Client.ID, c.Secret))
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			wantError(t, w, http.StatusServiceUnavailable, "temporarily_unavailable")
			if w.Header().Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		})
	}
}
