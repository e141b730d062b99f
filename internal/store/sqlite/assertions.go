package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// nullString is s, or NULL for "".
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// UseAssertion implements store.AssertionStore. Writes are serialised (one
// writer, BEGIN IMMEDIATE), across processes too, so the primary key decides.
func (s *Store) UseAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) (bool, error) {
	fresh := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		// Expired records go first, so an expired one never counts as a replay.
		if _, err := tx.ExecContext(ctx, `DELETE FROM blnk_auth_client_assertions WHERE expires_at <= ?`, micros(now)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_client_assertions (client_id, jti, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (client_id, jti) DO NOTHING`, clientID, jti, micros(expiresAt))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	return fresh, err
}
