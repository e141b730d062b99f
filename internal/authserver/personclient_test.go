package authserver_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestPersonClientExpired: a person signed in with a client's key acts with
// that client's authority; once that client has expired (which, unlike a
// revocation, happens without any write), what it approved for another
// client is refused too: no code exchange, no refresh.
func TestPersonClientExpired(t *testing.T) {
	f, flow := cimdServer(t, nil, false)
	ctx := context.Background()
	key, _ := f.client(t, store.TypeAPIKey, "admin:read", "mcp:read")
	app, err := f.clients.Create(ctx, admin.CLI, admin.CreateParams{Name: "app", Type: store.TypeOAuth, Scopes: []string{"mcp:read"}, RedirectURIs: []string{"http://127.0.0.1/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	person := authcode.Person{ID: store.ClientPersonID(key), Name: "operator", MayGrant: scope.MustParse("mcp:read")}
	code := func() (string, string) {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		req := authcode.Request{ClientID: app.Client.ID, RedirectURI: "http://127.0.0.1/cb", Challenge: oauth2.S256ChallengeFromVerifier(verifier), Expires: time.Now().Add(time.Minute).Unix()}
		to, err := flow.Approve(ctx, req, person, scope.MustParse("mcp:read"), f.auditAt(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(to)
		return u.Query().Get("code"), verifier
	}
	exchange := func(c, v string) map[string]any {
		t.Helper()
		w := f.post("/oauth/token", basic(app.Client.ID, app.Secret), "grant_type=authorization_code&code="+url.QueryEscape(c)+"&code_verifier="+v)
		if w.Code != http.StatusOK {
			t.Fatalf("exchange while the key is active: %d %s", w.Code, w.Body.String())
		}
		return decode(t, w)
	}
	tok := exchange(code())
	later, lastCode := code()

	// The key expires (set in the past through the store; the cache learns of it).
	past := time.Now().Add(-time.Second)
	pp := &past
	if _, err := f.backend.Store.UpdateClient(ctx, key, store.ClientUpdate{ExpiresAt: &pp}, store.Audit{Time: time.Now(), Actor: "test"}, nil); err != nil {
		t.Fatal(err)
	}
	f.backend.ClientChanged(key)

	w := f.post("/oauth/token", basic(app.Client.ID, app.Secret), "grant_type=refresh_token&refresh_token="+url.QueryEscape(tok["refresh_token"].(string)))
	wantError(t, w, http.StatusBadRequest, "invalid_grant")
	w = f.post("/oauth/token", basic(app.Client.ID, app.Secret), "grant_type=authorization_code&code="+url.QueryEscape(later)+"&code_verifier="+lastCode)
	wantError(t, w, http.StatusBadRequest, "invalid_grant")
}
