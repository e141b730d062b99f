// Package postgres is the PostgreSQL store: pgx/v5, embedded migrations applied
// under an advisory lock, and LISTEN/NOTIFY plus a change log so that every
// gateway instance on the same database learns of each change within moments.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// Store implements store.Store on a pgx pool.
type Store struct {
	pool *pgxpool.Pool
	// ListenerName is the application_name of the LISTEN connection, so an
	// operator (or a test) can find it in pg_stat_activity.
	ListenerName string
	// pollInterval > 0: Follow polls the change log instead of listening
	// (see Options.PollInterval).
	pollInterval time.Duration
	// maxStale is Options.MaxStale: how soon after it was last known
	// current the follower must have reported a loss.
	maxStale time.Duration
	// fallback says why Follow polls although it was not told to ("" if
	// it was told, or listens).
	fallback string
}

// DefaultPollInterval is how often the change log is polled when LISTEN is
// found not to work and no interval was given.
const DefaultPollInterval = 150 * time.Millisecond

// Options are how the store reaches the database.
type Options struct {
	// PollInterval, when above zero, makes Follow read the change log at this
	// interval through the pool instead of holding a LISTEN connection: for a
	// transaction-pooling PgBouncer, where LISTEN does not work (the session
	// that listened goes back to the pool), and for Postgres-wire databases
	// without LISTEN/NOTIFY. Queries then also run without prepared statements
	// (pgx's QueryExecModeExec: one round trip, parameters sent with the
	// query), which such a pooler cannot keep on one server connection;
	// default_query_exec_mode in the connection string overrides that.
	// Default 0: LISTEN/NOTIFY if a probe at Open finds that it works (a
	// notification sent from one session reaches another that listens),
	// else polling every DefaultPollInterval as if told so.
	PollInterval time.Duration
	// ListenOnly: when the probe finds that LISTEN/NOTIFY does not work,
	// Open fails instead of falling back to polling. Default false.
	ListenOnly bool
	// MaxStale is how long the watchers trust what they hold after the
	// follower was last known to be caught up (the gateway's max_stale;
	// clientcache.Config.MaxUnsynced): the follower reports a loss by then
	// at the latest, however the connection dies. A connection cut without
	// a reset only shows as a round trip that does not come back, so the
	// LISTEN follower makes one at least every MaxStale/2 (bounded by as
	// long again), and a poll that works is given until MaxStale after the
	// last one that worked. Default 1s.
	MaxStale time.Duration
}

// DefaultMaxStale is Options.MaxStale's default, the gateway's max_stale.
const DefaultMaxStale = time.Second

// Open connects, checks the connection and migrates the schema, following
// changes with LISTEN/NOTIFY.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message can echo the DSN, password included; keep ours plain.
		return nil, errors.New("invalid PostgreSQL connection string: expected postgres://user:password@host:port/dbname or key=value pairs")
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "blnk_auth"
	}
	if o.MaxStale <= 0 {
		o.MaxStale = DefaultMaxStale
	}
	var fallback string
	if o.PollInterval <= 0 {
		works, err := listenWorks(ctx, cfg.ConnConfig)
		if err != nil {
			return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
		}
		if !works {
			const why = "LISTEN/NOTIFY does not work through this connection (a transaction-pooling PgBouncer, or a database without it)"
			if o.ListenOnly {
				return nil, errors.New(why + ": use change_feed poll")
			}
			o.PollInterval, fallback = DefaultPollInterval, why
		}
	}
	if o.PollInterval > 0 && !strings.Contains(dsn, "default_query_exec_mode") {
		// A named prepared statement lives on one server connection; behind a
		// transaction pooler the next query may run on another, which does
		// not have it ("prepared statement does not exist").
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if _, err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrating the database schema: %w", err)
	}
	return &Store{pool: pool, ListenerName: "blnk_auth_listener", pollInterval: o.PollInterval, maxStale: o.MaxStale, fallback: fallback}, nil
}

// FollowFallback says why Follow polls the change log although it was not
// told to: LISTEN/NOTIFY was found not to work at Open. "" otherwise.
func (s *Store) FollowFallback() string { return s.fallback }

// listenProbeTimeout bounds the wait for the probe's notification: directly
// on PostgreSQL it arrives within milliseconds.
const listenProbeTimeout = 2 * time.Second

