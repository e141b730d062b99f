package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// nullString is s, or NULL for "".
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// UseAssertion implements store.AssertionStore. The primary key decides: of
// two instances recording one jti at once, the second waits for the first
// to commit and then finds the conflict.
func (s *Store) UseAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) (bool, error) {
	fresh := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Expired records go first, so an expired one never counts as a replay.
		if _, err := tx.Exec(ctx, `DELETE FROM blnk_auth_client_assertions WHERE expires_at <= $1`, now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO blnk_auth_client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (client_id, jti) DO NOTHING`, clientID, jti, expiresAt)
		fresh = tag.RowsAffected() == 1
		return err
	})
	return fresh, err
}
