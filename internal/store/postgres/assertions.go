package postgres

import (
	"context"
	"time"
)

// nullString is s, or NULL for "".
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// UseAssertion implements store.AssertionStore in one statement: the
// primary key decides (of two instances recording one jti at once, the
// second waits for the first to commit and then finds the conflict); a
// record expired at now is replaced, so it never counts as a replay. The
// follower's housekeeping deletes expired records.
func (s *Store) UseAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO blnk_auth_client_assertions AS a (client_id, jti, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE a.expires_at <= $4`,
		clientID, jti, expiresAt, now)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}