// listenWorks reports whether LISTEN/NOTIFY works through cfg: a notification
// sent from one session reaches another that listens. Behind a
// transaction-pooling PgBouncer the LISTEN runs on a server connection that
// goes back to the pool at once, and the notification never reaches the
// client that asked (so the probe waits listenProbeTimeout); a database
// without LISTEN refuses it. Both queries use the simple protocol, which
// needs no prepared statement. An error is a failure to connect.
func listenWorks(ctx context.Context, cfg *pgx.ConnConfig) (bool, error) {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	channel := "blnk_auth_probe_" + hex.EncodeToString(nonce[:])
	listener, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return false, err
	}
	defer listener.Close(context.Background())
	var pgErr *pgconn.PgError
	if _, err := listener.Exec(ctx, "LISTEN "+channel, pgx.QueryExecModeSimpleProtocol); err != nil {
		if errors.As(err, &pgErr) {
			return false, nil // refused: no LISTEN here
		}
		return false, err
	}
	notifier, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return false, err
	}
	defer notifier.Close(context.Background())
	if _, err := notifier.Exec(ctx, "NOTIFY "+channel, pgx.QueryExecModeSimpleProtocol); err != nil {
		if errors.As(err, &pgErr) {
			return false, nil
		}
		return false, err
	}
	wctx, cancel := context.WithTimeout(ctx, listenProbeTimeout)
	defer cancel()
	n, err := listener.WaitForNotification(wctx)
	switch {
	case err == nil:
		return n.Channel == channel, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	case wctx.Err() != nil:
		return false, nil // never arrived
	default:
		return false, err
	}
}

// Pool exposes the connection pool (for tests and health checks).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping implements store.Store: a round trip that reads the clients table, so
// that a database without the gateway's schema is not "ready".
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `SELECT 1 FROM blnk_auth_clients LIMIT 0`)
	return err
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

const clientColumns = `client_id, name, type, scopes, secret_hash, secret_hint, created_at, expires_at, revoked_at, last_used_at, previous_secret_hash, previous_secret_expires_at, rate_limit_requests, rate_limit_per_seconds, rate_limit_burst, redirect_uris, token_endpoint_auth_method, jwks, jwks_uri`

func scanClient(row pgx.Row) (*store.Client, error) {
	var (
		c      store.Client
		typ    string
		scopes []string
		hash   []byte
		prev   []byte
		rl     [3]*int32
		method string
		keys   [2]*string
	)
	if err := row.Scan(&c.ID, &c.Name, &typ, &scopes, &hash, &c.SecretHint, &c.CreatedAt, &c.ExpiresAt, &c.RevokedAt, &c.LastUsedAt, &prev, &c.PreviousSecretExpiresAt, &rl[0], &rl[1], &rl[2], &c.RedirectURIs, &method, &keys[0], &keys[1]); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	c.Type = store.Type(typ)
	utc(&c.CreatedAt, c.ExpiresAt, c.RevokedAt, c.LastUsedAt, c.PreviousSecretExpiresAt)
	set, err := scope.FromList(scopes)
	if err != nil {
		return nil, fmt.Errorf("client %s has invalid stored scopes: %w", c.ID, err)
	}
	c.Scopes = set
	if len(hash) != len(c.SecretHash) {
		return nil, fmt.Errorf("client %s has a malformed secret hash", c.ID)
	}
	copy(c.SecretHash[:], hash)
	if prev != nil {
		var h credential.Hash
		if len(prev) != len(h) {
			return nil, fmt.Errorf("client %s has a malformed previous secret hash", c.ID)
		}
		copy(h[:], prev)
		c.PreviousSecretHash = &h
	}
	if rl[0] != nil && rl[1] != nil && rl[2] != nil {
		c.RateLimit = &store.RateLimit{Requests: int(*rl[0]), Per: time.Duration(*rl[1]) * time.Second, Burst: int(*rl[2])}
	}
	c.AuthMethod = store.AuthMethod(method)
	c.Keys = store.ClientKeys{JWKS: deref(keys[0]), JWKSURI: deref(keys[1])}
	if len(c.RedirectURIs) == 0 {
		c.RedirectURIs = nil
	}
	return &c, nil
}

