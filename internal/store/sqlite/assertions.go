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

// UseAssertion implements store.AssertionStore in one statement. Writes
// are serialised (one writer, BEGIN IMMEDIATE), across processes too, so the
// primary key decides; a record expired at now is replaced, so it never
// counts as a replay. The follower's housekeeping deletes expired records.
func (s *Store) UseAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) (bool, error) {
	fresh := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_client_assertions AS a (client_id, jti, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE a.expires_at <= ?`,
			clientID, jti, micros(expiresAt), micros(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	return fresh, err
}
