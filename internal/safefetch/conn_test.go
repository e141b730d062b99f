package safefetch

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// connCounter is a TLS server's ConnState hook: the connections open now.
type connCounter struct {
	mu   sync.Mutex
	open map[net.Conn]bool
}

func (c *connCounter) hook(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st {
	case http.StateNew:
		c.open[conn] = true
	case http.StateClosed, http.StateHijacked:
		delete(c.open, conn)
	}
}

func (c *connCounter) n() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.open) }

// A fetch leaves no connection behind. Each host an attacker names (wildcard
// DNS and a wildcard certificate give any number) would otherwise keep a
// pooled connection, a socket and, over HTTP/2, a read-loop goroutine, for
// IdleConnTimeout: HTTP/2 connections are not bounded by MaxIdleConns at all,
// so a flood of client IDs on distinct names exhausts file descriptors. A
// kept connection is also worth nothing here: documents are cached for at
// least MinTTL, longer than any idle timeout worth having.
func TestFetchLeavesNoConnectionOpen(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run("http2="+strconv.FormatBool(h2), func(t *testing.T) {
			cc := &connCounter{open: map[net.Conn]bool{}}
			hs := httptest.NewUnstartedServer(jsonHandler(`{}`))
			hs.Config.ConnState = cc.hook
			hs.EnableHTTP2 = h2
			hs.StartTLS()
			defer hs.Close()
			port := hs.URL[strings.LastIndexByte(hs.URL, ':')+1:]
			roots := hs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
			d := newDNSServer(t, "127.0.0.1")
			f := newFetcher(Options{AllowPrivate: true, RootCAs: roots}, d.resolver())

			const hosts = 8 // the test certificate is valid for *.example.com
			for i := range hosts {
				u := "https://h" + strconv.Itoa(i) + ".example.com:" + port + "/doc"
				if _, err := f.Get(context.Background(), u); err != nil {
					t.Fatalf("%s: %v", u, err)
				}
			}
			// Closing is asynchronous on the server's side; IdleConnTimeout
			// (30s) is far beyond this wait.
			deadline := time.Now().Add(5 * time.Second)
			for cc.n() != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := cc.n(); n != 0 {
				t.Fatalf("%d of %d connections still open after the fetches returned", n, hosts)
			}
		})
	}
}
