package postgres_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/storetest"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// cutProxy forwards TCP connections to a server until cut, when it stops
// passing bytes either way and accepting new connections, without closing
// anything: a network cut with no reset, as a dead route or a firewall
// dropping packets looks to both ends.
type cutProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: target}
	t.Cleanup(p.close)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.conns = append(p.conns, c) // held open, never answered
				p.mu.Unlock()
				continue
			}
			p.mu.Unlock()
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(s, c)
			go p.pipe(c, s)
		}
	}()
	return p
}

// pipe copies src to dst until the cut, then swallows what src sends.
func (p *cutProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			_, _ = io.Discard.Write(buf[:n])
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// close ends the proxy and every connection through it.
func (p *cutProxy) close() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *cutProxy) doCut() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
}

// TestListenerNoticesSilentCut: a LISTEN connection cut without a reset is
// noticed within two heartbeats (its round trip times out) and reported as
// Synced(false), so cached data is trusted for max_stale from about then,
// not until TCP gives up minutes later.
func TestListenerNoticesSilentCut(t *testing.T) {
	t.Cleanup(postgres.SetHeartbeat(200 * time.Millisecond))
	dsn := testdb.New(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.l.Addr().String()
	s := open(t, u.String())
	if s.FollowFallback() != "" {
		t.Fatalf("LISTEN through a plain TCP proxy: fell back to polling: %s", s.FollowFallback())
	}
	rec := &storetest.Recorder{}
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Follow(ctx, rec) }()
	t.Cleanup(func() { cancel(); <-done })
	storetest.Eventually(t, 10*time.Second, rec.IsSynced, "the follower never synced: %v", rec.Since(0))
	time.Sleep(500 * time.Millisecond) // a few heartbeats that work
	if !rec.IsSynced() {
		t.Fatalf("heartbeats on a working connection lost it: %v", rec.Since(0))
	}

	mark := rec.Mark()
	cutAt := time.Now()
	proxy.doCut()
	storetest.Eventually(t, 2*time.Second, func() bool { return !rec.IsSynced() }, "a silent cut was not noticed within 2s: %v", rec.Since(mark))
	t.Logf("silent cut noticed after %s (heartbeat 200ms)", time.Since(cutAt).Round(time.Millisecond))
}

// caughtUpRecorder is a Recorder that also records CaughtUpAt.
type caughtUpRecorder struct {
	storetest.Recorder
	mu sync.Mutex
	at []time.Time
}

func (r *caughtUpRecorder) CaughtUpAt(t time.Time) {
	r.mu.Lock()
	r.at = append(r.at, t)
	r.mu.Unlock()
}

func (r *caughtUpRecorder) caughtUp() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.at...)
}

// TestPollingReportsWhenLastCaughtUp: a poll that hangs (a network cut with
// no reset, or PgBouncer waiting for a server that is down) fails only after
// its timeout; the follower then reports, before Synced(false), the start of
// its last poll that worked, from which staleness counts.
func TestPollingReportsWhenLastCaughtUp(t *testing.T) {
	t.Parallel()
	dsn := testdb.New(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.l.Addr().String()
	s := openPolling(t, u.String())
	rec := &caughtUpRecorder{}
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Follow(ctx, rec) }()
	t.Cleanup(func() { cancel(); <-done })
	storetest.Eventually(t, 10*time.Second, rec.IsSynced, "the follower never synced: %v", rec.Since(0))
	time.Sleep(100 * time.Millisecond)

	cutAt := time.Now()
	proxy.doCut()
	t.Cleanup(proxy.close) // before the store closes: its hung connections end at once
	storetest.Eventually(t, 10*time.Second, func() bool { return !rec.IsSynced() }, "a hung poll never reported the loss: %v", rec.Since(0))
	noticed := time.Since(cutAt)
	at := rec.caughtUp()
	if len(at) != 1 {
		t.Fatalf("CaughtUpAt called %d times before the loss, want 1", len(at))
	}
	if !at[0].Before(cutAt) || cutAt.Sub(at[0]) > time.Second {
		t.Errorf("CaughtUpAt %s before the cut; want the start of the last poll that worked (within the 20ms interval, and before the cut)", cutAt.Sub(at[0]))
	}
	t.Logf("loss noticed %s after the cut; last caught up %s before it", noticed.Round(time.Millisecond), cutAt.Sub(at[0]).Round(time.Millisecond))
}
