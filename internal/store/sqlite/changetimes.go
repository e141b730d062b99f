package sqlite

import (
	"context"
	"strings"
	"time"
)

// ChangeTimes implements store.ChangeTimes.
func (s *Store) ChangeTimes(ctx context.Context, ids []int64) (map[int64]time.Time, error) {
	out := make(map[int64]time.Time, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	q := `SELECT id, changed_at FROM blnk_auth_changes WHERE id IN (?` + strings.Repeat(`, ?`, len(ids)-1) + `)`
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, micros int64
		if err := rows.Scan(&id, &micros); err != nil {
			return nil, err
		}
		out[id] = time.UnixMicro(micros)
	}
	return out, rows.Err()
}
