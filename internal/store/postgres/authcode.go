package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// uriList is a client's redirect URIs as the column holds them (never NULL).
func uriList(uris []string) []string {
	if uris == nil {
		return []string{}
	}
	return uris
}

func uriListPtr(uris *[]string) []string {
	if uris == nil {
		return nil
	}
	return uriList(*uris)
}

// endClientTokens ends the refresh tokens of a revoked or deleted client
// (and, when deleted, its grants and codes), and what it approved as a person
// (store.ClientPersonID), inside the change's transaction.
func endClientTokens(ctx context.Context, tx pgx.Tx, clientID string, deleted bool) error {
	if _, err := tx.Exec(ctx, `DELETE FROM blnk_auth_refresh_tokens WHERE client_id = $1`, clientID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM blnk_auth_codes WHERE client_id = $1`, clientID); err != nil {
		return err
	}
	if deleted {
		if _, err := tx.Exec(ctx, `DELETE FROM blnk_auth_grants WHERE client_id = $1`, clientID); err != nil {
			return err
		}
	}
	// What the client approved as a person (signed in with its key) for
	// other clients ends with it: its authority was the client's.
	pid := store.ClientPersonID(clientID)
	if err := deleteRefresh(ctx, tx, `person_id = $1`, pid); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM blnk_auth_codes WHERE person_id = $1`, pid); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM blnk_auth_grants WHERE person_id = $1`, pid)
	return err
}

func toSet(list []string, what string) (scope.Set, error) {
	set, err := scope.FromList(list)
	if err != nil {
		return scope.Set{}, fmt.Errorf("%s has invalid stored scopes: %w", what, err)
	}
	return set, nil
}

func toHash(b []byte) (credential.Hash, error) {
	var h credential.Hash
	if len(b) != len(h) {
		return h, errors.New("malformed stored hash")
	}
	copy(h[:], b)
	return h, nil
}

// deleteRefresh deletes the refresh tokens matching where (a condition on
// their columns, with args) and revokes the access tokens issued with them
// that have not expired, in tx.
func deleteRefresh(ctx context.Context, tx pgx.Tx, where string, args ...any) error {
	rows, err := tx.Query(ctx, `DELETE FROM blnk_auth_refresh_tokens WHERE `+where+`
		RETURNING client_id, access_jti, access_expires_at`, args...)
	if err != nil {
		return err
	}
	var live []store.RevokedToken
	now := time.Now()
	for rows.Next() {
		var (
			t   store.RevokedToken
			exp *time.Time
		)
		if err := rows.Scan(&t.ClientID, &t.JTI, &exp); err != nil {
			rows.Close()
			return err
		}
		if t.JTI != "" && exp != nil && exp.After(now) {
			t.ExpiresAt = *exp
			live = append(live, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A client known by its metadata document (an https URL) has no row.
		if !strings.HasPrefix(g.ClientID, "https://") {
			if err := lockActive(ctx, tx, g.ClientID, nil); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO blnk_auth_grants (client_id, person_id, person_name, scopes, created_at, last_used_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (client_id, person_id) DO UPDATE SET person_name = $3, scopes = $4, created_at = $5`,
			g.ClientID, g.PersonID, g.PersonName, g.Scopes.List(), g.CreatedAt, g.LastUsedAt); err != nil {
			return err
		}
		return record(ctx, tx, g.ClientID, store.ActionGrantApprove, a)
	})
}

const grantColumns = `client_id, person_id, person_name, scopes, created_at, last_used_at`

func scanGrant(row pgx.Row) (*store.Grant, error) {
	var (
		g      store.Grant
		scopes []string
	)
	if err := row.Scan(&g.ClientID, &g.PersonID, &g.PersonName, &scopes, &g.CreatedAt, &g.LastUsedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrNoGrant
		}
		return nil, err
	}
	utc(&g.CreatedAt, g.LastUsedAt)
	set, err := toSet(scopes, "grant")
	g.Scopes = set
	return &g, err
}

