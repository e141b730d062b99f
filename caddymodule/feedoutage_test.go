package caddymodule

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blnkfinance/blnk-auth-gateway/internal/keyring"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// TestTokenRevokedWhileFeedDown: while an instance's change feed is down, a
// token that another process revokes (RFC 7009, straight into the shared
// database) is refused by the instance, as a revoked client is; tokens nobody
// revoked keep passing. The feed is stopped for real: on PostgreSQL the
// LISTEN connection is terminated and the database refuses new connections
// (the pools keep theirs); on SQLite the change log's id column is renamed,
// so that every poll fails while writes to the log still work.
func TestTokenRevokedWhileFeedDown(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		c := g.create("outage", store.TypeOAuth, []string{"mcp:read"}, nil)
		revoked := g.token(c.Client.ID, c.Secret, nil)
		live := g.token(c.Client.ID, c.Secret, nil)
		for _, tok := range []string{revoked, live} {
			mustStatus(t, g.call("/mcp", bearer(tok)...), 200, "before the outage")
		}

		resume := stopFeed(t, g, kind)
		jti, exp := jtiOf(t, revoked)
		if err := g.store.RevokeToken(context.Background(), store.RevokedToken{JTI: jti, ClientID: c.Client.ID, ExpiresAt: exp}); err != nil {
			t.Fatalf("revoking the token from another process: %v", err)
		}
		took := eventually(t, 3*time.Second, "a token revoked while the feed is down is refused", func() bool {
			return g.call("/mcp", bearer(revoked)...).status == 401
		})
		t.Logf("%s: token revoked during the outage refused after %s", kind, took)
		mustStatus(t, g.call("/mcp", bearer(live)...), 200, "a token nobody revoked, during the outage")

		resume()
		// Caught up again: the revocation stays, the live token still passes.
		time.Sleep(500 * time.Millisecond) // time to reconnect and replay; the answers must hold either way
		mustStatus(t, g.call("/mcp", bearer(revoked)...), 401, "the revoked token after the outage")
		mustStatus(t, g.call("/mcp", bearer(live)...), 200, "the live token after the outage")
	})
}

// stopFeed makes the gateway's change feed fail until resume is called (or
// the test ends), leaving the gateway's store usable for everything else.
func stopFeed(t *testing.T, g *testGateway, kind string) (resume func()) {
	t.Helper()
	ctx := context.Background()
	if kind == kindSQLite {
		db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(g.dsn, "sqlite://")+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		rename := func(from, to string) {
			if _, err := db.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE blnk_auth_changes RENAME COLUMN %s TO %s`, from, to)); err != nil {
				t.Fatalf("renaming the change log's %s column: %v", from, err)
			}
		}
		rename("id", "id_away") // every poll selects id: it fails from here on
		return func() { rename("id_away", "id") }
	}
	admin, err := pgx.Connect(ctx, testdb.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	name := pgx.Identifier{dbName(g.dsn)}.Sanitize()
	allow := func(ok bool) {
		if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %t`, name, ok)); err != nil {
			t.Fatalf("ALTER DATABASE ALLOW_CONNECTIONS %t: %v", ok, err)
		}
	}
	allow(false)
	t.Cleanup(func() { allow(true) })
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
		WHERE application_name = 'blnk_auth_listener' AND datname = $1) t WHERE ok`, dbName(g.dsn)).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d listener connections, want 1", killed)
	}
	// pg_terminate_backend only signals: wait until the listener is gone, so
	// that it cannot receive the revocation that follows.
	eventually(t, 5*time.Second, "the listener's backend exits", func() bool {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'blnk_auth_listener' AND datname = $1`, dbName(g.dsn)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	return func() { allow(true) }
}

// jtiOf reads the jti and expiry of an access token (a JWT we issued).
func jtiOf(t *testing.T, tok string) (string, time.Time) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		JTI string `json:"jti"`
		Exp int64  `json:"exp"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil || claims.JTI == "" {
		t.Fatalf("claims %s: %v", raw, err)
	}
	return claims.JTI, time.Unix(claims.Exp, 0)
}

// TestSigningKeyRevokedWhileFeedDown: while an instance's change feed is
// down, another process makes an emergency rotation (straight into the
// shared database): the instance refuses tokens of the revoked key within
// seconds, as it refuses a revoked token, rather than at its one-minute
// keyring backstop.
func TestSigningKeyRevokedWhileFeedDown(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		c := g.create("outage", store.TypeOAuth, []string{"mcp:read"}, nil)
		old := g.token(c.Client.ID, c.Secret, nil)
		mustStatus(t, g.call("/mcp", bearer(old)...), 200, "before the outage") // now in the verified-token cache

		resume := stopFeed(t, g, kind)
		defer resume()
		if _, err := keyring.Rotate(context.Background(), g.store, keyring.Options{Secret: testSecret, Algorithm: token.ES256, Policy: keyring.Policy{Lead: time.Hour}}, true); err != nil {
			t.Fatalf("emergency rotation from another process: %v", err)
		}
		took := eventually(t, 5*time.Second, "a token of a key revoked while the feed is down is refused", func() bool {
			return g.call("/mcp", bearer(old)...).status == 401
		})
		t.Logf("%s: token of a key revoked during the outage refused after %s", kind, took)
		fresh := g.token(c.Client.ID, c.Secret, nil)
		if kidOf(t, fresh) == kidOf(t, old) {
			t.Error("the instance still signs with the revoked key")
		}
		mustStatus(t, g.call("/mcp", bearer(fresh)...), 200, "a new token during the outage")
	})
}
