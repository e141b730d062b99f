package authserver_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

func TestIntrospect(t *testing.T) {
	f := newFixture(t, issuer)
	rsID, rsSecret := f.client(t, store.TypeOAuth, authserver.ScopeIntrospect)
	noID, noSecret := f.client(t, store.TypeOAuth, "mcp:read")
	id, _ := f.client(t, store.TypeOAuth, "mcp:read", "mcp:write")
	keyID, apiKey := f.client(t, store.TypeAPIKey, "mcp:read")
	goneID, _ := f.client(t, store.TypeOAuth, "mcp:read")
	gone := f.token(t, goneID, "mcp:read")
	if _, err := f.clients.Revoke(context.Background(), admin.CLI, goneID); err != nil {
		t.Fatal(err)
	}
	tok := f.token(t, id, "mcp:read")
	for _, tc := range []struct {
		name, authz, form string
		status            int
		code              string
		want              map[string]any // members of an answer
	}{
		{name: "active token", authz: basic(rsID, rsSecret), form: "token=" + tok, status: 200,
			want: map[string]any{"active": true, "scope": "mcp:read", "client_id": id, "sub": id, "token_type": "Bearer", "iss": issuer}},
		{name: "api key", form: "client_id=" + rsID + "&client_secret=" + rsSecret + "&token=" + apiKey, status: 200,
			want: map[string]any{"active": true, "scope": "mcp:read", "client_id": keyID, "token_type": "api_key"}},
		{name: "garbage", authz: basic(rsID, rsSecret), form: "token=nope", status: 200, want: map[string]any{"active": false}},
		{name: "revoked client's token", authz: basic(rsID, rsSecret), form: "token=" + gone, status: 200, want: map[string]any{"active": false}},
		{name: "caller without oauth:introspect", authz: basic(noID, noSecret), form: "token=" + tok, status: 403, code: "insufficient_scope"},
		{name: "unauthenticated", form: "token=" + tok, status: 401, code: "invalid_client"},
		{name: "no token", authz: basic(rsID, rsSecret), form: "", status: 400, code: "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.post(authserver.IntrospectPath, tc.authz, tc.form)
			if tc.code != "" {
				wantError(t, w, tc.status, tc.code)
				return
			}
			if w.Code != tc.status || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v: %s", w.Code, w.Header(), w.Body)
			}
			m := decode(t, w)
			for k, v := range tc.want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			if m["active"] == false && len(m) != 1 {
				t.Errorf("an inactive answer says more: %s", w.Body)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		w := httptestGet(f, authserver.IntrospectPath)
		wantError(t, w, http.StatusMethodNotAllowed, "invalid_request")
	})
}
