package backend

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// lagInterval is how often the change feed's lag is measured: the changes
// applied meanwhile have their write times read in one query.
const lagInterval = time.Second

// maxLagPending bounds the changes measured per interval; past it the rest
// of the interval's changes go unmeasured (a sample is enough for a
// histogram, and a flood of changes must not grow memory or the query).
const maxLagPending = 1000

// lagMeter measures how long after its write to the change log each change
// reached this instance. The change carries no time: the PostgreSQL NOTIFY
// payload is read by every instance, those of earlier versions too, and one
// more field would make them misread it (a client change taken for a token
// revocation). So the feed notes when it applied each change, and once per
// lagInterval the write times of those changes are read from the log in one
// query, off the feed's path. The write time is the database's clock
// (PostgreSQL's clock_timestamp() at the insert, just before its commit) or
// the writing process's (SQLite); with clocks apart the lag is off by as much.
type lagMeter struct {
	hist prometheus.Histogram

	mu      sync.Mutex
	pending []appliedChange
}

type appliedChange struct {
	id int64
	at time.Time
}

// applied notes that change id was applied at at.
func (l *lagMeter) applied(id int64, at time.Time) {
	l.mu.Lock()
	if len(l.pending) < maxLagPending {
		l.pending = append(l.pending, appliedChange{id, at})
	}
	l.mu.Unlock()
}

// run measures the pending changes every lagInterval until ctx ends.
func (l *lagMeter) run(ctx context.Context, st store.ChangeTimes) {
	t := time.NewTicker(lagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.measure(ctx, st)
		}
	}
}

func (l *lagMeter) measure(ctx context.Context, st store.ChangeTimes) {
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ids := make([]int64, len(batch))
	for i, c := range batch {
		ids[i] = c.id
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	written, err := st.ChangeTimes(ctx, ids)
	if err != nil {
		return // the database is away: these go unmeasured, the feed's metrics tell
	}
	for _, c := range batch {
		if w, ok := written[c.id]; ok {
			l.hist.Observe(max(c.at.Sub(w).Seconds(), 0))
		}
	}
}
