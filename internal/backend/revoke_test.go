package backend_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend/backendtest"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/inflight"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestRevokeToken: one call records the revocation in the store and applies
// it here at once: the denylist refuses the token and the request it carries
// ends, without waiting for the change feed. Revoking again changes nothing.
func TestRevokeToken(t *testing.T) {
	b := backendtest.Backend(t)
	ctx := context.Background()
	end := time.Now().Add(time.Hour)
	reqCtx, f := b.Flights.Start(ctx, &inflight.Authority{ClientID: "c1", JTI: "jti-1", Token: true, TokenScopes: scope.MustParse("mcp:read"), TokenEnd: end})
	defer b.Flights.End(f)
	other, g := b.Flights.Start(ctx, &inflight.Authority{ClientID: "c1", JTI: "jti-2", Token: true, TokenScopes: scope.MustParse("mcp:read"), TokenEnd: end})
	defer b.Flights.End(g)

	rt := store.RevokedToken{JTI: "jti-1", ClientID: "c1", ExpiresAt: end}
	before := b.Changes()
	if err := b.RevokeToken(ctx, rt); err != nil {
		t.Fatal(err)
	}
	// A request judged before the revocation and registered after it is
	// judged again only if the count moved.
	if b.Changes() == before {
		t.Error("the change count did not move")
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
	revoked, err := b.Store.RevokedTokens(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(revoked) != 1 || revoked[0].JTI != "jti-1" {
		t.Fatalf("the store holds %+v", revoked)
	}
}

// failingStore refuses to record revocations, as a store that lost its
// database does.
type failingStore struct{ store.Store }

func (failingStore) RevokeToken(context.Context, store.RevokedToken) error {
	return errors.New("database unreachable")
}

// TestRevokeTokenNotRecorded: when the store cannot record a revocation,
// nothing is applied here either, and the caller learns it (the revocation
// endpoint answers 503): a revocation that only one instance knows would be
// undone by its next restart.
func TestRevokeTokenNotRecorded(t *testing.T) {
	ctx := context.Background()
	st, err := backend.Database{SQLitePath: filepath.Join(t.TempDir(), "gateway.db")}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New(failingStore{st}, clientcache.Config{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(); st.Close() })
	end := time.Now().Add(time.Hour)
	reqCtx, f := b.Flights.Start(ctx, &inflight.Authority{ClientID: "c1", JTI: "jti-1", Token: true, TokenScopes: scope.MustParse("mcp:read"), TokenEnd: end})
	defer b.Flights.End(f)
	if err := b.RevokeToken(ctx, store.RevokedToken{JTI: "jti-1", ClientID: "c1", ExpiresAt: end}); err == nil {
		t.Fatal("no error")
	}
	if b.Revoked.Has("jti-1") || reqCtx.Err() != nil {
		t.Error("an unrecorded revocation was applied here")
	}
}
