package admin_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestJWKSURIOnOwnHost: a jwks_uri on the gateway's own host and port (the
// issuer's) is refused when it is registered or replaced, naming the
// field, instead of being accepted and then refused at every token request
// (the authorization server never fetches keys from itself). Another port
// of the same host is another server.
func TestJWKSURIOnOwnHost(t *testing.T) { forEachStore(t, testJWKSURIOnOwnHost) }

func testJWKSURIOnOwnHost(t *testing.T, f *fixture) {
	svc := *f.svc
	svc.Issuer, _ = url.Parse("https://auth.example.com")
	ctx := t.Context()
	for _, uri := range []string{"https://auth.example.com/.well-known/jwks.json", "https://AUTH.example.com:443/k"} {
		_, err := svc.Create(ctx, admin.CLI, admin.CreateParams{Name: "self", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKSURI: uri}})
		var ve *admin.ValidationError
		if !errors.As(err, &ve) || ve.Field != "jwks_uri" {
			t.Errorf("create with jwks_uri %s: %v, want a jwks_uri validation error", uri, err)
		}
	}
	c, err := svc.Create(ctx, admin.CLI, admin.CreateParams{Name: "remote", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKSURI: "https://auth.example.com:8443/jwks.json"}})
	if err != nil {
		t.Fatalf("another port of the issuer's host: %v", err)
	}
	keys := store.ClientKeys{JWKSURI: "https://auth.example.com/jwks.json"}
	_, err = svc.Update(ctx, admin.CLI, c.Client.ID, admin.UpdateParams{Keys: &keys})
	var ve *admin.ValidationError
	if !errors.As(err, &ve) || ve.Field != "jwks_uri" {
		t.Errorf("update to the issuer's host: %v, want a jwks_uri validation error", err)
	}
}