// rateLimitArgs are the three rate limit columns of l (NULL for nil).
func rateLimitArgs(l *store.RateLimit) (requests, perSeconds, burst *int32) {
	if l == nil {
		return nil, nil, nil
	}
	r, p, b := int32(l.Requests), int32(l.Per/time.Second), int32(l.Burst)
	return &r, &p, &b
}

// utc puts times read from the database in UTC, whatever the session's time zone.
func utc(first *time.Time, rest ...*time.Time) {
	*first = first.UTC()
	for _, t := range rest {
		if t != nil {
			*t = t.UTC()
		}
	}
}

func hashBytes(h *credential.Hash) []byte {
	if h == nil {
		return nil
	}
	return h[:]
}

// record writes the change-log entry (with its NOTIFY) and the audit event of
// a change, inside the change's transaction.
func record(ctx context.Context, tx pgx.Tx, clientID, action string, a store.Audit) error {
	if err := logChange(ctx, tx, clientID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO blnk_auth_audit (at, actor, action, client_id, source, request_id) VALUES ($1,$2,$3,$4,$5,$6)`,
		a.Time, a.Actor, action, clientID, a.Source, a.RequestID)
	return err
}

// logChange appends to the change log and notifies listeners; both take effect
// only when the surrounding transaction commits.
func logChange(ctx context.Context, tx pgx.Tx, clientID string) error {
	_, err := tx.Exec(ctx, `WITH c AS (INSERT INTO blnk_auth_changes (client_id) VALUES ($1) RETURNING id, client_id)
		SELECT pg_notify('blnk_auth_changes', c.id::text || ' ' || c.client_id) FROM c`, clientID)
	return err
}

// CreateClient implements store.Store.
func (s *Store) CreateClient(ctx context.Context, c *store.Client, a store.Audit) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rlRequests, rlPer, rlBurst := rateLimitArgs(c.RateLimit)
		_, err := tx.Exec(ctx, `INSERT INTO blnk_auth_clients (`+clientColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)`,
			c.ID, c.Name, string(c.Type), c.Scopes.List(), c.SecretHash[:], c.SecretHint, c.CreatedAt, c.ExpiresAt, c.RevokedAt, c.LastUsedAt,
			hashBytes(c.PreviousSecretHash), c.PreviousSecretExpiresAt, rlRequests, rlPer, rlBurst, uriList(c.RedirectURIs),
			string(c.AuthMethod.OrDefault()), nullString(c.Keys.JWKS), nullString(c.Keys.JWKSURI))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return store.ErrExists
		}
		if err != nil {
			return err
		}
		// A listener may hold a negative cache entry for this ID.
		return record(ctx, tx, c.ID, store.ActionCreate, a)
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
func (s *Store) RevokeClient(ctx context.Context, id string, at time.Time, a store.Audit, g store.Guard) (*store.Client, error) {
	var c *store.Client
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := lockGuarded(ctx, tx, id, g); err != nil {
			return err
		}
		var err error
		c, err = scanClient(tx.QueryRow(ctx, `UPDATE blnk_auth_clients SET revoked_at = coalesce(revoked_at, $2)
			WHERE client_id = $1 RETURNING `+clientColumns, id, at))
		if err != nil {
			return err
		}
		// Nothing the client holds works any more: its refresh tokens go too.
		if err := endClientTokens(ctx, tx, id, false); err != nil {
			return err
		}
		return record(ctx, tx, id, store.ActionRevoke, a)
	})
	return c, err
}