// GetGrant implements store.AuthCodeStore.
func (s *Store) GetGrant(ctx context.Context, clientID, personID string) (*store.Grant, error) {
	return scanGrant(s.pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM blnk_auth_grants WHERE client_id = $1 AND person_id = $2`, clientID, personID))
}

// ListGrants implements store.AuthCodeStore.
func (s *Store) ListGrants(ctx context.Context, clientID string) ([]*store.Grant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+grantColumns+` FROM blnk_auth_grants WHERE client_id = $1 ORDER BY created_at DESC, person_id`, clientID)
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
	rows, err := s.pool.Query(ctx, `SELECT `+grantColumns+` FROM blnk_auth_grants WHERE client_id LIKE 'https://%'
		ORDER BY created_at DESC, client_id, person_id LIMIT $1`, limit)
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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM blnk_auth_grants WHERE client_id = $1 AND person_id = $2`, clientID, personID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNoGrant
		}
		if err := deleteRefresh(ctx, tx, `client_id = $1 AND person_id = $2`, clientID, personID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM blnk_auth_codes WHERE client_id = $1 AND person_id = $2`, clientID, personID); err != nil {
			return err
		}
		return record(ctx, tx, clientID, store.ActionGrantRevoke, a)
	})
}

// SaveCode implements store.AuthCodeStore.
func (s *Store) SaveCode(ctx context.Context, c *store.AuthCode) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Redeemed codes are kept until they expire, so that a replay within
		// their life is recognised; then they go.
		if _, err := tx.Exec(ctx, `DELETE FROM blnk_auth_codes WHERE expires_at < $1`, c.ExpiresAt.Add(-time.Hour)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO blnk_auth_codes (code_hash, client_id, person_id, person_name, redirect_uri, code_challenge, resource, scopes, family, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			c.Hash[:], c.ClientID, c.PersonID, c.PersonName, c.RedirectURI, c.CodeChallenge, c.Resource, c.Scopes.List(), c.Family, c.ExpiresAt)
		return err
	})
}

// RedeemCode implements store.AuthCodeStore.
func (s *Store) RedeemCode(ctx context.Context, hash credential.Hash, now time.Time, issue func(*store.AuthCode) (*store.RefreshToken, error)) error {
	var outcome error // committed with the transaction: reuse, or issue's refusal
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			c          store.AuthCode
			scopes     []string
			jti        string
			jtiExpires *time.Time
		)
		// FOR UPDATE: a concurrent redemption waits for this one to commit.
		err := tx.QueryRow(ctx, `SELECT client_id, person_id, person_name, redirect_uri, code_challenge, resource, scopes, family, expires_at, used_at, issued_jti, issued_jti_expires_at
			FROM blnk_auth_codes WHERE code_hash = $1 FOR UPDATE`, hash[:]).Scan(
			&c.ClientID, &c.PersonID, &c.PersonName, &c.RedirectURI, &c.CodeChallenge, &c.Resource, &scopes, &c.Family, &c.ExpiresAt, &c.UsedAt, &jti, &jtiExpires)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNoCode
		}
		if err != nil {
			return err
		}
		c.Hash = hash
		utc(&c.ExpiresAt, c.UsedAt, jtiExpires)
		if c.Scopes, err = toSet(scopes, "code"); err != nil {
			return err
		}
		if c.UsedAt != nil {
			outcome = store.ErrCodeReused
			if jti != "" && jtiExpires != nil && jtiExpires.After(time.Now()) {
				if err := revokeTokenTx(ctx, tx, store.RevokedToken{JTI: jti, ClientID: c.ClientID, ExpiresAt: *jtiExpires}); err != nil {
					return err
				}
			}
			return deleteRefresh(ctx, tx, `family = $1`, c.Family)
		}
		if !now.Before(c.ExpiresAt) {
			return store.ErrNoCode
		}
		if _, err := tx.Exec(ctx, `UPDATE blnk_auth_codes SET used_at = $2 WHERE code_hash = $1`, hash[:], now); err != nil {
			return err
		}
		t := now
		c.UsedAt = &t
		rt, err := issue(&c)
		if err != nil {
			outcome = err // the code stays spent
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE blnk_auth_codes SET issued_jti = $2, issued_jti_expires_at = $3 WHERE code_hash = $1`,
			hash[:], rt.AccessJTI, rt.AccessExpiresAt); err != nil {
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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM blnk_auth_refresh_tokens WHERE expires_at < $1`, t.CreatedAt); err != nil {
			return err
		}
		return insertRefresh(ctx, tx, t)
	})
}

// insertRefresh stores t if its grant still exists (locking the grant's row,
// so a concurrent RevokeGrant either sees t or refuses it), and marks the
// grant used.
func insertRefresh(ctx context.Context, tx pgx.Tx, t *store.RefreshToken) error {
	tag, err := tx.Exec(ctx, `UPDATE blnk_auth_grants SET last_used_at = greatest(coalesce(last_used_at, $3), $3)
		WHERE client_id = $1 AND person_id = $2`, t.ClientID, t.PersonID, t.CreatedAt)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNoGrant
	}
	_, err = tx.Exec(ctx, `INSERT INTO blnk_auth_refresh_tokens (token_hash, family, client_id, person_id, scopes, resource, created_at, expires_at, access_jti, access_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.Hash[:], t.Family, t.ClientID, t.PersonID, t.Scopes.List(), t.Resource, t.CreatedAt, t.ExpiresAt, t.AccessJTI, t.AccessExpiresAt)
	return err
}

const refreshColumns = `token_hash, family, client_id, person_id, scopes, resource, created_at, expires_at, used_at, access_jti, access_expires_at`

func scanRefresh(row pgx.Row) (*store.RefreshToken, error) {
	var (
		t      store.RefreshToken
		hash   []byte
		scopes []string
	)
	if err := row.Scan(&hash, &t.Family, &t.ClientID, &t.PersonID, &scopes, &t.Resource, &t.CreatedAt, &t.ExpiresAt, &t.UsedAt, &t.AccessJTI, &t.AccessExpiresAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrNoRefreshToken
		}
		return nil, err
	}
	var err error
	if t.Hash, err = toHash(hash); err != nil {
		return nil, err
	}
	utc(&t.CreatedAt, &t.ExpiresAt, t.UsedAt, t.AccessExpiresAt)
	t.Scopes, err = toSet(scopes, "refresh token")
	return &t, err
}

