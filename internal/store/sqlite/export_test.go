package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// PollInterval is how often Follow polls the change log.
const PollInterval = pollInterval

// LatestVersion is the schema version this build migrates to.
func LatestVersion() int {
	v, err := latestVersion()
	if err != nil {
		panic(err)
	}
	return v
}

// OpenWriter opens the file at path as Open does (creating it if missing, WAL
// mode) but migrates nothing; it returns the writer pool, whose transactions
// are BEGIN IMMEDIATE. The caller closes it.
func OpenWriter(ctx context.Context, path string) (*sql.DB, error) {
	w, r, _, err := openDBs(path)
	if err != nil {
		return nil, err
	}
	r.Close()
	if err := setWAL(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// MigrateTo applies the migrations up to version only, as an older build
// would have; it returns the schema version.
func MigrateTo(ctx context.Context, w *sql.DB, version int) (int, error) {
	return migrate(ctx, w, version)
}

// Writer is the store's writer pool (one connection).
func (s *Store) Writer() *sql.DB { return s.w }

// Reader is the store's read-only pool.
func (s *Store) Reader() *sql.DB { return s.r }

// Prune deletes the change-log entries written before cutoff.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) error { return s.prune(ctx, cutoff) }

// MigrationVersions are the versions of the embedded migrations, oldest first.
func MigrationVersions() []int {
	all, err := migrations()
	if err != nil {
		panic(err)
	}
	var out []int
	for _, m := range all {
		out = append(out, m.Version)
	}
	return out
}

// ApplyOnly applies the one embedded migration numbered version, as a build
// that had only it beyond the others would have.
func ApplyOnly(ctx context.Context, w *sql.DB, version int) error {
	all, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range all {
		if m.Version == version {
			if _, err := w.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := w.ExecContext(ctx, `INSERT INTO blnk_auth_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, m.Version, m.Name, time.Now().UnixMicro())
			return err
		}
	}
	return nil
}
