package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, ses *store.Session) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_sessions (token_hash, client_id, credential_hash, created_at, last_seen_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			ses.TokenHash[:], ses.ClientID, ses.CredentialHash[:], micros(ses.CreatedAt), micros(ses.LastSeenAt), micros(ses.ExpiresAt))
		return err
	})
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, tokenHash credential.Hash) (*store.Session, error) {
	var (
		ses                    store.Session
		cred                   []byte
		created, seen, expires int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT client_id, credential_hash, created_at, last_seen_at, expires_at
		FROM blnk_auth_sessions WHERE token_hash = ?`, tokenHash[:]).Scan(&ses.ClientID, &cred, &created, &seen, &expires)
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
