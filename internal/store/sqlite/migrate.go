package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

func migrations() ([]store.Migration, error) {
	return store.ReadMigrations(migrationFiles, "migrations")
}

// latestVersion is the schema version this build migrates to.
func latestVersion() (int, error) {
	all, err := migrations()
	if err != nil {
		return 0, err
	}
	return all[len(all)-1].Version, nil
}

// migrate applies every pending migration up to version target (0: the
// latest) in one transaction. db is the writer, whose transactions are BEGIN
// IMMEDIATE: the transaction takes the database's write lock before it reads
// the schema version, so processes opening the file at once apply each
// migration exactly once (the others wait, through busy_timeout, and then
// find nothing to do), and a failed migration leaves nothing half-applied
// (SQLite's DDL is transactional). It returns the schema version.
func migrate(ctx context.Context, db *sql.DB, target int) (int, error) {
	all, err := migrations()
	if err != nil {
		return 0, err
	}
	latest := all[len(all)-1].Version
	if target <= 0 {
		target = latest
	}
	version := 0
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("taking the database's write lock: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS blnk_auth_schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return 0, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM blnk_auth_schema_migrations`)
	if err != nil {
		return 0, err
	}
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return 0, err
		}
		applied[v] = true
		version = max(version, v)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	rows.Close()
	if version > latest {
		return version, fmt.Errorf("database schema version %d is newer than this build knows (%d): upgrade the gateway", version, latest)
	}
	// Every embedded migration not applied yet, even one numbered below the
	// newest applied: versions are taken by parallel work, and one may land
	// after a higher number did.
	for _, m := range all {
		if applied[m.Version] || m.Version > target {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return version, fmt.Errorf("applying migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, time.Now().UnixMicro()); err != nil {
			return version, err
		}
		version = max(version, m.Version)
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return version, nil
}
