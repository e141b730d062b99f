package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// endClientTokens ends the refresh tokens and codes of a revoked or deleted
// client (and, when deleted, its grants), and what it approved as a person
// (store.ClientPersonID), inside the change's transaction.
func endClientTokens(ctx context.Context, tx *sql.Tx, clientID string, deleted bool) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_refresh_tokens WHERE client_id = ?`, clientID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_codes WHERE client_id = ?`, clientID); err != nil {
		return err
	}
	if deleted {
		if _, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_grants WHERE client_id = ?`, clientID); err != nil {
			return err
		}
	}
	// What the client approved as a person (signed in with its key) for
	// other clients ends with it: its authority was the client's.
	pid := store.ClientPersonID(clientID)
	if err := deleteRefresh(ctx, tx, `person_id = ?`, pid); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_codes WHERE person_id = ?`, pid); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_grants WHERE person_id = ?`, pid)
	return err
}

func toSet(s, what string) (scope.Set, error) {
	var list []string
	if s != "" {
		list = strings.Split(s, " ")
	}
	set, err := scope.FromList(list)
	if err != nil {
		return scope.Set{}, fmt.Errorf("%s has invalid stored scopes: %w", what, err)
	}
	return set, nil
}

// deleteRefresh deletes the refresh tokens matching where (a condition on
// their columns, with args) and revokes the access tokens issued with them
// that have not expired, in tx.
func deleteRefresh(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	rows, err := tx.QueryContext(ctx, `SELECT client_id, access_jti, access_expires_at FROM blnk_auth_refresh_tokens
		WHERE access_jti <> '' AND access_expires_at > ? AND `+where, append([]any{time.Now().UnixMicro()}, args...)...)
	if err != nil {
		return err
	}
	var live []store.RevokedToken
	for rows.Next() {
		var (
			t   store.RevokedToken
			exp int64
		)
		if err := rows.Scan(&t.ClientID, &t.JTI, &exp); err != nil {
			rows.Close()
			return err
		}
		t.ExpiresAt = fromMicros(exp)
		live = append(live, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_refresh_tokens WHERE `+where, args...); err != nil {
		return err
	}
	for _, t := range live {
		if err := revokeTokenTx(ctx, tx, t); err != nil {
			return err
		}
	}
	return nil
}

// SaveGrant implements store.AuthCodeStore.
func (s *Store) SaveGrant(ctx context.Context, g *store.Grant, a store.Audit) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		// A client known by its metadata document (an https URL) has no row.
		if !strings.HasPrefix(g.ClientID, "https://") {
			if err := checkActive(ctx, tx, g.ClientID, nil); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_grants (client_id, person_id, person_name, scopes, created_at, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (client_id, person_id) DO UPDATE SET person_name = excluded.person_name, scopes = excluded.scopes, created_at = excluded.created_at`,
			g.ClientID, g.PersonID, g.PersonName, g.Scopes.String(), micros(g.CreatedAt), nullMicros(g.LastUsedAt)); err != nil {
			return err
		}
		return record(ctx, tx, g.ClientID, store.ActionGrantApprove, a)
	})
}

const grantColumns = `client_id, person_id, person_name, scopes, created_at, last_used_at`

func scanGrant(row interface{ Scan(...any) error }) (*store.Grant, error) {
	var (
		g       store.Grant
		scopes  string
		created int64
		used    sql.NullInt64
	)
	if err := row.Scan(&g.ClientID, &g.PersonID, &g.PersonName, &scopes, &created, &used); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNoGrant
		}
		return nil, err
	}
	g.CreatedAt, g.LastUsedAt = fromMicros(created), fromNullMicros(used)
	set, err := toSet(scopes, "grant")
	g.Scopes = set
	return &g, err
}

// GetGrant implements store.AuthCodeStore.
func (s *Store) GetGrant(ctx context.Context, clientID, personID string) (*store.Grant, error) {
	return scanGrant(s.r.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM blnk_auth_grants WHERE client_id = ? AND person_id = ?`, clientID, personID))
}

