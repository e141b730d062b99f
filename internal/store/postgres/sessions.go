package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, ses *store.Session) error {
	var p store.SessionPerson
	if ses.Person != nil {
		p = *ses.Person
	}
	grants := p.MayGrant.List()
	if grants == nil {
		grants = []string{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO blnk_auth_sessions (token_hash, client_id, credential_hash, created_at, last_seen_at, expires_at,
			person_issuer, person_subject, person_email, person_name, person_may_grant)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		ses.TokenHash[:], ses.ClientID, ses.CredentialHash[:], ses.CreatedAt, ses.LastSeenAt, ses.ExpiresAt,
		p.Issuer, p.Subject, p.Email, p.Name, grants)
	return err
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, tokenHash credential.Hash) (*store.Session, error) {
	var (
		ses    store.Session
		cred   []byte
		p      store.SessionPerson
		grants []string
	)
	err := s.pool.QueryRow(ctx, `SELECT client_id, credential_hash, created_at, last_seen_at, expires_at,
			person_issuer, person_subject, person_email, person_name, person_may_grant
		FROM blnk_auth_sessions WHERE token_hash = $1`, tokenHash[:]).Scan(&ses.ClientID, &cred, &ses.CreatedAt, &ses.LastSeenAt, &ses.ExpiresAt,
		&p.Issuer, &p.Subject, &p.Email, &p.Name, &grants)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	if len(cred) != len(ses.CredentialHash) {
		return nil, errors.New("session has a malformed credential hash")
	}
	ses.TokenHash = tokenHash
	copy(ses.CredentialHash[:], cred)
	utc(&ses.CreatedAt, &ses.LastSeenAt, &ses.ExpiresAt)
	if p.Subject != "" {
		if p.MayGrant, err = scope.FromList(grants); err != nil {
			return nil, fmt.Errorf("session has invalid stored scopes: %w", err)
		}
		ses.Person = &p
	}
	return &ses, nil
}

// TouchSession implements store.Store.
func (s *Store) TouchSession(ctx context.Context, tokenHash credential.Hash, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE blnk_auth_sessions SET last_seen_at = $2 WHERE token_hash = $1 AND last_seen_at < $2`, tokenHash[:], at)
	return err
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, tokenHash credential.Hash) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM blnk_auth_sessions WHERE token_hash = $1`, tokenHash[:])
	return err
}

// PruneSessions implements store.Store.
func (s *Store) PruneSessions(ctx context.Context, now, idleSince time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM blnk_auth_sessions WHERE expires_at <= $1 OR last_seen_at < $2`, now, idleSince)
	return err
}
