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

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, ses *store.Session) error {
	var p store.SessionPerson
	if ses.Person != nil {
		p = *ses.Person
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_sessions (token_hash, client_id, credential_hash, created_at, last_seen_at, expires_at,
				person_issuer, person_subject, person_email, person_name, person_may_grant)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ses.TokenHash[:], ses.ClientID, ses.CredentialHash[:], micros(ses.CreatedAt), micros(ses.LastSeenAt), micros(ses.ExpiresAt),
			p.Issuer, p.Subject, p.Email, p.Name, p.MayGrant.String())
		return err
	})
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, tokenHash credential.Hash) (*store.Session, error) {
	var (
		ses                    store.Session
		cred                   []byte
		created, seen, expires int64
		p                      store.SessionPerson
		grants                 string
	)
	err := s.r.QueryRowContext(ctx, `SELECT client_id, credential_hash, created_at, last_seen_at, expires_at,
			person_issuer, person_subject, person_email, person_name, person_may_grant
		FROM blnk_auth_sessions WHERE token_hash = ?`, tokenHash[:]).Scan(&ses.ClientID, &cred, &created, &seen, &expires,
		&p.Issuer, &p.Subject, &p.Email, &p.Name, &grants)
	if errors.Is(err, sql.ErrNoRows) {
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
	ses.CreatedAt, ses.LastSeenAt, ses.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
	if p.Subject != "" {
		var list []string
		if grants != "" {
			list = strings.Split(grants, " ")
		}
		if p.MayGrant, err = scope.FromList(list); err != nil {
			return nil, fmt.Errorf("session has invalid stored scopes: %w", err)
		}
		ses.Person = &p
	}
	return &ses, nil
}

// TouchSession implements store.Store.
func (s *Store) TouchSession(ctx context.Context, tokenHash credential.Hash, at time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE blnk_auth_sessions SET last_seen_at = ? WHERE token_hash = ? AND last_seen_at < ?`,
			micros(at), tokenHash[:], micros(at))
		return err
	})
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, tokenHash credential.Hash) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_sessions WHERE token_hash = ?`, tokenHash[:])
		return err
	})
}

// PruneSessions implements store.Store.
func (s *Store) PruneSessions(ctx context.Context, now, idleSince time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_sessions WHERE expires_at <= ? OR last_seen_at < ?`, micros(now), micros(idleSince))
		return err
	})
}
