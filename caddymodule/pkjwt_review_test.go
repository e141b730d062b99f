package caddymodule

import (
	"context"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestPrivateKeyJWTKeysReplacedEverywhere: an inline key set replaced by
// PATCH stops working at once on another instance (its own process on the
// same database) that had cached the client and its parsed keys: the change
// feed invalidates the client, and the parsed set is keyed by its JSON. The
// new key works there.
func TestPrivateKeyJWTKeysReplacedEverywhere(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		old, next := newJWTSigner(t, "k1"), newJWTSigner(t, "k1")
		c := g.createKeyClient("signer", []string{"mcp:read"}, jwks(t, old))
		id := c.Client.ID
		ctx := context.Background()
		second := startInstance(t, g.dsn, g.authURL)
		tokenURL := second.authURL + "/oauth/token"
		if _, err := ccConfig(tokenURL, id, old.sign(t, assertionClaims(id, g.authURL))).Token(ctx); err != nil {
			t.Fatalf("the old key at the second instance: %v", err)
		}
		keys := store.ClientKeys{JWKS: jwks(t, next)}
		if _, err := g.svc.Update(ctx, admin.CLI, id, admin.UpdateParams{Keys: &keys}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "the second instance refuses the replaced key", func() bool {
			_, err := ccConfig(tokenURL, id, old.sign(t, assertionClaims(id, g.authURL))).Token(ctx)
			return err != nil
		})
		_, err := ccConfig(tokenURL, id, old.sign(t, assertionClaims(id, g.authURL))).Token(ctx)
		wantInvalidClient(t, "the replaced key at the second instance", err)
		if _, err := ccConfig(tokenURL, id, next.sign(t, assertionClaims(id, g.authURL))).Token(ctx); err != nil {
			t.Errorf("the new key at the second instance: %v", err)
		}
	})
}