// ListGrants implements store.AuthCodeStore.
func (s *Store) ListGrants(ctx context.Context, clientID string) ([]*store.Grant, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+grantColumns+` FROM blnk_auth_grants WHERE client_id = ? ORDER BY created_at DESC, person_id`, clientID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*store.Grant{}
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// ListMetadataGrants implements store.AuthCodeStore.
func (s *Store) ListMetadataGrants(ctx context.Context, limit int) ([]*store.Grant, error) {
	// substr, not LIKE: LIKE is case-insensitive in SQLite.
	rows, err := s.r.QueryContext(ctx, `SELECT `+grantColumns+` FROM blnk_auth_grants WHERE substr(client_id, 1, 8) = 'https://'
		ORDER BY created_at DESC, client_id, person_id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*store.Grant{}
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// RevokeGrant implements store.AuthCodeStore.
func (s *Store) RevokeGrant(ctx context.Context, clientID, personID string, a store.Audit) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_grants WHERE client_id = ? AND person_id = ?`, clientID, personID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNoGrant
		}
		if err := deleteRefresh(ctx, tx, `client_id = ? AND person_id = ?`, clientID, personID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_codes WHERE client_id = ? AND person_id = ?`, clientID, personID); err != nil {
			return err
		}
		return record(ctx, tx, clientID, store.ActionGrantRevoke, a)
	})
}

// SaveCode implements store.AuthCodeStore.
func (s *Store) SaveCode(ctx context.Context, c *store.AuthCode) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		// Redeemed codes are kept until well after they expire, so that a
		// replay within their life is recognised; then they go.
		if _, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_codes WHERE expires_at < ?`, micros(c.ExpiresAt.Add(-time.Hour))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_codes (code_hash, client_id, person_id, person_name, redirect_uri, code_challenge, resource, scopes, family, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Hash[:], c.ClientID, c.PersonID, c.PersonName, c.RedirectURI, c.CodeChallenge, c.Resource, c.Scopes.String(), c.Family, micros(c.ExpiresAt))
		return err
	})
}

