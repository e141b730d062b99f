// Package sqlite is the embedded store: one SQLite file, in WAL mode, through
// the pure-Go (cgo-free) driver modernc.org/sqlite. Several processes may use
// the file at once, typically the gateway and the CLI: SQLite's file locks
// serialise their writes, and every gateway learns of the others' changes by
// polling the change log (see Follow).
//
// Times are stored as INTEGER unix microseconds (UTC), which keeps the
// precision the store contract asks for and sorts exactly, and scopes as
// their tokens joined by single spaces.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/privfile"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// busyTimeout is how long a statement waits for another connection or
// process holding the write lock before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// Store implements store.Store on an SQLite file.
//
// Writes go through w, a pool of exactly one connection whose transactions
// are BEGIN IMMEDIATE: writers of this process queue for that connection in
// database/sql (respecting their contexts) instead of spinning in SQLite's
// busy handler, and the write lock is taken when a transaction begins, so a
// transaction never fails half-way because another process wrote first.
// Writers in other processes wait for the lock through busy_timeout. Reads go
// through r, a pool of read-only connections, which WAL lets run alongside
// the writer.
type Store struct {
	path string
	w    *sql.DB
	r    *sql.DB

	closeOnce sync.Once
	pruning   atomic.Bool // a change-log prune is running

	pollInterval time.Duration // how often Follow reads the change log
}

// Options tune the embedded store.
type Options struct {
	// PollInterval is how often Follow reads the change log. Default 150ms.
	PollInterval time.Duration
}

// Open opens the database file at path, creating it (mode 0600) and its
// directory (mode 0700) if missing, switches it to WAL mode and migrates its
// schema. It refuses a file whose schema is newer than this build knows.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*Store, error) {
	if o.PollInterval <= 0 {
		o.PollInterval = pollInterval
	}
	w, r, abs, err := openDBs(path)
	if err != nil {
		return nil, err
	}
	s := &Store{path: abs, w: w, r: r, pollInterval: o.PollInterval}
	if err := setWAL(ctx, w); err != nil {
		s.Close()
		return nil, fmt.Errorf("opening SQLite database %s: %w", abs, err)
	}
	if _, err := migrate(ctx, w, 0); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrating the database schema of %s: %w", abs, err)
	}
	if err := r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("opening SQLite database %s: %w", abs, err)
	}
	return s, nil
}

// openDBs creates the file if needed and opens the writer and reader pools,
// without touching the schema.
func openDBs(path string) (w, r *sql.DB, abs string, err error) {
	if path == "" {
		return nil, nil, "", errors.New("sqlite: no database path")
	}
	abs, err = filepath.Abs(path)
	if err != nil {
		return nil, nil, "", err
	}
	dir := filepath.Dir(abs)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, "", fmt.Errorf("creating the database directory: %w", err)
		}
	}
	// Existing files must be private already: SQLite keeps the mode of the
	// database file and gives it to the -wal and -shm it creates.
	for _, p := range []string{abs, abs + "-wal", abs + "-shm"} {
		if err := privfile.Check(p); err != nil {
			return nil, nil, "", fmt.Errorf("opening SQLite database: %w", err)
		}
	}
	// Create the file ourselves so that it is private from the start.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, "", fmt.Errorf("opening SQLite database: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, nil, "", err
	}

	// busy_timeout first, so that the PRAGMAs after it wait for locks too.
	// synchronous(FULL): a commit, a revocation say, survives a power loss.
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=synchronous(FULL)&_pragma=foreign_keys(0)", busyTimeout.Milliseconds())
	w, err = sql.Open("sqlite", fileURI(abs)+"?"+common+"&_txlock=immediate")
	if err != nil {
		return nil, nil, "", err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	r, err = sql.Open("sqlite", fileURI(abs)+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, nil, "", err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return w, r, abs, nil
}

// fileURI is the SQLite URI of an absolute path: the characters that end or
// escape the path part of a URI are percent-encoded, which SQLite decodes.
func fileURI(abs string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
}

// setWAL puts the database in WAL mode (a persistent property of the file):
// readers then never block the writer nor the writer readers, across
// processes too.
func setWAL(ctx context.Context, w *sql.DB) error {
	var mode string
	if err := w.QueryRowContext(ctx, `PRAGMA journal_mode=WAL`).Scan(&mode); err != nil {
		return fmt.Errorf("setting WAL journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("setting WAL journal mode: the database stays in %q mode", mode)
	}
	return nil
}

// Path is the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Ping implements store.Store: a read of the clients table through the
// readers' pool.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.r.ExecContext(ctx, `SELECT 1 FROM blnk_auth_clients LIMIT 0`)
	return err
}

// Close closes the store's connections. It may be called more than once.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		_ = s.r.Close()
		_ = s.w.Close()
	})
}

