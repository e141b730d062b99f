package backend

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// forEachStore runs f on a fresh PostgreSQL database and a fresh SQLite file;
// open returns a new, independent store on it each time it is called (as a
// second process would have).
func forEachStore(t *testing.T, f func(t *testing.T, db Database, open func() store.Store)) {
	for _, kind := range []string{"postgres", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			var db Database
			if kind == "sqlite" {
				db.SQLitePath = filepath.Join(t.TempDir(), "gateway.db")
			} else {
				db.Postgres = testdb.New(t)
			}
			f(t, db, func() store.Store {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				st, err := db.Open(ctx)
				if err != nil {
					t.Fatalf("opening the store: %v", err)
				}
				return st
			})
		})
	}
}

// setAfterInitialLoad installs the start-gap hook for one test. Tests using
// it must not run in parallel.
func setAfterInitialLoad(t *testing.T, f func()) {
	afterInitialLoad = f
	t.Cleanup(func() { afterInitialLoad = nil })
}

// TestRevocationInStartGap: a token revoked by another process right after an
// instance loaded its denylist, before its change feed took its position, is
// refused by that instance (within the feed's usual delay), not missed until
// a restart.
func TestRevocationInStartGap(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ Database, open func() store.Store) {
		other := open() // the other process, which revokes the token
		defer other.Close()
		tok := store.RevokedToken{JTI: "jti-" + credential.NewClientID(), ClientID: credential.NewClientID(), ExpiresAt: time.Now().Add(time.Hour)}
		revoked := make(chan error, 1)
		setAfterInitialLoad(t, func() { revoked <- other.RevokeToken(context.Background(), tok) })

		b, err := New(open(), clientcache.Config{}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		select {
		case err := <-revoked:
			if err != nil {
				t.Fatalf("revoking in the gap: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the start-gap hook never ran")
		}
		deadline := time.Now().Add(3 * time.Second)
		for !b.Revoked.Has(tok.JTI) {
			if time.Now().After(deadline) {
				t.Fatalf("a token revoked between the denylist load and the change feed's start is not denied 3s later")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
