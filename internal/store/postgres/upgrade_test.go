package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// TestUpgradeKeepsData: a database at schema version 1 with clients, a
// signing key and change-log rows is migrated to the latest version by Open,
// and nothing is lost.
func TestUpgradeKeepsData(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if v, err := postgres.MigrateTo(ctx, pool, 1); err != nil || v != 1 {
		t.Fatalf("migrating to version 1: %d %v", v, err)
	}
	secret := credential.NewSecret()
	hash := credential.HashOf(secret)
	id := credential.NewClientID()
	created := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	expires := created.Add(365 * 24 * time.Hour)
	revoked := created.Add(time.Hour)
	// Version 1 rows, written with version 1's columns.
	if _, err := pool.Exec(ctx, `INSERT INTO blnk_auth_clients (client_id, name, type, scopes, secret_hash, secret_hint, created_at, expires_at, revoked_at)
		VALUES ($1, 'old client', 'oauth', '{mcp:read,ledgers:*}', $2, 'hint', $3, $4, $5)`,
		id, hash[:], created, expires, revoked); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO blnk_auth_signing_keys (kid, algorithm, sealed_key, created_at) VALUES ('k1', 'ES256', '\x00', $1)`, created); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO blnk_auth_changes (client_id) VALUES ($1)`, id); err != nil {
		t.Fatal(err)
	}

	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("upgrading: %v", err)
	}
	defer st.Close()
	c, err := st.GetClient(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "old client" || c.Scopes.String() != "ledgers:* mcp:read" || !c.CreatedAt.Equal(created) || !c.ExpiresAt.Equal(expires) ||
		!c.RevokedAt.Equal(revoked) || !c.SecretMatches(secret, time.Now()) || c.PreviousSecretHash != nil || c.Status(time.Now()) != store.StatusRevoked {
		t.Fatalf("client after upgrade: %+v", c)
	}
	// The signing key is kept byte for byte, in a keyring with a deployment
	// ID and no check value yet (package keyring seals it again on start).
	kr, err := st.Keyring(ctx)
	if err != nil || len(kr.Keys) != 1 || kr.Keys[0].KID != "k1" || string(kr.Keys[0].Sealed) != "\x00" || !kr.Keys[0].CreatedAt.Equal(created) {
		t.Fatalf("keyring after upgrade: %+v %v", kr, err)
	}
	if len(kr.DeploymentID) != 16 || kr.Check != nil || kr.SessionKey != nil {
		t.Errorf("keyring after upgrade: deployment ID %x, check %x", kr.DeploymentID, kr.Check)
	}
	var changes int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM blnk_auth_changes WHERE client_id = $1`, id).Scan(&changes); err != nil || changes != 1 {
		t.Fatalf("change log after upgrade: %d %v", changes, err)
	}
	// The new schema works on the old rows.
	if _, err := st.ListAudit(ctx, store.AuditFilter{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	other := credential.NewClientID()
	o := &store.Client{ID: other, Name: "new", Type: store.TypeOAuth, Scopes: c.Scopes, SecretHash: credential.HashOf(secret), SecretHint: "h", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := st.CreateClient(ctx, o, store.Audit{Actor: "test", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RollSecret(ctx, other, store.SecretRoll{Hash: credential.HashOf(credential.NewSecret()), Hint: "n"}, store.Audit{Actor: "test", Time: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
}
