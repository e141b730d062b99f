// Package postgres is the PostgreSQL store: pgx/v5, embedded migrations applied
// under an advisory lock, and LISTEN/NOTIFY plus a change log so that every
// gateway instance on the same database learns of each change within moments.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// Store implements store.Store on a pgx pool.
type Store struct {
	pool *pgxpool.Pool
	// ListenerName is the application_name of the LISTEN connection, so an
	// operator (or a test) can find it in pg_stat_activity.
	ListenerName string
}

// Open connects, checks the connection and migrates the schema.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message can echo the DSN, password included; keep ours plain.
		return nil, errors.New("invalid PostgreSQL connection string: expected postgres://user:password@host:port/dbname or key=value pairs")
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "blnk_auth"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if _, err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrating the database schema: %w", err)
	}
	return &Store{pool: pool, ListenerName: "blnk_auth_listener"}, nil
}

// Pool exposes the connection pool (for tests and health checks).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

const clientColumns = `client_id, name, type, scopes, secret_hash, secret_hint, created_at, expires_at, revoked_at, last_used_at`

func scanClient(row pgx.Row) (*store.Client, error) {
	var (
		c      store.Client
		typ    string
		scopes []string
		hash   []byte
	)
	if err := row.Scan(&c.ID, &c.Name, &typ, &scopes, &hash, &c.SecretHint, &c.CreatedAt, &c.ExpiresAt, &c.RevokedAt, &c.LastUsedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	c.Type = store.Type(typ)
	set, err := scope.FromList(scopes)
	if err != nil {
		return nil, fmt.Errorf("client %s has invalid stored scopes: %w", c.ID, err)
	}
	c.Scopes = set
	if len(hash) != len(c.SecretHash) {
		return nil, fmt.Errorf("client %s has a malformed secret hash", c.ID)
	}
	copy(c.SecretHash[:], hash)
	return &c, nil
}

// logChange appends to the change log and notifies listeners; both take effect
// only when the surrounding transaction commits.
func logChange(ctx context.Context, tx pgx.Tx, clientID string) error {
	_, err := tx.Exec(ctx, `WITH c AS (INSERT INTO blnk_auth_changes (client_id) VALUES ($1) RETURNING id, client_id)
		SELECT pg_notify('blnk_auth_changes', c.id::text || ' ' || c.client_id) FROM c`, clientID)
	return err
}

// CreateClient implements store.Store.
func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO blnk_auth_clients (`+clientColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
			c.ID, c.Name, string(c.Type), c.Scopes.List(), c.SecretHash[:], c.SecretHint, c.CreatedAt, c.ExpiresAt, c.RevokedAt, c.LastUsedAt)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return store.ErrExists
		}
		if err != nil {
			return err
		}
		// A listener may hold a negative cache entry for this ID.
		return logChange(ctx, tx, c.ID)
	})
}

// GetClient implements store.Store.
func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return scanClient(s.pool.QueryRow(ctx, `SELECT `+clientColumns+` FROM blnk_auth_clients WHERE client_id = $1`, id))
}

// ListClients implements store.Store.
func (s *Store) ListClients(ctx context.Context, f store.ListFilter, now time.Time) ([]*store.Client, error) {
	q := `SELECT ` + clientColumns + ` FROM blnk_auth_clients WHERE true`
	args := []any{}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	switch f.Status {
	case store.StatusRevoked:
		q += ` AND revoked_at IS NOT NULL`
	case store.StatusExpired:
		q += ` AND revoked_at IS NULL AND expires_at <= ` + arg(now)
	case store.StatusActive:
		q += ` AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ` + arg(now) + `)`
	}
	if f.Type != "" {
		q += ` AND type = ` + arg(string(f.Type))
	}
	if f.After != nil {
		q += ` AND (created_at, client_id) < (` + arg(f.After.CreatedAt) + `, ` + arg(f.After.ID) + `)`
	}
	q += ` ORDER BY created_at DESC, client_id DESC LIMIT ` + arg(f.Limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*store.Client{}
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevokeClient implements store.Store.
func (s *Store) RevokeClient(ctx context.Context, id string, at time.Time) (*store.Client, error) {
	var c *store.Client
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		c, err = scanClient(tx.QueryRow(ctx, `UPDATE blnk_auth_clients SET revoked_at = coalesce(revoked_at, $2)
			WHERE client_id = $1 RETURNING `+clientColumns, id, at))
		if err != nil {
			return err
		}
		return logChange(ctx, tx, id)
	})
	return c, err
}

// DeleteClient implements store.Store.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM blnk_auth_clients WHERE client_id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return logChange(ctx, tx, id)
	})
}

// TouchLastUsed implements store.Store. It logs no change: last use is shown to
// people, never used to decide access.
func (s *Store) TouchLastUsed(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]string, 0, len(used))
	times := make([]time.Time, 0, len(used))
	for id, t := range used {
		ids = append(ids, id)
		times = append(times, t)
	}
	_, err := s.pool.Exec(ctx, `UPDATE blnk_auth_clients c SET last_used_at = u.t
		FROM unnest($1::text[], $2::timestamptz[]) AS u(id, t)
		WHERE c.client_id = u.id AND (c.last_used_at IS NULL OR c.last_used_at < u.t)`, ids, times)
	return err
}

// SigningKeys implements store.Store.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT kid, algorithm, sealed_key, created_at FROM blnk_auth_signing_keys ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SigningKey, error) {
		var k store.SigningKey
		err := r.Scan(&k.KID, &k.Algorithm, &k.Sealed, &k.CreatedAt)
		return k, err
	})
}

// EnsureSigningKey implements store.Store: the advisory lock makes "insert
// unless one exists" atomic across instances.
func (s *Store) EnsureSigningKey(ctx context.Context, k store.SigningKey) (store.SigningKey, error) {
	var out store.SigningKey
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock+1); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO blnk_auth_signing_keys (kid, algorithm, sealed_key, created_at)
			SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM blnk_auth_signing_keys WHERE algorithm = $2)`,
			k.KID, k.Algorithm, k.Sealed, k.CreatedAt); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT kid, algorithm, sealed_key, created_at FROM blnk_auth_signing_keys
			WHERE algorithm = $1 ORDER BY created_at DESC, kid LIMIT 1`, k.Algorithm).Scan(&out.KID, &out.Algorithm, &out.Sealed, &out.CreatedAt)
	})
	return out, err
}

var (
	_ store.Store = (*Store)(nil)
)
