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
	// replayOverlap re-reads this many IDs below the last one seen: a sequence
	// number is taken before its transaction commits, so a change can become
	// visible after a higher-numbered one. Replaying a change twice is harmless.
	replayOverlap = 1000
	// housekeeping is how often a connected follower prunes the change log.
	housekeeping = time.Minute
)

// heartbeat is how long a listener waits for a notification before it asks
// its connection for a round trip (bounded by as long again): a connection
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
	last := int64(-1) // nothing cached yet: start at the head of the log
	var syncedAt time.Time
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		before := syncedAt
		_ = s.followOnce(ctx, w, &last, &syncedAt)
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

func (s *Store) followOnce(ctx context.Context, w store.Watcher, last *int64, syncedAt *time.Time) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = s.ListenerName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+changeChannel); err != nil {
		return err
	}
	// Listening before reading the log: nothing committed from here on is missed.
	if *last < 0 {
		if err := conn.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM blnk_auth_changes`).Scan(last); err != nil {
			return err
		}
	} else {
		if !syncedAt.IsZero() && time.Since(*syncedAt) > changeRetention/2 {
			w.Reset()
		}
		if err := replay(ctx, conn, w, last); err != nil {
			return err
		}
	}
	*syncedAt = time.Now()
	w.Synced(true)
	if err := prune(ctx, conn); err != nil {
		return err
	}
	pruned := time.Now()
	for {
		wctx, cancel := context.WithTimeout(ctx, heartbeat())
		n, err := conn.WaitForNotification(wctx)
		cancel()
		*syncedAt = time.Now()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed() {
				hctx, cancel := context.WithTimeout(ctx, heartbeat())
				_, err := conn.Exec(hctx, `SELECT 1`)
				cancel()
				if err != nil {
					return err
				}
				if time.Since(pruned) >= housekeeping {
					if err := prune(ctx, conn); err != nil {
						return err
					}
					pruned = time.Now()
				}
				continue
			}
			return err
		}
		// "<id> <client_id>", for a revoked token "<id> <client_id> <jti>",
		// for the keyring "<id>   keys" (no client, no jti).
		idText, rest, ok := strings.Cut(n.Payload, " ")
		id, perr := strconv.ParseInt(idText, 10, 64)
		if !ok || perr != nil {
			continue // not ours; someone else NOTIFYing on the channel
		}
		clientID, rest, _ := strings.Cut(rest, " ")
		jti, kind, _ := strings.Cut(rest, " ")
		w.Changed(store.Change{ID: id, ClientID: clientID, JTI: jti, Kind: kind})
		*last = max(*last, id)
	}
}

func replay(ctx context.Context, conn *pgx.Conn, w store.Watcher, last *int64) error {
	rows, err := conn.Query(ctx, `SELECT id, client_id, jti, kind FROM blnk_auth_changes WHERE id > $1 ORDER BY id`, *last-replayOverlap)
	if err != nil {
		return err
	}
	changes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[store.Change])
	if err != nil {
		return err
	}
	for _, c := range changes {
		w.Changed(c)
		*last = max(*last, c.ID)
	}
	return nil
}

func prune(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, `DELETE FROM blnk_auth_changes WHERE changed_at < now() - make_interval(secs => $1)`, changeRetention.Seconds()); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `DELETE FROM blnk_auth_revoked_tokens WHERE expires_at < now()`); err != nil {
		return err
	}
	// A margin past expiry: an instance whose clock runs behind the
	// database's still accepts the assertion and must find its jti.
	_, err := conn.Exec(ctx, `DELETE FROM blnk_auth_client_assertions WHERE expires_at < now() - make_interval(secs => $1)`, store.AssertionPruneMargin.Seconds())
	return err
}
