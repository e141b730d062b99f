package sqlite

import (
	"context"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

const (
	// pollInterval is how often, by default, a follower reads the change log. SQLite has
	// no LISTEN/NOTIFY, and the writer may be another process (the CLI), so
	// polling is the one way to learn of its changes; at this pace a change
	// reaches every follower well within a second, and an idle poll is one
	// indexed read of a small table.
	pollInterval = 150 * time.Millisecond
	// changeRetention is how long the change log keeps entries. A follower
	// that could not read the log for longer cannot know what it missed and
	// resets.
	changeRetention = 24 * time.Hour
	// housekeeping is how often a follower prunes the change log.
	housekeeping = 10 * time.Minute
)

// Follow implements store.Store by polling the change log.
//
// Unlike PostgreSQL's, the replay needs no overlap below the last ID seen.
// SQLite has one writer at a time, across every connection and process: a
// change's ID (AUTOINCREMENT) is assigned inside a write transaction that
// holds the database's write lock until it commits, so IDs become visible in
// the order they were assigned, and a reader that has seen ID n can never
// later see a committed ID below n. "id > last" therefore misses nothing.
//
// On its first poll Follow starts at the head of the log (nothing is cached
// yet) and reports Synced(true). A failed poll reports Synced(false); the next
// successful one delivers what was missed and then Synced(true) again, after
// a Reset if the outage lasted over half of what the log keeps (as the
// PostgreSQL follower does). When ctx ends Follow reports Synced(false), if
// it had reported true, and returns nil.
func (s *Store) Follow(ctx context.Context, w store.Watcher) error {
	last := int64(-1) // -1: not started; begin at the head of the log
	var (
		reported  bool // whether Synced has been called at all
		synced    bool // the last value reported
		lastOK    time.Time
		lastPrune time.Time
		caughtUp  time.Time // when the last poll that worked began
	)
	report := func(v bool) {
		if !reported || synced != v {
			w.Synced(v)
			reported, synced = true, v
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			if synced {
				w.Synced(false)
			}
			return nil
		case <-timer.C:
		}
		began := time.Now()
		changes, head, err := s.poll(ctx, last)
		if ctx.Err() != nil {
			continue // reported at the top of the loop
		}
		if err != nil {
			if cw, ok := w.(store.CaughtUpWatcher); ok && synced {
				cw.CaughtUpAt(caughtUp) // current as of the last poll that worked
			}
			report(false)
		} else {
			caughtUp = began
			now := time.Now()
			if last < 0 {
				last = head
			}
			if !synced && !lastOK.IsZero() && now.Sub(lastOK) > changeRetention/2 {
				// Changes may have been pruned before this follower read them.
				w.Reset()
			}
			for _, c := range changes {
				w.Changed(c)
				last = max(last, c.ID)
			}
			report(true)
			lastOK = now
			if now.Sub(lastPrune) >= housekeeping {
				lastPrune = now
				s.pruneInBackground()
			}
		}
		timer.Reset(s.pollInterval)
	}
}

// poll reads the changes after last or, when last < 0, the head of the log.
func (s *Store) poll(ctx context.Context, last int64) (changes []store.Change, head int64, err error) {
	if last < 0 {
		err = s.r.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM blnk_auth_changes`).Scan(&head)
		return nil, head, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, client_id, jti, kind FROM blnk_auth_changes WHERE id > ? ORDER BY id`, last)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var c store.Change
		if err := rows.Scan(&c.ID, &c.ClientID, &c.JTI, &c.Kind); err != nil {
			return nil, 0, err
		}
		changes = append(changes, c)
	}
	return changes, 0, rows.Err()
}

// pruneInBackground deletes change-log entries older than changeRetention,
// unless a prune is already running. It runs apart from the follower so that
// a write lock held elsewhere (another process writing) never delays a poll;
// a failure is harmless, the next housekeeping tries again.
func (s *Store) pruneInBackground() {
	if !s.pruning.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.pruning.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 2*busyTimeout)
		defer cancel()
		_ = s.prune(ctx, time.Now().Add(-changeRetention))
	}()
}

// prune deletes the change-log entries written before cutoff.
func (s *Store) prune(ctx context.Context, cutoff time.Time) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM blnk_auth_changes WHERE changed_at < ?`, cutoff.UnixMicro()); err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM blnk_auth_revoked_tokens WHERE expires_at < ?`, time.Now().UnixMicro()); err != nil {
		return err
	}
	// A margin past expiry: an instance whose clock runs behind this one's
	// still accepts the assertion and must find its jti.
	_, err := s.w.ExecContext(ctx, `DELETE FROM blnk_auth_client_assertions WHERE expires_at < ?`, time.Now().Add(-store.AssertionPruneMargin).UnixMicro())
	return err
}