// RotateRefreshToken implements store.AuthCodeStore.
func (s *Store) RotateRefreshToken(ctx context.Context, old, next credential.Hash, now time.Time, mint func(*store.RefreshToken) error) (*store.RefreshToken, error) {
	var (
		out    *store.RefreshToken
		reused bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := scanRefresh(tx.QueryRow(ctx, `SELECT `+refreshColumns+` FROM blnk_auth_refresh_tokens WHERE token_hash = $1 FOR UPDATE`, old[:]))
		if err != nil {
			return err
		}
		if t.UsedAt != nil {
			// Committed, not rolled back: the replay revokes the family.
			reused = true
			return deleteRefresh(ctx, tx, `family = $1`, t.Family)
		}
		if !now.Before(t.ExpiresAt) {
			return store.ErrNoRefreshToken
		}
		if _, err := tx.Exec(ctx, `UPDATE blnk_auth_refresh_tokens SET used_at = $2 WHERE token_hash = $1`, old[:], now); err != nil {
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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := scanRefresh(tx.QueryRow(ctx, `SELECT `+refreshColumns+` FROM blnk_auth_refresh_tokens WHERE token_hash = $1 AND client_id = $2`, h[:], clientID))
		if err != nil {
			return err
		}
		out = t
		return deleteRefresh(ctx, tx, `family = $1`, t.Family)
	})
	return out, err
}

// RevokeRefreshFamily implements store.AuthCodeStore.
func (s *Store) RevokeRefreshFamily(ctx context.Context, family string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return deleteRefresh(ctx, tx, `family = $1`, family) })
}
