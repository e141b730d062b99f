package authserver_test

import (
	"net/http"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

func TestRevoke(t *testing.T) {
	f := newFixture(t, issuer)
	id, secret := f.client(t, store.TypeOAuth, "mcp:read", authserver.ScopeIntrospect)
	otherID, otherSecret := f.client(t, store.TypeOAuth, "mcp:read")
	_, apiKey := f.client(t, store.TypeAPIKey, "mcp:read")
	tok := f.token(t, id, "mcp:read")
	for _, tc := range []struct {
		name, authz, form string
		status            int
		code              string
	}{
		{name: "someone else's token", authz: basic(otherID, otherSecret), form: "token=" + tok, status: 400, code: "unauthorized_client"},
		{name: "own token", authz: basic(id, secret), form: "token=" + tok, status: 200},
		{name: "again", form: "client_id=" + id + "&client_secret=" + secret + "&token=" + tok, status: 200},
		{name: "not a token", authz: basic(id, secret), form: "token=garbage", status: 200},
		{name: "api key", authz: basic(id, secret), form: "token=" + apiKey, status: 400, code: "unsupported_token_type"},
		{name: "no token", authz: basic(id, secret), form: "token_type_hint=access_token", status: 400, code: "invalid_request"},
		{name: "bad secret", authz: basic(id, otherSecret), form: "token=" + tok, status: 401, code: "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.post(authserver.RevokePath, tc.authz, tc.form)
			if tc.code != "" {
				wantError(t, w, tc.status, tc.code)
				return
			}
			if w.Code != tc.status || w.Body.Len() != 0 || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v: %q", w.Code, w.Header(), w.Body)
			}
		})
	}
	// The revoked token is inactive at once on this instance.
	w := f.post(authserver.IntrospectPath, basic(id, secret), "token="+tok)
	if m := decode(t, w); m["active"] != false {
		t.Fatalf("revoked token introspected as %s", w.Body)
	}
	t.Run("GET", func(t *testing.T) {
		wantError(t, httptestGet(f, authserver.RevokePath), http.StatusMethodNotAllowed, "invalid_request")
	})
}