// write runs fn in a BEGIN IMMEDIATE transaction of the writer connection and
// commits it if fn succeeds.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// micros is t as unix microseconds, rounded to the nearest one (as
// PostgreSQL's timestamptz does).
func micros(t time.Time) int64 { return t.Round(time.Microsecond).UnixMicro() }

// nullMicros is micros(*t), or NULL for nil.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

const clientColumns = `client_id, name, type, scopes, secret_hash, secret_hint, created_at, expires_at, revoked_at, last_used_at, previous_secret_hash, previous_secret_expires_at, rate_limit_requests, rate_limit_per_seconds, rate_limit_burst, redirect_uris, token_endpoint_auth_method, jwks, jwks_uri`

func scanClient(row interface{ Scan(...any) error }) (*store.Client, error) {
	var (
		c                                 store.Client
		typ, scopes, uris                 string
		hash, prev                        []byte
		created                           int64
		expires, revoked, used, prevUntil sql.NullInt64
		rlRequests, rlPer, rlBurst        sql.NullInt64
		method                            string
		jwks, jwksURI                     sql.NullString
	)
	if err := row.Scan(&c.ID, &c.Name, &typ, &scopes, &hash, &c.SecretHint, &created, &expires, &revoked, &used, &prev, &prevUntil, &rlRequests, &rlPer, &rlBurst, &uris, &method, &jwks, &jwksURI); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	c.Type = store.Type(typ)
	var list []string
	if scopes != "" {
		list = strings.Split(scopes, " ")
	}
	set, err := scope.FromList(list)
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
	c.CreatedAt = fromMicros(created)
	c.ExpiresAt = fromNullMicros(expires)
	c.RevokedAt = fromNullMicros(revoked)
	c.LastUsedAt = fromNullMicros(used)
	c.PreviousSecretExpiresAt = fromNullMicros(prevUntil)
	if rlRequests.Valid && rlPer.Valid && rlBurst.Valid {
		c.RateLimit = &store.RateLimit{Requests: int(rlRequests.Int64), Per: time.Duration(rlPer.Int64) * time.Second, Burst: int(rlBurst.Int64)}
	}
	c.AuthMethod = store.AuthMethod(method)
	c.Keys = store.ClientKeys{JWKS: jwks.String, JWKSURI: jwksURI.String}
	if uris != "" {
		c.RedirectURIs = strings.Split(uris, " ")
	}
	return &c, nil
}

// rateLimitArgs are the three rate limit columns of l (NULL for nil).
func rateLimitArgs(l *store.RateLimit) (requests, perSeconds, burst any) {
	if l == nil {
		return nil, nil, nil
	}
	return int64(l.Requests), int64(l.Per / time.Second), int64(l.Burst)
}

func hashBytes(h *credential.Hash) any {
	if h == nil {
		return nil
	}
	return h[:]
}

// record writes the change-log entry and the audit event of a change, inside
// the change's transaction.
func record(ctx context.Context, tx *sql.Tx, clientID, action string, a store.Audit) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_changes (client_id, changed_at) VALUES (?, ?)`,
		clientID, time.Now().UnixMicro()); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_audit (at, actor, action, client_id, source, request_id) VALUES (?, ?, ?, ?, ?, ?)`,
		micros(a.Time), a.Actor, action, clientID, a.Source, a.RequestID)
	return err
}

