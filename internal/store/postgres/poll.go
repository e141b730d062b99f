package postgres

import (
	"cmp"
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
// (IDs not seen yet) and asks for them again at every poll until they show
// up or have been missing for gapMaxAge. A gap that never fills (a rolled
// back transaction, sequence values skipped by a crash) costs an index probe
// per poll for that long.
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
		changes, err := s.pollChanges(pctx, s.pool, &pos)
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
// pollInterval+pollTimeout. A poll gets at least half of max_stale or of the
// interval, whichever is longer (an interval longer than max_stale must not
// fail every other slow poll at once), and at most pollTimeout.
func (s *Store) pollDeadline(began, caughtUp time.Time, synced bool) time.Time {
	limit := began.Add(pollTimeout)
	if !synced {
		return limit
	}
	stale := s.staleBound()
	d := caughtUp.Add(stale)
	if least := began.Add(max(stale, s.pollInterval) / 2); d.Before(least) {
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

// gapMaxAge is how long a polling follower keeps asking for an ID it has
// not seen below the highest it has: how late after taking its ID a
// transaction may commit and still be seen. Counted in time, not IDs: under
// load (token revocations write the log too) thousands of IDs can pass while
// one transaction waits on a lock or a slow fsync, and a change given up on
// is lost for good (a client cached as active until client_cache_ttl, a
// revoked token accepted until it expires). A minute is client_cache_ttl's
// default, after which a cached client is re-read anyway.
const gapMaxAge = time.Minute

// maxGaps bounds the IDs asked for again (memory and the query's size), for
// a sequence that jumps far ahead; the highest are kept.
const maxGaps = 100_000

// position is where a polling follower is in the change log: the highest
// ID seen and the IDs below it not seen yet, with when each was found
// missing.
type position struct {
	last int64
	gaps []gap // ascending by id
}

type gap struct {
	id     int64
	opened time.Time
}

// querier is what pollChanges reads through: *pgxpool.Pool or *pgx.Conn.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// gapIDs are the IDs to ask for again.
func (p *position) gapIDs() []int64 {
	ids := make([]int64, len(p.gaps)) // empty, not nil: an empty array, not NULL
	for i, g := range p.gaps {
		ids[i] = g.id
	}
	return ids
}

// pollChanges reads the changes after pos (or, at the start, the head of the
// log and its gaps) and moves pos past them. pos changes only on success.
// q is the pool (polling) or the listener's connection (its replay).
func (s *Store) pollChanges(ctx context.Context, q querier, pos *position) ([]store.Change, error) {
	if pos.last < 0 {
		// The head and the IDs just below it: those missing may still commit.
		rows, err := q.Query(ctx, `SELECT id FROM blnk_auth_changes
			WHERE id > (SELECT coalesce(max(id), 0) FROM blnk_auth_changes) - $1 ORDER BY id`, int64(replayOverlap))
		if err != nil {
			return nil, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return nil, err
		}
		next := position{last: 0}
		if len(ids) > 0 {
			next.last = max(ids[len(ids)-1]-replayOverlap, 0)
		}
		next.advance(ids, time.Now())
		*pos = next
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT id, client_id, jti, kind FROM blnk_auth_changes
		WHERE id > $1 OR id = ANY($2) ORDER BY id`, pos.last, pos.gapIDs())
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
	pos.advance(ids, time.Now())
	return changes, nil
}

// advance records ids (ascending) as seen at now: gaps they fill are closed,
// IDs above the last one seen move it up and open gaps for the IDs they
// skipped, and gaps open for gapMaxAge are given up.
func (p *position) advance(ids []int64, now time.Time) {
	newLast := p.last
	if len(ids) > 0 {
		newLast = max(newLast, ids[len(ids)-1])
	}
	var gaps []gap
	for _, g := range p.gaps {
		if now.Sub(g.opened) < gapMaxAge {
			if _, seen := slices.BinarySearch(ids, g.id); !seen {
				gaps = append(gaps, g)
			}
		}
	}
	prev := p.last
	for _, id := range ids {
		if id <= p.last {
			continue // a gap filled, handled above
		}
		for g := max(prev+1, newLast-maxGaps+1); g < id; g++ {
			gaps = append(gaps, gap{id: g, opened: now})
		}
		prev = id
	}
	slices.SortFunc(gaps, func(a, b gap) int { return cmp.Compare(a.id, b.id) })
	if len(gaps) > maxGaps {
		gaps = gaps[len(gaps)-maxGaps:]
	}
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
	// A margin past expiry: an instance whose clock runs behind the
	// database's still accepts the assertion and must find its jti.
	_, err := s.pool.Exec(ctx, `DELETE FROM blnk_auth_client_assertions WHERE expires_at < now() - make_interval(secs => $1)`, store.AssertionPruneMargin.Seconds())
	return err
}
