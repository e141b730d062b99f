package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// SetHeartbeat sets the listener's heartbeat until the returned function
// restores it.
func SetHeartbeat(d time.Duration) (restore func()) {
	old := heartbeatNanos.Swap(int64(d))
	return func() { heartbeatNanos.Store(old) }
}

// MigrateTo exposes migrateTo to the tests.
var MigrateTo = migrateTo

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
func ApplyOnly(ctx context.Context, pool *pgxpool.Pool, version int) error {
	all, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range all {
		if m.Version == version {
			if _, err := pool.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := pool.Exec(ctx, `INSERT INTO blnk_auth_schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		}
	}
	return nil
}

// Prune runs the follower's housekeeping once.
func (s *Store) Prune(ctx context.Context) error {
	return s.prunePool(ctx)
}