// CreateClient implements store.Store.
func (s *Store) CreateClient(ctx context.Context, c *store.Client, a store.Audit) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		rlRequests, rlPer, rlBurst := rateLimitArgs(c.RateLimit)
		res, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_clients (`+clientColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
			ON CONFLICT (client_id) DO NOTHING`,
			c.ID, c.Name, string(c.Type), c.Scopes.String(), c.SecretHash[:], c.SecretHint, micros(c.CreatedAt),
			nullMicros(c.ExpiresAt), nullMicros(c.RevokedAt), nullMicros(c.LastUsedAt),
			hashBytes(c.PreviousSecretHash), nullMicros(c.PreviousSecretExpiresAt), rlRequests, rlPer, rlBurst, strings.Join(c.RedirectURIs, " "),
			string(c.AuthMethod.OrDefault()), nullString(c.Keys.JWKS), nullString(c.Keys.JWKSURI))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrExists
		}
		// A follower may hold a negative cache entry for this ID.
		return record(ctx, tx, c.ID, store.ActionCreate, a)
	})
}

// GetClient implements store.Store.
func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return scanClient(s.r.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM blnk_auth_clients WHERE client_id = ?`, id))
}

// ListClients implements store.Store.
func (s *Store) ListClients(ctx context.Context, f store.ListFilter, now time.Time) ([]*store.Client, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list limit %d is negative", f.Limit)
	}
	q := `SELECT ` + clientColumns + ` FROM blnk_auth_clients WHERE true`
	var args []any
	switch f.Status {
	case store.StatusRevoked:
		q += ` AND revoked_at IS NOT NULL`
	case store.StatusExpired:
		q += ` AND revoked_at IS NULL AND expires_at <= ?`
		args = append(args, micros(now))
	case store.StatusActive:
		q += ` AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`
		args = append(args, micros(now))
	}
	if f.Type != "" {
		q += ` AND type = ?`
		args = append(args, string(f.Type))
	}
	if f.After != nil {
		q += ` AND (created_at, client_id) < (?, ?)`
		args = append(args, micros(f.After.CreatedAt), f.After.ID)
	}
	q += ` ORDER BY created_at DESC, client_id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := readGuarded(ctx, tx, id, g); err != nil {
			return err
		}
		var err error
		c, err = scanClient(tx.QueryRowContext(ctx, `UPDATE blnk_auth_clients SET revoked_at = coalesce(revoked_at, ?)
			WHERE client_id = ? RETURNING `+clientColumns, micros(at), id))
		if err != nil {
			return err
		}
		// Nothing the client holds works any more: its refresh tokens go too.
		if err := endClientTokens(ctx, tx, id, false); err != nil {
			return err
		}
		return record(ctx, tx, id, store.ActionRevoke, a)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// readGuarded reads a client inside the caller's transaction and asks g (if
// any) about it, and reports whether the client is revoked. The transaction
// holds the database's write lock from its start (BEGIN IMMEDIATE), so what
// g sees is committed and stays true until the transaction ends: a change by
// another connection or process committed before, or waits. Without a guard
// it reads no more than the revocation, so an unguarded change (the CLI's)
// still reaches a row that does not scan.
func readGuarded(ctx context.Context, tx *sql.Tx, id string, g store.Guard) (revoked bool, err error) {
	if g == nil {
		err := tx.QueryRowContext(ctx, `SELECT revoked_at IS NOT NULL FROM blnk_auth_clients WHERE client_id = ?`, id).Scan(&revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return false, store.ErrNotFound
		}
		return revoked, err
	}
	c, err := scanClient(tx.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM blnk_auth_clients WHERE client_id = ?`, id))
	if err != nil {
		return false, err
	}
	if err := g(c); err != nil {
		return false, err
	}
	return c.RevokedAt != nil, nil
}

// checkActive is readGuarded for a change that a revoked client refuses:
// ErrNotFound, g's error or ErrRevoked unless the client exists, g allows
// the change and the client is not revoked.
func checkActive(ctx context.Context, tx *sql.Tx, id string, g store.Guard) error {
	revoked, err := readGuarded(ctx, tx, id, g)
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := checkActive(ctx, tx, id, g); err != nil {
			return err
		}
		sets := []string{}
		args := []any{}
		if u.Name != nil {
			sets = append(sets, `name = ?`)
			args = append(args, *u.Name)
		}
		if u.Scopes != nil {
			sets = append(sets, `scopes = ?`)
			args = append(args, u.Scopes.String())
		}
		if u.ExpiresAt != nil {
			sets = append(sets, `expires_at = ?`)
			args = append(args, nullMicros(*u.ExpiresAt))
		}
		if u.RateLimit != nil {
			sets = append(sets, `rate_limit_requests = ?`, `rate_limit_per_seconds = ?`, `rate_limit_burst = ?`)
			r, p, b := rateLimitArgs(*u.RateLimit)
			args = append(args, r, p, b)
		}
		if u.Keys != nil {
			sets = append(sets, `jwks = ?`, `jwks_uri = ?`)
			args = append(args, nullString(u.Keys.JWKS), nullString(u.Keys.JWKSURI))
		}
		if u.RedirectURIs != nil {
			sets = append(sets, `redirect_uris = ?`)
			args = append(args, strings.Join(*u.RedirectURIs, " "))
		}
		if len(sets) == 0 {
			sets = append(sets, `client_id = client_id`) // nothing to change; still recorded
		}
		var err error
		c, err = scanClient(tx.QueryRowContext(ctx, `UPDATE blnk_auth_clients SET `+strings.Join(sets, ", ")+`
			WHERE client_id = ? RETURNING `+clientColumns, append(args, id)...))
		if err != nil {
			return err
		}
		return record(ctx, tx, id, store.ActionUpdate, a)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// RollSecret implements store.Store.
func (s *Store) RollSecret(ctx context.Context, id string, r store.SecretRoll, a store.Audit, g store.Guard) (*store.Client, error) {
	var c *store.Client
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := checkActive(ctx, tx, id, g); err != nil {
			return err
		}
		until := nullMicros(r.PreviousValidUntil)
		var err error
		// The right-hand sides of an UPDATE see the row as it was: the
		// previous hash is the secret being replaced.
		c, err = scanClient(tx.QueryRowContext(ctx, `UPDATE blnk_auth_clients SET
				previous_secret_hash = CASE WHEN ? IS NULL THEN NULL ELSE secret_hash END,
				previous_secret_expires_at = ?,
				secret_hash = ?, secret_hint = ?
			WHERE client_id = ? RETURNING `+clientColumns, until, until, r.Hash[:], r.Hint, id))
		if err != nil {
			return err
		}
		return record(ctx, tx, id, store.ActionRollSecret, a)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DeleteClient implements store.Store.
func (s *Store) DeleteClient(ctx context.Context, id string, a store.Audit, g store.Guard) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := readGuarded(ctx, tx, id, g); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_clients WHERE client_id = ?`, id); err != nil {
			return err
		}
		if err := endClientTokens(ctx, tx, id, true); err != nil {
			return err
		}
		return record(ctx, tx, id, store.ActionDelete, a)
	})
}

