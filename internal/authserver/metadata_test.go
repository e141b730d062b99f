package authserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
)

func httptestGet(f *fixture, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func TestMetadata(t *testing.T) {
	const iss = issuer + "/tenant"
	f := newFixture(t, iss)
	methods := []any{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	algs := []any{"ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}
	want := map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        iss + "/oauth/token",
		"jwks_uri":                              iss + "/.well-known/jwks.json",
		"authorization_endpoint":                iss + "/oauth/authorize",
		"introspection_endpoint":                iss + "/oauth/introspect",
		"revocation_endpoint":                   iss + "/oauth/revoke",
		"grant_types_supported":                 []any{"client_credentials"},
		"token_endpoint_auth_methods_supported": methods,
		"introspection_endpoint_auth_methods_supported": methods,
		"revocation_endpoint_auth_methods_supported":    methods,
		// private_key_jwt's algorithms: asymmetric only, no "none", no HS*.
		"token_endpoint_auth_signing_alg_values_supported":         algs,
		"introspection_endpoint_auth_signing_alg_values_supported": algs,
		"revocation_endpoint_auth_signing_alg_values_supported":    algs,
		"scopes_supported":                 []any{"mcp:read", "mcp:write", "*"},
		"response_types_supported":         []any{},
		"code_challenge_methods_supported": []any{"S256"},
	}
	// RFC 8414 §3 inserts the well-known segment before the issuer's path;
	// OpenID Connect Discovery appends it.
	for _, path := range []string{authserver.MetadataPath + "/tenant", "/tenant" + authserver.OpenIDPath} {
		w := httptestGet(f, path)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "public, max-age=300" {
			t.Fatalf("%s: %d %v", path, w.Code, w.Header())
		}
		if got := decode(t, w); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", path, got, want)
		}
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, httptest.NewRequest(http.MethodHead, authserver.MetadataPath+"/tenant", nil))
	if w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d %q", w.Code, w.Body)
	}
	w = f.post(authserver.MetadataPath+"/tenant", "", "")
	wantError(t, w, http.StatusMethodNotAllowed, "invalid_request")
	if w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow %q", w.Header().Get("Allow"))
	}
}

func TestJWKS(t *testing.T) {
	f := newFixture(t, issuer)
	w := httptestGet(f, authserver.JWKSPath)
	if w.Code != 200 || w.Header().Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	var set struct{ Keys []map[string]string }
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || !reflect.DeepEqual(set.Keys[0], f.key.JWK()) {
		t.Fatalf("keys %v, want %v", set.Keys, f.key.JWK())
	}
	if set.Keys[0]["kty"] != "EC" || set.Keys[0]["kid"] == "" {
		t.Errorf("key %v", set.Keys[0])
	}
}
