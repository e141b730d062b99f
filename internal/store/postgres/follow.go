package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

const (
	changeChannel = "blnk_auth_changes"
	// changeRetention is how long the change log keeps entries. A follower
	// disconnected for longer cannot know what it missed and resets.
	changeRetention = 24 * time.Hour
	// replayOverlap: a follower starting at the head of the log also waits
	// for the IDs missing among the last this many (a sequence number is
	// taken before its transaction commits, so a change can become visible
	// after a higher-numbered one). Later gaps are kept by age (gapMaxAge).
	replayOverlap = 1000
	// housekeeping is how often a connected follower prunes the change log.
	housekeeping = time.Minute
	// setupTimeout bounds connecting and LISTEN; replayTimeout the replay
	// of what was missed (a long outage can leave many changes).
	setupTimeout  = 5 * time.Second
	replayTimeout = 30 * time.Second
)

// heartbeat is the longest a listener goes without a round trip on its
// connection (each bounded by as long again; shorter with a max_stale under
// twice it, see Options.MaxStale): a connection
// that died without a word (a network cut, no reset) would otherwise look
// connected until TCP gave up, many minutes later, while revocations made
// elsewhere went unseen. So such a loss is noticed within two heartbeats.
// An atomic for tests (SetHeartbeat).
var heartbeatNanos atomic.Int64

func init() { heartbeatNanos.Store(int64(5 * time.Second)) }

func heartbeat() time.Duration { return time.Duration(heartbeatNanos.Load()) }

// Follow implements store.Store. It holds its own connection (not one of the
// pool's) for LISTEN, and on every (re)connection replays the change log from
// where it left off before reporting itself synced.
//
// With Options.PollInterval it polls instead (see followByPolling).
func (s *Store) Follow(ctx context.Context, w store.Watcher) error {
	if s.pollInterval > 0 {
		return s.followByPolling(ctx, w)
	}
	// Where the follower is in the log, with the IDs below it not seen yet
	// (as the poller keeps them): a change whose transaction took its ID
	// early and committed while the listener was away is replayed however
	// many later IDs were seen meanwhile. -1: start at the head of the log.
	pos := position{last: -1}
	var syncedAt time.Time
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		before := syncedAt
		var caughtUp time.Time
		_ = s.followOnce(ctx, w, &pos, &syncedAt, &caughtUp)
		if cw, ok := w.(store.CaughtUpWatcher); ok && !caughtUp.IsZero() {
			// Current as of the last round trip that came back, not as of
			// when the loss was noticed (up to max_stale later).
			cw.CaughtUpAt(caughtUp)
		}
		w.Synced(false)
		if ctx.Err() != nil {
			break
		}
		if syncedAt != before {
			// The connection worked for a while: this is a new outage, not a long one.
			backoff = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
	return nil
}

// followOnce listens on one connection until it fails. caughtUp is set, once
// it reported Synced(true), to the start of the last round trip on the
// connection that came back: everything committed before it had reached the
// follower (PostgreSQL sends a session its notifications before it answers).
func (s *Store) followOnce(ctx context.Context, w store.Watcher, pos *position, syncedAt, caughtUp *time.Time) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = s.ListenerName
	// Every step before the loop is bounded: a connection made into a
	// silent cut (its handshake through, then nothing) would otherwise hold
	// the follower until TCP gave up, many minutes after the network healed.
	cctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(cctx, `LISTEN `+changeChannel); err != nil {
		return err
	}
	// Listening before reading the log: nothing committed from here on is missed.
	confirmed := time.Now()
	if pos.last >= 0 && !syncedAt.IsZero() && time.Since(*syncedAt) > changeRetention/2 {
		w.Reset()
	}
	rctx, cancel := context.WithTimeout(ctx, replayTimeout)
	changes, err := s.pollChanges(rctx, conn, pos) // at the start, the head of the log
	cancel()
	if err != nil {
		return err
	}
	for _, c := range changes {
		w.Changed(c)
	}
	*syncedAt = time.Now()
	*caughtUp = confirmed
	w.Synced(true)
	// A round trip at least every hb, each given hb to come back: a
	// connection cut without a reset is noticed by max_stale after the last
	// one that came back, when the watchers stop trusting what they hold,
	// however busy the channel (notifications prove nothing of those that
	// did not arrive).
	hb := min(heartbeat(), s.staleBound()/2)
	pruned := time.Time{} // prune at the first round trip
	for {
		if wait := hb - time.Since(confirmed); wait > 0 {
			wctx, cancel := context.WithTimeout(ctx, wait)
			n, err := conn.WaitForNotification(wctx)
			cancel()
			*syncedAt = time.Now()
			if err == nil {
				s.notified(w, n.Payload, pos)
				continue
			}
			if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed() {
				return err
			}
		}
		{
			began := time.Now()
			hctx, cancel := context.WithTimeout(ctx, hb)
			_, err := conn.Exec(hctx, `SELECT 1`)
			cancel()
			if err != nil {
				return err
			}
			confirmed = began
			*caughtUp = began
			*syncedAt = time.Now()
			if time.Since(pruned) >= housekeeping {
				// Through the pool, beside the listener: a long DELETE on
				// this connection would hold back the next round trip.
				pruned = time.Now()
				go func() {
					pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					_ = s.prunePool(pctx) // a failure is harmless: the next housekeeping tries again
				}()
			}
		}
	}
}

// notified passes on a notification's change.
func (s *Store) notified(w store.Watcher, payload string, pos *position) {
	// "<id> <client_id>", for a revoked token "<id> <client_id> <jti>",
	// for the keyring "<id>   keys" (no client, no jti).
	idText, rest, ok := strings.Cut(payload, " ")
	id, perr := strconv.ParseInt(idText, 10, 64)
	if !ok || perr != nil {
		return // not ours; someone else NOTIFYing on the channel
	}
	clientID, rest, _ := strings.Cut(rest, " ")
	jti, kind, _ := strings.Cut(rest, " ")
	w.Changed(store.Change{ID: id, ClientID: clientID, JTI: jti, Kind: kind})
	pos.advance([]int64{id}, time.Now())
}