// ListAudit implements store.Store.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("audit limit %d is negative", f.Limit)
	}
	q := `SELECT id, at, actor, action, client_id, source, request_id FROM blnk_auth_audit WHERE true`
	var args []any
	if f.ClientID != "" {
		q += ` AND client_id = ?`
		args = append(args, f.ClientID)
	}
	if f.BeforeID != 0 {
		q += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.AuditEvent{}
	for rows.Next() {
		var (
			e  store.AuditEvent
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.ClientID, &e.Source, &e.RequestID); err != nil {
			return nil, err
		}
		e.Time = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// TouchLastUsed implements store.Store: one transaction for the whole batch.
// It logs no change: last use is shown to people, never used to decide access.
func (s *Store) TouchLastUsed(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE blnk_auth_clients SET last_used_at = ?
			WHERE client_id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for id, t := range used {
			at := micros(t)
			if _, err := stmt.ExecContext(ctx, at, id, at); err != nil {
				return err
			}
		}
		return nil
	})
}

// Keyring implements store.Store.
func (s *Store) Keyring(ctx context.Context) (store.Keyring, error) {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return store.Keyring{}, err
	}
	defer tx.Rollback()
	return readKeyring(ctx, tx)
}

func readKeyring(ctx context.Context, tx *sql.Tx) (store.Keyring, error) {
	var kr store.Keyring
	if err := tx.QueryRowContext(ctx, `SELECT deployment_id, check_value, session_key FROM blnk_auth_keyring`).Scan(&kr.DeploymentID, &kr.Check, &kr.SessionKey); err != nil {
		return kr, fmt.Errorf("reading the keyring: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT kid, algorithm, sealed_key, created_at, activates_at, retires_at, revoked_at, recorded_state
		FROM blnk_auth_signing_keys ORDER BY created_at DESC, kid`)
	if err != nil {
		return kr, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k                store.SigningKey
			at, activates    int64
			retires, revoked sql.NullInt64
		)
		if err := rows.Scan(&k.KID, &k.Algorithm, &k.Sealed, &at, &activates, &retires, &revoked, &k.RecordedState); err != nil {
			return kr, err
		}
		k.CreatedAt = fromMicros(at)
		k.ActivatesAt = fromMicros(activates)
		k.RetiresAt = fromNullMicros(retires)
		k.RevokedAt = fromNullMicros(revoked)
		kr.Keys = append(kr.Keys, k)
	}
	return kr, rows.Err()
}

// UpdateKeyring implements store.Store. The transaction holds the database's
// write lock from its start (BEGIN IMMEDIATE), which serialises every update
// across connections and processes.
func (s *Store) UpdateKeyring(ctx context.Context, decide func(store.Keyring) (store.KeyringUpdate, error)) (store.Keyring, error) {
	var out store.Keyring
	err := s.write(ctx, func(tx *sql.Tx) error {
		cur, err := readKeyring(ctx, tx)
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
			if _, err := tx.ExecContext(ctx, `UPDATE blnk_auth_keyring SET check_value = ?`, u.Check); err != nil {
				return err
			}
		}
		if u.SessionKey != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE blnk_auth_keyring SET session_key = ?`, u.SessionKey); err != nil {
				return err
			}
		}
		if err := writeKeys(ctx, tx, u); err != nil {
			return err
		}
		out, err = readKeyring(ctx, tx)
		return err
	})
	if err != nil {
		return store.Keyring{}, err
	}
	return out, nil
}

