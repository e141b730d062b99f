package safefetch

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
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

// A body longer than MaxBytes costs the gateway about MaxBytes of memory,
// over HTTP/2 too. Go's HTTP/2 client grants each stream a 4 MiB receive
// window (and the connection 1 GiB) by default and buffers whatever the
// server sends into it, read or not: a hostile server answering every fetch
// with megabytes would make each of MaxConcurrent fetches hold 4 MiB however
// small MaxBytes is. The windows the client announces are what it lets a
// server send before reading; a raw HTTP/2 server reads them.
func TestHTTP2WindowBoundedByMaxBytes(t *testing.T) {
	const maxBytes = 1024
	hs := httptest.NewUnstartedServer(http.NotFoundHandler())
	hs.StartTLS() // for its certificate
	defer hs.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: hs.TLS.Certificates, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type windows struct {
		stream, conn int64
		err          error
	}
	got := make(chan windows, 1)
	go func() {
		w := windows{stream: 65535, conn: 65535} // RFC 9113 §6.9.2 initial values
		defer func() { got <- w }()
		c, err := ln.Accept()
		if err != nil {
			w.err = err
			return
		}
		defer c.Close()
		preface := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(c, preface); err != nil {
			w.err = err
			return
		}
		fr := http2.NewFramer(c, c)
		_ = fr.WriteSettings()
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				w.err = err
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
					w.stream = int64(v)
				}
				if !f.IsAck() {
					_ = fr.WriteSettingsAck()
				}
			case *http2.WindowUpdateFrame:
				if f.StreamID == 0 {
					w.conn += int64(f.Increment)
				}
			case *http2.HeadersFrame: // the request: every window is announced
				return
			}
		}
	}()
	f := New(Options{AllowPrivate: true, MaxBytes: maxBytes, Timeout: 2 * time.Second,
		RootCAs: hs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	_, _ = f.Get(context.Background(), "https://"+ln.Addr().String()+"/doc")
	w := <-got
	if w.err != nil {
		t.Fatalf("raw HTTP/2 server: %v", w.err)
	}
	if w.stream > maxBytes+1 {
		t.Errorf("stream receive window %d, want at most MaxBytes+1 = %d", w.stream, maxBytes+1)
	}
	// Go's client adds at least 65535 to the connection's initial 65535;
	// a connection carries one fetch's stream only.
	if w.conn > 2*65535 {
		t.Errorf("connection receive window %d, want at most %d", w.conn, 2*65535)
	}
}
