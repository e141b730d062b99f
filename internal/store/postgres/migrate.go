package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock key that serialises migrations across
// instances starting at once ("blnkauth" in ASCII).
const migrationLock int64 = 0x626c6e6b61757468

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %q: name must start with a version number and '_'", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
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
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM blnk_auth_schema_migrations`).Scan(&version); err != nil {
			return err
		}
		if latest := all[len(all)-1].version; version > latest {
			return fmt.Errorf("database schema version %d is newer than this build knows (%d): upgrade the gateway", version, latest)
		}
		for _, m := range all {
			if m.version <= version || (target >= 0 && m.version > target) {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("applying migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO blnk_auth_schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return err
			}
			version = m.version
		}
		return nil
	})
	return version, err
}