// RedeemCode implements store.AuthCodeStore.
func (s *Store) RedeemCode(ctx context.Context, hash credential.Hash, now time.Time, issue func(*store.AuthCode) (*store.RefreshToken, error)) error {
	var outcome error // committed with the transaction: reuse, or issue's refusal
	// The writer's BEGIN IMMEDIATE serialises redemptions of the database.
	err := s.write(ctx, func(tx *sql.Tx) error {
		var (
			c                store.AuthCode
			scopes, jti      string
			expires          int64
			used, jtiExpires sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT client_id, person_id, person_name, redirect_uri, code_challenge, resource, scopes, family, expires_at, used_at, issued_jti, issued_jti_expires_at
			FROM blnk_auth_codes WHERE code_hash = ?`, hash[:]).Scan(
			&c.ClientID, &c.PersonID, &c.PersonName, &c.RedirectURI, &c.CodeChallenge, &c.Resource, &scopes, &c.Family, &expires, &used, &jti, &jtiExpires)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNoCode
		}
		if err != nil {
			return err
		}
		c.Hash = hash
		c.ExpiresAt, c.UsedAt = fromMicros(expires), fromNullMicros(used)
		if c.Scopes, err = toSet(scopes, "code"); err != nil {
			return err
		}
		if c.UsedAt != nil {
			outcome = store.ErrCodeReused
			if until := fromNullMicros(jtiExpires); jti != "" && until != nil && until.After(time.Now()) {
				if err := revokeTokenTx(ctx, tx, store.RevokedToken{JTI: jti, ClientID: c.ClientID, ExpiresAt: *until}); err != nil {
					return err
				}
			}
			return deleteRefresh(ctx, tx, `family = ?`, c.Family)
		}
		if !now.Before(c.ExpiresAt) {
			return store.ErrNoCode
		}
		if _, err := tx.ExecContext(ctx, `UPDATE blnk_auth_codes SET used_at = ? WHERE code_hash = ?`, micros(now), hash[:]); err != nil {
			return err
		}
		t := now
		c.UsedAt = &t
		rt, err := issue(&c)
		if err != nil {
			outcome = err // the code stays spent
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE blnk_auth_codes SET issued_jti = ?, issued_jti_expires_at = ? WHERE code_hash = ?`,
			rt.AccessJTI, nullMicros(rt.AccessExpiresAt), hash[:]); err != nil {
			return err
		}
		if err := insertRefresh(ctx, tx, rt); errors.Is(err, store.ErrNoGrant) {
			outcome = err
			return nil
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return outcome
}

// CreateRefreshToken implements store.AuthCodeStore.
func (s *Store) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_refresh_tokens WHERE expires_at < ?`, micros(t.CreatedAt)); err != nil {
			return err
		}
		return insertRefresh(ctx, tx, t)
	})
}

// insertRefresh stores t if its grant still exists, and marks the grant used.
func insertRefresh(ctx context.Context, tx *sql.Tx, t *store.RefreshToken) error {
	at := micros(t.CreatedAt)
	res, err := tx.ExecContext(ctx, `UPDATE blnk_auth_grants SET last_used_at = max(coalesce(last_used_at, ?), ?)
		WHERE client_id = ? AND person_id = ?`, at, at, t.ClientID, t.PersonID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return store.ErrNoGrant
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO blnk_auth_refresh_tokens (token_hash, family, client_id, person_id, scopes, resource, created_at, expires_at, access_jti, access_expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash[:], t.Family, t.ClientID, t.PersonID, t.Scopes.String(), t.Resource, at, micros(t.ExpiresAt), t.AccessJTI, nullMicros(t.AccessExpiresAt))
	return err
}

const refreshColumns = `token_hash, family, client_id, person_id, scopes, resource, created_at, expires_at, used_at, access_jti, access_expires_at`

func scanRefresh(row interface{ Scan(...any) error }) (*store.RefreshToken, error) {
	var (
		t                store.RefreshToken
		hash             []byte
		scopes           string
		created, expires int64
		used, accessExp  sql.NullInt64
	)
	if err := row.Scan(&hash, &t.Family, &t.ClientID, &t.PersonID, &scopes, &t.Resource, &created, &expires, &used, &t.AccessJTI, &accessExp); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNoRefreshToken
		}
		return nil, err
	}
	if len(hash) != len(t.Hash) {
		return nil, errors.New("refresh token has a malformed hash")
	}
	copy(t.Hash[:], hash)
	t.CreatedAt, t.ExpiresAt, t.UsedAt, t.AccessExpiresAt = fromMicros(created), fromMicros(expires), fromNullMicros(used), fromNullMicros(accessExp)
	var err error
	t.Scopes, err = toSet(scopes, "refresh token")
	return &t, err
}

// RotateRefreshToken implements store.AuthCodeStore.
func (s *Store) RotateRefreshToken(ctx context.Context, old, next credential.Hash, now time.Time, mint func(*store.RefreshToken) error) (*store.RefreshToken, error) {
	var (
		out    *store.RefreshToken
		reused bool
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		t, err := scanRefresh(tx.QueryRowContext(ctx, `SELECT `+refreshColumns+` FROM blnk_auth_refresh_tokens WHERE token_hash = ?`, old[:]))
		if err != nil {
			return err
		}
		if t.UsedAt != nil {
			// Committed, not rolled back: the replay revokes the family.
			reused = true
			return deleteRefresh(ctx, tx, `family = ?`, t.Family)
		}
		if !now.Before(t.ExpiresAt) {
			return store.ErrNoRefreshToken
		}
		if _, err := tx.ExecContext(ctx, `UPDATE blnk_auth_refresh_tokens SET used_at = ? WHERE token_hash = ?`, micros(now), old[:]); err != nil {
			return err
		}
		n := *t
		n.Hash, n.CreatedAt, n.UsedAt, n.AccessJTI, n.AccessExpiresAt = next, now, nil, "", nil
		if err := mint(&n); err != nil {
			return err
		}
		if err := insertRefresh(ctx, tx, &n); err != nil {
			if errors.Is(err, store.ErrNoGrant) {
				return store.ErrNoRefreshToken
			}
			return err
		}
		out = &n
		return nil
	})
	if err == nil && reused {
		return nil, store.ErrRefreshReused
	}
	return out, err
}

// RevokeRefreshToken implements store.AuthCodeStore.
func (s *Store) RevokeRefreshToken(ctx context.Context, h credential.Hash, clientID string) (*store.RefreshToken, error) {
	var out *store.RefreshToken
	err := s.write(ctx, func(tx *sql.Tx) error {
		t, err := scanRefresh(tx.QueryRowContext(ctx, `SELECT `+refreshColumns+` FROM blnk_auth_refresh_tokens WHERE token_hash = ? AND client_id = ?`, h[:], clientID))
		if err != nil {
			return err
		}
		out = t
		return deleteRefresh(ctx, tx, `family = ?`, t.Family)
	})
	return out, err
}

// RevokeRefreshFamily implements store.AuthCodeStore.
func (s *Store) RevokeRefreshFamily(ctx context.Context, family string) error {
	return s.write(ctx, func(tx *sql.Tx) error { return deleteRefresh(ctx, tx, `family = ?`, family) })
}