// lockGuarded locks a client's row until the transaction ends and asks g
// (if any) about the client as committed: a change to the client made by
// another transaction either committed before the lock, and g sees it, or
// waits for this transaction. It reports whether the client is revoked.
// Without a guard it reads no more than that, so an unguarded change (the
// CLI's) still reaches a row that does not scan.
func lockGuarded(ctx context.Context, tx pgx.Tx, id string, g store.Guard) (revoked bool, err error) {
	if g == nil {
		err := tx.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM blnk_auth_clients WHERE client_id = $1 FOR UPDATE`, id).Scan(&revoked)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, store.ErrNotFound
		}
		return revoked, err
	}
	c, err := scanClient(tx.QueryRow(ctx, `SELECT `+clientColumns+` FROM blnk_auth_clients WHERE client_id = $1 FOR UPDATE`, id))
	if err != nil {
		return false, err
	}
	if err := g(c); err != nil {
		return false, err
	}
	return c.RevokedAt != nil, nil
}

// lockActive is lockGuarded for a change that a revoked client refuses.
func lockActive(ctx context.Context, tx pgx.Tx, id string, g store.Guard) error {
	revoked, err := lockGuarded(ctx, tx, id, g)
	if err != nil {
		return err
	}
	if revoked {
		return store.ErrRevoked
	}
	return nil
}

// UpdateClient implements store.Store.
func (s *Store) UpdateClient(ctx context.Context, id string, u store.ClientUpdate, a store.Audit, g store.Guard) (*store.Client, error) {
	var c *store.Client
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockActive(ctx, tx, id, g); err != nil {
			return err
		}
		var scopes []string
		if u.Scopes != nil {
			scopes = u.Scopes.List()
		}
		var expires *time.Time
		if u.ExpiresAt != nil {
			expires = *u.ExpiresAt
		}
		var limit *store.RateLimit
		if u.RateLimit != nil {
			limit = *u.RateLimit
		}
		rlRequests, rlPer, rlBurst := rateLimitArgs(limit)
		var keys store.ClientKeys
		if u.Keys != nil {
			keys = *u.Keys
		}
		var err error
		c, err = scanClient(tx.QueryRow(ctx, `UPDATE blnk_auth_clients SET
				name = CASE WHEN $2 THEN $3 ELSE name END,
				scopes = CASE WHEN $4 THEN $5::text[] ELSE scopes END,
				expires_at = CASE WHEN $6 THEN $7::timestamptz ELSE expires_at END,
				rate_limit_requests = CASE WHEN $8 THEN $9::integer ELSE rate_limit_requests END,
				rate_limit_per_seconds = CASE WHEN $8 THEN $10::integer ELSE rate_limit_per_seconds END,
				rate_limit_burst = CASE WHEN $8 THEN $11::integer ELSE rate_limit_burst END,
				redirect_uris = CASE WHEN $12 THEN $13::text[] ELSE redirect_uris END,
				jwks = CASE WHEN $14 THEN $15::text ELSE jwks END,
				jwks_uri = CASE WHEN $14 THEN $16::text ELSE jwks_uri END
			WHERE client_id = $1 RETURNING `+clientColumns,
			id, u.Name != nil, deref(u.Name), u.Scopes != nil, scopes, u.ExpiresAt != nil, expires, u.RateLimit != nil, rlRequests, rlPer, rlBurst,
			u.RedirectURIs != nil, uriListPtr(u.RedirectURIs), u.Keys != nil, nullString(keys.JWKS), nullString(keys.JWKSURI)))
		if err != nil {
			return err
		}
		return record(ctx, tx, id, store.ActionUpdate, a)
	})
	return c, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// RollSecret implements store.Store.
func (s *Store) RollSecret(ctx context.Context, id string, r store.SecretRoll, a store.Audit, g store.Guard) (*store.Client, error) {
	var c *store.Client
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockActive(ctx, tx, id, g); err != nil {
			return err
		}
		var err error
		c, err = scanClient(tx.QueryRow(ctx, `UPDATE blnk_auth_clients SET
				previous_secret_hash = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE secret_hash END,
				previous_secret_expires_at = $4::timestamptz,
				secret_hash = $2, secret_hint = $3
			WHERE client_id = $1 RETURNING `+clientColumns, id, r.Hash[:], r.Hint, r.PreviousValidUntil))
		if err != nil {
			return err
		}
		return record(ctx, tx, id, store.ActionRollSecret, a)
	})
	return c, err
}

// ListAudit implements store.Store.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, at, actor, action, client_id, source, request_id FROM blnk_auth_audit
		WHERE ($1 = '' OR client_id = $1) AND ($2::bigint = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, f.ClientID, f.BeforeID, f.Limit)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[store.AuditEvent])
	if out == nil {
		out = []store.AuditEvent{}
	}
	return out, err
}

// DeleteClient implements store.Store.
func (s *Store) DeleteClient(ctx context.Context, id string, a store.Audit, g store.Guard) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := lockGuarded(ctx, tx, id, g); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM blnk_auth_clients WHERE client_id = $1`, id); err != nil {
			return err
		}
		if err := endClientTokens(ctx, tx, id, true); err != nil {
			return err
		}
		return record(ctx, tx, id, store.ActionDelete, a)
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

// Keyring implements store.Store.
func (s *Store) Keyring(ctx context.Context) (store.Keyring, error) {
	var kr store.Keyring
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		kr, err = readKeyring(ctx, tx, "")
		return err
	})
	return kr, err
}

