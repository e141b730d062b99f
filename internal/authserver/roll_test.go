package authserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestRollSecretAndIssuedTokens (issue #15, item 6) pins what the README says
// a roll does: it changes which secret gets new tokens, never the tokens
// already issued (they live until they expire, at most token_ttl; revoking the
// client is what cuts them off); and only one previous secret is kept, so a
// second roll ends the first one's grace period at once, the secret it
// replaces getting the new grace period.
func TestRollSecretAndIssuedTokens(t *testing.T) {
	f := newFixture(t, issuer)
	ctx := context.Background()
	id, s0 := f.client(t, store.TypeOAuth, "mcp:read")
	tokenWith := func(secret string) *httptest.ResponseRecorder {
		return f.post("/oauth/token", basic(id, secret), "grant_type=client_credentials")
	}
	w := tokenWith(s0)
	if w.Code != http.StatusOK {
		t.Fatalf("token with the first secret: %d %s", w.Code, w.Body)
	}
	issued := decode(t, w)["access_token"].(string)
	d := &authn.Decider{Clients: f.backend.Clients, Verifier: f.verifier, Revoked: f.backend}
	works := func(tok string) bool {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		_, refuse := d.Authenticate(r, "", &authn.Resources{Default: issuer}, time.Now())
		return refuse == nil
	}

	first, err := f.clients.RollSecret(ctx, admin.CLI, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !works(issued) {
		t.Error("a roll cut off a token issued before it")
	}
	if c := tokenWith(s0).Code; c != http.StatusOK {
		t.Errorf("the rolled secret within its grace period: %d", c)
	}

	second, err := f.clients.RollSecret(ctx, admin.CLI, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, tokenWith(s0), http.StatusUnauthorized, "invalid_client")
	if c := tokenWith(first.Secret).Code; c != http.StatusOK {
		t.Errorf("the secret the second roll replaced, within its grace period: %d", c)
	}
	if c := tokenWith(second.Secret).Code; c != http.StatusOK {
		t.Errorf("the new secret: %d", c)
	}
	if !works(issued) {
		t.Error("a second roll cut off a token issued before the first")
	}

	if _, err := f.clients.Revoke(ctx, admin.CLI, id); err != nil {
		t.Fatal(err)
	}
	if works(issued) {
		t.Error("revoking the client left its issued token working")
	}
}