// RevokeToken implements store.Store.
func (s *Store) RevokeToken(ctx context.Context, t store.RevokedToken) error {
	return s.write(ctx, func(tx *sql.Tx) error { return revokeTokenTx(ctx, tx, t) })
}

// revokeTokenTx records a revoked token and its change-log entry inside tx.
func revokeTokenTx(ctx context.Context, tx *sql.Tx, t store.RevokedToken) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_revoked_tokens (jti, client_id, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (jti) DO NOTHING`, t.JTI, t.ClientID, micros(t.ExpiresAt))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO blnk_auth_changes (client_id, jti, changed_at) VALUES (?, ?, ?)`,
		t.ClientID, t.JTI, time.Now().UnixMicro())
	return err
}

// RevokedTokens implements store.Store.
func (s *Store) RevokedTokens(ctx context.Context, now time.Time) ([]store.RevokedToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT jti, client_id, expires_at FROM blnk_auth_revoked_tokens WHERE expires_at > ? ORDER BY jti`, micros(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.RevokedToken{}
	for rows.Next() {
		var t store.RevokedToken
		var exp int64
		if err := rows.Scan(&t.JTI, &t.ClientID, &exp); err != nil {
			return nil, err
		}
		t.ExpiresAt = time.UnixMicro(exp).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// TokenRevoked implements store.Store.
func (s *Store) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blnk_auth_revoked_tokens WHERE jti = ?)`, jti).Scan(&revoked)
	return revoked, err
}

var _ store.Store = (*Store)(nil)
