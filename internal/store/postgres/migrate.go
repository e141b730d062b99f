package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock key that serialises migrations across
// instances starting at once ("blnkauth" in ASCII).
const migrationLock int64 = 0x626c6e6b61757468

func migrations() ([]store.Migration, error) {
	return store.ReadMigrations(migrationFiles, "migrations")
}

// Migrate applies every pending migration in one transaction holding an
// advisory lock, so two instances starting together apply each exactly once and
// a failed migration leaves nothing half-applied. It returns the schema version.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	return migrateTo(ctx, pool, -1)
}

// migrateTo applies the migrations up to target (-1: all); tests use it to
// build an older schema.
func migrateTo(ctx context.Context, pool *pgxpool.Pool, target int) (int, error) {
	all, err := migrations()
	if err != nil {
		return 0, err
	}
	version := 0
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS blnk_auth_schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM blnk_auth_schema_migrations`)
		if err != nil {
			return err
		}
		appliedList, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		applied := map[int]bool{}
		for _, v := range appliedList {
			applied[v] = true
			version = max(version, v)
		}
		if latest := all[len(all)-1].Version; version > latest {
			return fmt.Errorf("database schema version %d is newer than this build knows (%d): upgrade the gateway", version, latest)
		}
		// Every embedded migration not applied yet, even one numbered below
		// the newest applied: versions are taken by parallel work, and one
		// may land after a higher number did.
		for _, m := range all {
			if applied[m.Version] || (target >= 0 && m.Version > target) {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("applying migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO blnk_auth_schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return err
			}
			version = max(version, m.Version)
		}
		return nil
	})
	return version, err
}
