package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/gateway/gatewaytest"
	"github.com/blnkfinance/blnk-auth-gateway/internal/inflight"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestRevokeToken: one call records the revocation in the store and applies
// it here at once: the denylist refuses the token and the request it carries
// ends, without waiting for the change feed. Revoking again changes nothing.
func TestRevokeToken(t *testing.T) {
	b := gatewaytest.Backend(t)
	ctx := context.Background()
	end := time.Now().Add(time.Hour)
	reqCtx, f := b.Flights.Start(ctx, &inflight.Authority{ClientID: "c1", JTI: "jti-1", Token: true, TokenScopes: scope.MustParse("mcp:read"), TokenEnd: end})
	defer b.Flights.End(f)
	other, g := b.Flights.Start(ctx, &inflight.Authority{ClientID: "c1", JTI: "jti-2", Token: true, TokenScopes: scope.MustParse("mcp:read"), TokenEnd: end})
	defer b.Flights.End(g)

	rt := store.RevokedToken{JTI: "jti-1", ClientID: "c1", ExpiresAt: end}
	if err := b.RevokeToken(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if !b.Revoked.Has("jti-1") {
		t.Error("the denylist does not hold the revoked token")
	}
	if reqCtx.Err() == nil {
		t.Error("the revoked token's request is still running")
	}
	if other.Err() != nil {
		t.Error("another token's request ended")
	}
	if err := b.RevokeToken(ctx, rt); err != nil {
		t.Fatalf("revoking again: %v", err)
	}
	revoked, err := b.Store.RevokedTokens(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(revoked) != 1 || revoked[0].JTI != "jti-1" {
		t.Fatalf("the store holds %+v", revoked)
	}
}