// readKeyring reads the keyring in tx; lock "FOR UPDATE" holds its row until
// tx ends.
func readKeyring(ctx context.Context, tx pgx.Tx, lock string) (store.Keyring, error) {
	var kr store.Keyring
	if err := tx.QueryRow(ctx, `SELECT deployment_id, check_value, session_key FROM blnk_auth_keyring `+lock).Scan(&kr.DeploymentID, &kr.Check, &kr.SessionKey); err != nil {
		return kr, fmt.Errorf("reading the keyring: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT kid, algorithm, sealed_key, created_at, activates_at, retires_at, revoked_at, recorded_state
		FROM blnk_auth_signing_keys ORDER BY created_at DESC, kid`)
	if err != nil {
		return kr, err
	}
	kr.Keys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SigningKey, error) {
		var k store.SigningKey
		err := r.Scan(&k.KID, &k.Algorithm, &k.Sealed, &k.CreatedAt, &k.ActivatesAt, &k.RetiresAt, &k.RevokedAt, &k.RecordedState)
		utc(&k.CreatedAt, &k.ActivatesAt, k.RetiresAt, k.RevokedAt)
		return k, err
	})
	return kr, err
}

// UpdateKeyring implements store.Store: the keyring's row, locked for the
// transaction, serialises every update across instances.
func (s *Store) UpdateKeyring(ctx context.Context, decide func(store.Keyring) (store.KeyringUpdate, error)) (store.Keyring, error) {
	var out store.Keyring
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := readKeyring(ctx, tx, "FOR UPDATE")
		if err != nil {
			return err
		}
		u, err := decide(cur)
		if err != nil {
			return err
		}
		if u.Empty() {
			out = cur
			return nil
		}
		if u.Check != nil {
			if _, err := tx.Exec(ctx, `UPDATE blnk_auth_keyring SET check_value = $1`, u.Check); err != nil {
				return err
			}
		}
		if u.SessionKey != nil {
			if _, err := tx.Exec(ctx, `UPDATE blnk_auth_keyring SET session_key = $1`, u.SessionKey); err != nil {
				return err
			}
		}
		if err := writeKeys(ctx, tx, u); err != nil {
			return err
		}
		out, err = readKeyring(ctx, tx, "")
		return err
	})
	return out, err
}

// RevokeToken implements store.Store.
func (s *Store) RevokeToken(ctx context.Context, t store.RevokedToken) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return revokeTokenTx(ctx, tx, t) })
}

// revokeTokenTx records a revoked token and its change-log entry inside tx.
func revokeTokenTx(ctx context.Context, tx pgx.Tx, t store.RevokedToken) error {
	tag, err := tx.Exec(ctx, `INSERT INTO blnk_auth_revoked_tokens (jti, client_id, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (jti) DO NOTHING`, t.JTI, t.ClientID, t.ExpiresAt)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	_, err = tx.Exec(ctx, `WITH c AS (INSERT INTO blnk_auth_changes (client_id, jti) VALUES ($1, $2) RETURNING id, client_id, jti)
		SELECT pg_notify('blnk_auth_changes', c.id::text || ' ' || c.client_id || ' ' || c.jti) FROM c`, t.ClientID, t.JTI)
	return err
}

// RevokedTokens implements store.Store.
func (s *Store) RevokedTokens(ctx context.Context, now time.Time) ([]store.RevokedToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT jti, client_id, expires_at FROM blnk_auth_revoked_tokens WHERE expires_at > $1 ORDER BY jti`, now)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.RevokedToken, error) {
		var t store.RevokedToken
		err := r.Scan(&t.JTI, &t.ClientID, &t.ExpiresAt)
		t.ExpiresAt = t.ExpiresAt.UTC()
		return t, err
	})
	if out == nil {
		out = []store.RevokedToken{}
	}
	return out, err
}

// TokenRevoked implements store.Store.
func (s *Store) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blnk_auth_revoked_tokens WHERE jti = $1)`, jti).Scan(&revoked)
	return revoked, err
}

var (
	_ store.Store = (*Store)(nil)
)
