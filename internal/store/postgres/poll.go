package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// pollTimeout bounds one poll of the change log. Behind PgBouncer a query
// waits for a server connection (query_wait_timeout, 120 s by default) when
// the database is down; the follower must report itself unsynced long before.
const pollTimeout = 2 * time.Second

// followByPolling is Follow without LISTEN: it reads the change log through
// the pool every pollInterval, as the SQLite store does, reporting
// Synced(false) when a poll fails and, at the next one that works, the
// changes it missed and then Synced(true) (after a Reset if it was away over
// half of what the log keeps).
//
// Unlike SQLite's, PostgreSQL's change IDs may become visible out of order:
// a sequence number is taken before its transaction commits, so ID 7 can
// commit after ID 8 was read. Reading "id > last" alone would miss 7 for
// good. The follower therefore remembers the gaps below the highest ID seen
// (IDs not seen yet, within replayOverlap of it, as the LISTEN follower
// replays on reconnection) and asks for them again at every poll until they
// show up or fall out of that window. A gap that never fills (a rolled back
// transaction, sequence values skipped by a crash) costs an index probe per
// poll until the log moves on by replayOverlap.
func (s *Store) followByPolling(ctx context.Context, w store.Watcher) error {
	var (
		pos       = position{last: -1} // -1: not started; begin at the head of the log
		reported  bool
		synced    bool
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
		pctx, cancel := context.WithDeadline(ctx, s.pollDeadline(began, caughtUp, synced))
		changes, err := s.pollChanges(pctx, &pos)
		cancel()
		if ctx.Err() != nil {
			continue // reported at the top of the loop
		}
		if err != nil {
			if cw, ok := w.(store.CaughtUpWatcher); ok && synced {
				// Current as of the last poll that worked, not as of
				// this one's failure (which may have waited pollTimeout).
				cw.CaughtUpAt(caughtUp)
			}
			report(false)
		} else {
			caughtUp = began
			now := time.Now()
			if !synced && !lastOK.IsZero() && now.Sub(lastOK) > changeRetention/2 {
				// Changes may have been pruned before this follower read them.
				w.Reset()
			}
			for _, c := range changes {
				w.Changed(c)
			}
			report(true)
			lastOK = now
			if now.Sub(lastPrune) >= housekeeping {
				lastPrune = now
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_ = s.prunePool(pctx) // a failure is harmless: the next housekeeping tries again
				cancel()
			}
		}
		timer.Reset(s.pollInterval)
	}
}

// pollDeadline is when a poll that began at began gives up. While the
// watchers believe themselves current they trust what they hold, so a poll
// that hangs (a network cut without a reset; PgBouncer queueing for a server
// that is down) must fail, and the loss be reported, by the time they would
// stop trusting it anyway: max_stale after the last poll that worked began
// (caughtUp). Waiting pollTimeout instead let them trust it for up to
// pollInterval+pollTimeout. A poll gets at least max_stale/2, so that an
// interval longer than max_stale does not fail every poll at once; and at
// most pollTimeout.
func (s *Store) pollDeadline(began, caughtUp time.Time, synced bool) time.Time {
	limit := began.Add(pollTimeout)
	if !synced {
		return limit
	}
	stale := s.staleBound()
	d := caughtUp.Add(stale)
	if least := began.Add(stale / 2); d.Before(least) {
		d = least
	}
	if d.After(limit) {
		d = limit
	}
	return d
}

// staleBound is Options.MaxStale, or its default for a Store not made by
// OpenWith.
func (s *Store) staleBound() time.Duration {
	if s.maxStale <= 0 {
		return DefaultMaxStale
	}
	return s.maxStale
}

// position is where a polling follower is in the change log: the highest
// ID seen and the IDs below it, within replayOverlap, not seen yet.
type position struct {
	last int64
	gaps []int64 // ascending
}

// pollChanges reads the changes after pos (or, at the start, the head of the
// log and its gaps) and moves pos past them. pos changes only on success.
func (s *Store) pollChanges(ctx context.Context, pos *position) ([]store.Change, error) {
	if pos.last < 0 {
		// The head and the IDs just below it: those missing may still commit.
		rows, err := s.pool.Query(ctx, `SELECT id FROM blnk_auth_changes
			WHERE id > (SELECT coalesce(max(id), 0) FROM blnk_auth_changes) - $1 ORDER BY id`, int64(replayOverlap))
		if err != nil {
			return nil, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return nil, err
		}
		next := position{last: 0}
		next.advance(ids)
		*pos = next
		return nil, nil
	}
	gaps := pos.gaps
	if gaps == nil {
		gaps = []int64{} // an empty array, not NULL
	}
	rows, err := s.pool.Query(ctx, `SELECT id, client_id, jti, kind FROM blnk_auth_changes
		WHERE id > $1 OR id = ANY($2) ORDER BY id`, pos.last, gaps)
	if err != nil {
		return nil, err
	}
	changes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[store.Change])
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(changes))
	for i, c := range changes {
		ids[i] = c.ID
	}
	pos.advance(ids)
	return changes, nil
}

// advance records ids (ascending) as seen: gaps they fill are closed, IDs
// above the last one seen move it up and open gaps for the IDs they skipped,
// and gaps more than replayOverlap below the last are given up.
func (p *position) advance(ids []int64) {
	newLast := p.last
	if len(ids) > 0 {
		newLast = max(newLast, ids[len(ids)-1])
	}
	floor := newLast - replayOverlap // gaps at or below it are given up
	var gaps []int64
	for _, g := range p.gaps {
		if g > floor {
			if _, seen := slices.BinarySearch(ids, g); !seen {
				gaps = append(gaps, g)
			}
		}
	}
	prev := p.last
	for _, id := range ids {
		if id <= p.last {
			continue // a gap filled, handled above
		}
		for g := max(prev+1, floor+1); g < id; g++ {
			gaps = append(gaps, g)
		}
		prev = id
	}
	slices.Sort(gaps)
	p.last, p.gaps = newLast, gaps
}

// prunePool deletes what the change log, the token denylist and the used
// assertion IDs no longer need to keep.
func (s *Store) prunePool(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM blnk_auth_changes WHERE changed_at < now() - make_interval(secs => $1)`, changeRetention.Seconds()); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM blnk_auth_revoked_tokens WHERE expires_at < now()`); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM blnk_auth_client_assertions WHERE expires_at < now()`)
	return err
}
