// Package backendtest gives the tests of Caddy-free packages a real backend:
// a Backend (store, client cache, change feed, denylist) over an embedded
// SQLite file, and a signing key with its verifier. Real parts, so that a
// test of a handler is also a test of what it stands on.
package backendtest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// Backend opens a Backend on a fresh SQLite file in t's temporary directory;
// it is closed when the test ends.
func Backend(t testing.TB) *backend.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := backend.Database{SQLitePath: filepath.Join(t.TempDir(), "gateway.db")}.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New(st, clientcache.Config{}, zaptest.NewLogger(t))
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// Keys returns a new ES256 signing key and a verifier of tokens it signs for
// issuer (one second of leeway); the verifier is closed when the test ends.
func Keys(t testing.TB, issuer string) (*token.Key, *token.Verifier) {
	t.Helper()
	k, err := token.GenerateKey(token.ES256)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier([]*token.Key{k}, issuer, time.Second, 1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return k, v
}
