// Package testdb gives tests a fresh, empty PostgreSQL database of their own.
//
// The server is BLNK_AUTH_TEST_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/postgres. When it cannot be reached,
// tests fail if CI=true and are skipped otherwise, with a message saying how
// to run them.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server the tests use unless BLNK_AUTH_TEST_DATABASE_URL says otherwise.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL is the maintenance database URL of the test server.
func ServerURL() string {
	if u := os.Getenv("BLNK_AUTH_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// New creates a database named after nothing in particular, returns its URL,
// and drops it when the test ends.
func New(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		Unavailable(t, err)
	}
	defer admin.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "blnk_auth_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(ServerURL())
	if err != nil {
		t.Fatalf("BLNK_AUTH_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Unavailable ends a test that needs PostgreSQL and cannot reach it.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL is required in CI and unreachable at %s: %v", ServerURL(), err)
	}
	t.Skipf("PostgreSQL unreachable at %s (%v): start it, or set BLNK_AUTH_TEST_DATABASE_URL, then run: go test ./...", ServerURL(), err)
}
