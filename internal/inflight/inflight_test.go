package inflight

import (
	"context"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

func tokenAuthority(client, jti string, end time.Time) *Authority {
	return &Authority{ClientID: client, JTI: jti, Token: true, TokenScopes: scope.MustParse("mcp:read mcp:write"),
		TokenEnd: end, Need: scope.MustParse("mcp:read")}
}

func cancelled(ctx context.Context) bool { return ctx.Err() != nil }

func TestTokenExpiryEndsRequest(t *testing.T) {
	r := New()
	now := time.Now()
	ctx, f := r.Start(context.Background(), tokenAuthority("c1", "j1", now.Add(time.Minute)))
	defer r.End(f)
	if n := r.Sweep(now.Add(59 * time.Second)); n != 0 || cancelled(ctx) {
		t.Fatalf("swept %d before the token's end", n)
	}
	if n := r.Sweep(now.Add(time.Minute)); n != 1 || !cancelled(ctx) || !r.Ended(f) {
		t.Fatalf("swept %d at the token's end; cancelled %v", n, cancelled(ctx))
	}
}

func TestClientExpiryBeforeTokenEnd(t *testing.T) {
	r := New()
	now := time.Now()
	a := tokenAuthority("c1", "j1", now.Add(time.Hour))
	exp := now.Add(time.Second)
	a.ClientExpires = &exp
	ctx, f := r.Start(context.Background(), a)
	defer r.End(f)
	r.Sweep(now.Add(2 * time.Second))
	if !cancelled(ctx) {
		t.Fatal("a request outlived its client's expiry")
	}
}

func TestRecheck(t *testing.T) {
	r := New()
	now := time.Now()
	readCtx, read := r.Start(context.Background(), tokenAuthority("c1", "j1", now.Add(time.Hour)))
	defer r.End(read)
	wa := tokenAuthority("c1", "j1", now.Add(time.Hour))
	wa.NeedMore = scope.MustParse("mcp:write")
	writeCtx, write := r.Start(context.Background(), wa)
	defer r.End(write)
	otherCtx, other := r.Start(context.Background(), tokenAuthority("c2", "j2", now.Add(time.Hour)))
	defer r.End(other)
	keyCtx, key := r.Start(context.Background(), &Authority{ClientID: "c1", Need: scope.MustParse("ledgers:read"), Op: "ledgers:read"})
	defer r.End(key)

	// Narrowed to mcp:read (and ledgers:*): the call needing mcp:write ends.
	if n := r.Recheck("c1", clientcache.EntryOf(&store.Client{ID: "c1", Scopes: scope.MustParse("mcp:read ledgers:*")}), now); n != 1 || !cancelled(writeCtx) || cancelled(readCtx) || cancelled(keyCtx) {
		t.Fatalf("narrowing ended %d; write %v read %v key %v", n, cancelled(writeCtx), cancelled(readCtx), cancelled(keyCtx))
	}
	// An earlier expiry moves the deadline.
	exp := now.Add(time.Second)
	r.Recheck("c1", clientcache.EntryOf(&store.Client{ID: "c1", Scopes: scope.MustParse("*"), ExpiresAt: &exp}), now)
	r.Sweep(now.Add(2 * time.Second))
	if !cancelled(readCtx) || !cancelled(keyCtx) {
		t.Fatal("an earlier client expiry did not end the requests")
	}
	// Deleted: the other client's request is untouched until its own change.
	if cancelled(otherCtx) {
		t.Fatal("another client's request ended")
	}
	if n := r.Recheck("c2", nil, now); n != 1 || !cancelled(otherCtx) {
		t.Fatal("a deleted client's request went on")
	}
}

func TestRevokedClientAndToken(t *testing.T) {
	r := New()
	now := time.Now()
	c1, f1 := r.Start(context.Background(), tokenAuthority("c1", "j1", now.Add(time.Hour)))
	defer r.End(f1)
	c2, f2 := r.Start(context.Background(), tokenAuthority("c1", "j2", now.Add(time.Hour)))
	defer r.End(f2)
	if n := r.RevokeToken("c1", "j1"); n != 1 || !cancelled(c1) || cancelled(c2) {
		t.Fatalf("token revocation ended %d", n)
	}
	revoked := now
	r.Recheck("c1", clientcache.EntryOf(&store.Client{ID: "c1", Scopes: scope.MustParse("*"), RevokedAt: &revoked}), now)
	if !cancelled(c2) {
		t.Fatal("a revoked client's request went on")
	}
}

func TestEndUnregisters(t *testing.T) {
	r := New()
	var fs []*Flight
	for i := 0; i < 5; i++ {
		_, f := r.Start(context.Background(), tokenAuthority("c1", "j", time.Now().Add(time.Hour)))
		fs = append(fs, f)
	}
	ctx, keep := r.Start(context.Background(), tokenAuthority("c1", "keep", time.Now().Add(time.Hour)))
	for _, f := range fs {
		r.End(f)
	}
	if !r.Has("c1") || r.RevokeToken("c1", "j") != 0 {
		t.Fatal("ended requests are still registered")
	}
	r.RevokeToken("c1", "keep")
	if !cancelled(ctx) {
		t.Fatal("the remaining request was lost by End's reshuffling")
	}
	r.End(keep)
	if r.Has("c1") || len(r.Clients()) != 0 {
		t.Fatal("registry not empty")
	}
}

// A request registered before its needs are known (its body still arriving):
// a change rechecked meanwhile ends it when it ended the client; SetNeeds and
// Confirm then judge what it turned out to need against the client as it is.
func TestConfirmAfterSetNeeds(t *testing.T) {
	r := New()
	now := time.Now()
	ctx, f := r.Start(context.Background(), tokenAuthority("c1", "j1", now.Add(time.Hour)))
	defer r.End(f)
	// Narrowed to mcp:read while the body arrived: harmless for the route's
	// own needs, so the recheck lets it be...
	narrowed := clientcache.EntryOf(&store.Client{ID: "c1", Scopes: scope.MustParse("mcp:read")})
	if n := r.Recheck("c1", narrowed, now); n != 0 || cancelled(ctx) {
		t.Fatalf("recheck ended %d", n)
	}
	// ...until the body turns out to be a call needing mcp:write.
	r.SetNeeds(f, scope.MustParse("mcp:write"), "")
	if r.Confirm(f, narrowed, now, true) || !cancelled(ctx) {
		t.Fatal("confirmed a call its client no longer permits")
	}

	ctx2, f2 := r.Start(context.Background(), tokenAuthority("c1", "j2", now.Add(time.Hour)))
	defer r.End(f2)
	r.RevokeToken("c1", "j2") // while the body arrived
	r.SetNeeds(f2, scope.Set{}, "")
	if r.Confirm(f2, clientcache.EntryOf(&store.Client{ID: "c1", Scopes: scope.MustParse("*")}), now, true) || !cancelled(ctx2) {
		t.Fatal("confirmed a request whose token was revoked while its body arrived")
	}
}

// An API key's request ends when a roll makes the key stop matching: at once
// without a grace period, at the grace period's end otherwise.
func TestRolledAPIKey(t *testing.T) {
	const key = "blnk_ak_test-key"
	r := New()
	now := time.Now()
	hashed := credential.HashOf(key)
	other := credential.HashOf("blnk_ak_other")
	c := &store.Client{ID: "c1", Type: store.TypeAPIKey, Scopes: scope.MustParse("*"), SecretHash: hashed}
	a := &Authority{ClientID: "c1", Need: scope.MustParse("mcp:read"), APIKey: key}
	ctx, f := r.Start(context.Background(), a)
	defer r.End(f)
	if n := r.Recheck("c1", clientcache.EntryOf(c), now); n != 0 {
		t.Fatal("ended a request whose key still matches")
	}
	grace := now.Add(time.Minute)
	rolled := *c
	rolled.SecretHash, rolled.PreviousSecretHash, rolled.PreviousSecretExpiresAt = other, &hashed, &grace
	if n := r.Recheck("c1", clientcache.EntryOf(&rolled), now); n != 0 || cancelled(ctx) {
		t.Fatal("ended a request whose key is in its grace period")
	}
	if r.Sweep(grace.Add(-time.Second)); cancelled(ctx) {
		t.Fatal("ended before the grace period's end")
	}
	if r.Sweep(grace); !cancelled(ctx) {
		t.Fatal("outlived the grace period")
	}

	ctx2, f2 := r.Start(context.Background(), &Authority{ClientID: "c1", Need: scope.MustParse("mcp:read"), APIKey: key})
	defer r.End(f2)
	rolled.PreviousSecretHash, rolled.PreviousSecretExpiresAt = nil, nil // rolled without grace
	if n := r.Recheck("c1", clientcache.EntryOf(&rolled), now); n != 1 || !cancelled(ctx2) {
		t.Fatal("a request outlived its key's roll")
	}
}
