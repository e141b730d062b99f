package safefetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server is a real TLS server that counts the requests per path.
type server struct {
	*httptest.Server
	hits sync.Map // path -> *atomic.Int64
}

func (s *server) count(path string) int64 {
	v, ok := s.hits.Load(path)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := s.hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func jsonHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

// fetcher trusts s's certificate; AllowPrivate as given (the test server is
// on loopback, so happy paths need it).
func fetcher(s *server, o Options) *Fetcher {
	o.RootCAs = s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	return New(o)
}

// clock is a settable now for the cache tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func withClock(f *Fetcher) *clock {
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	f.now = c.now
	return c
}

func wantReason(t *testing.T, err error, sentinel *Error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", sentinel.Reason)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v (reason %q), want reason %q", err, ReasonOf(err), sentinel.Reason)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T is not an *Error", err)
	}
}

func TestGetDocument(t *testing.T) {
	s := newServer(t, jsonHandler(`{"keys":[]}`))
	f := fetcher(s, Options{AllowPrivate: true})
	got, err := f.Get(context.Background(), s.URL+"/jwks.json?v=1")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"keys":[]}` {
		t.Fatalf("body %q", got)
	}
	got[0] = 'X' // the caller's own copy: the cache must not change
	again, err := f.Get(context.Background(), s.URL+"/jwks.json?v=1")
	if err != nil || string(again) != `{"keys":[]}` {
		t.Fatalf("second Get: %q, %v", again, err)
	}
	if n := s.count("/jwks.json"); n != 1 {
		t.Fatalf("server saw %d requests, want 1 (the second Get is cached)", n)
	}
}

func TestContentTypes(t *testing.T) {
	for ct, ok := range map[string]bool{
		"application/json":                true,
		"application/json; charset=utf-8": true,
		"Application/JSON":                true,
		"application/jwk-set+json":        true,
		"application/jsonx":               false,
		"text/json":                       false,
		"text/html":                       false,
		"":                                false,
		"application/json; =":             false,
	} {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = []string{ct}
			_, _ = w.Write([]byte(`{}`))
		})
		f := fetcher(s, Options{AllowPrivate: true})
		_, err := f.Get(context.Background(), s.URL+"/doc")
		if ok && err != nil {
			t.Errorf("Content-Type %q: %v", ct, err)
		}
		if !ok {
			if !errors.Is(err, ErrContentType) {
				t.Errorf("Content-Type %q: err %v, want %s", ct, err, ReasonContentType)
			}
		}
	}
}

func TestContentEncodingRefused(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write([]byte(`{}`))
	})
	_, err := fetcher(s, Options{AllowPrivate: true}).Get(context.Background(), s.URL+"/doc")
	wantReason(t, err, ErrContentType)
}

// The private-address rule, checked on the address dialled: none of these
// reach a server, whatever listens there.
func TestPrivateAddressesRefused(t *testing.T) {
	s := newServer(t, jsonHandler(`{}`))
	port := s.Listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndexByte(port, ':')+1:]
	f := fetcher(s, Options{})
	for _, host := range []string{
		"127.0.0.1",
		"127.1.2.3",
		"[::1]",
		"10.1.2.3",
		"172.16.0.1",
		"192.168.1.1",
		"169.254.169.254",
		"100.64.0.1",
		"0.0.0.0",
		"[::]",
		"[::ffff:127.0.0.1]",
		"[::ffff:7f00:1]",
		"[64:ff9b::7f00:1]",    // NAT64 of 127.0.0.1
		"[64:ff9b::a9fe:a9fe]", // NAT64 of 169.254.169.254
		"[2002:7f00:1::1]",     // 6to4 of 127.0.0.1
		"[fd00::1]",
		"[fe80::1]",
		"localhost", // a name that resolves to loopback: refused after resolution
	} {
		_, err := f.Get(context.Background(), "https://"+host+":"+port+"/doc")
		if !errors.Is(err, ErrAddress) {
			t.Errorf("%s: err %v, want %s", host, err, ReasonAddress)
		}
	}
	if n := s.count("/doc"); n != 0 {
		t.Fatalf("the server on loopback was reached %d times", n)
	}
}

func TestURLRulesRefused(t *testing.T) {
	f := New(Options{AllowPrivate: true})
	for _, u := range []string{
		"http://127.0.0.1/doc",
		"HTTPS://127.0.0.1/doc",
		"ftp://127.0.0.1/doc",
		"https://user:pw@127.0.0.1/doc",
		"https://user@127.0.0.1/doc",
		"https://127.0.0.1/doc#frag",
		"https://127.0.0.1/doc#",
		"https:///doc",
		"https:127.0.0.1/doc",
		"https://127.0.0.1:0/doc",
		"https://127.0.0.1:99999/doc",
		"https://127.0.0.1:/doc",
		"https://%31%32%37.0.0.1/doc",
		"https://2130706433/doc",
		"https://0x7f.0.0.1/doc",
		"https://127.1/doc",
		"https://017.0.0.1/doc",
		"https://example.com./doc",
		"https://exa mple.com/doc",
		"https://example.com/d oc",
		"https://example.com/a\"b", // sent as /a%22b: another URL than the string
		"https://example.com/a{b}",
		"https://example.com/a|b",
		"https://example.com/a^b",
		"https://example.com/a`b",
		"https://example.com/a<b>",
		"https://example.com/?q=<x>",
		"https://example.com/%zz",
		"https://example.com/%2",
		"https://example.com\\@evil.com/doc",
		"https://bücher.example/doc",
		"https://[fe80::1%25eth0]/doc",
		"https://[::1/doc",
		"https://" + strings.Repeat("a", MaxURLLength) + ".com/",
		"",
	} {
		if _, err := f.Get(context.Background(), u); !errors.Is(err, ErrURL) {
			t.Errorf("%q: err %v, want %s", u, err, ReasonURL)
		}
	}
}

// A proxy from the environment would do the dialling, and the address
// checks with it. (Not testable by behaviour here: Go never proxies requests
// to loopback, where the test servers are.)
func TestNoProxy(t *testing.T) {
	tr := New(Options{}).client.Transport.(*http.Transport)
	if tr.Proxy != nil {
		t.Fatal("the transport has a Proxy function")
	}
	if tr.TLSClientConfig.MinVersion != tls.VersionTLS12 || tr.TLSClientConfig.InsecureSkipVerify {
		t.Fatal("TLS below 1.2 or unverified")
	}
}

func TestAllowedHosts(t *testing.T) {
	s := newServer(t, jsonHandler(`{}`))
	f := fetcher(s, Options{AllowPrivate: true, AllowedHosts: []string{"example.com"}})
	_, err := f.Get(context.Background(), s.URL+"/doc")
	wantReason(t, err, ErrHost)
	if s.count("/doc") != 0 {
		t.Fatal("a host off the allowlist was reached")
	}
	f = fetcher(s, Options{AllowPrivate: true, AllowedHosts: []string{"example.com", "127.0.0.1"}})
	if _, err := f.Get(context.Background(), s.URL+"/doc"); err != nil {
		t.Fatalf("allowlisted host: %v", err)
	}
	if !f.hostAllowed("EXAMPLE.com") || f.hostAllowed("www.example.com") || f.hostAllowed("example.co") {
		t.Fatal("the allowlist is exact and case-insensitive")
	}
}

func TestRedirectRefused(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/doc" {
			http.Redirect(w, r, "/target", http.StatusFound)
			return
		}
		jsonHandler(`{}`)(w, r)
	})
	_, err := fetcher(s, Options{AllowPrivate: true}).Get(context.Background(), s.URL+"/doc")
	wantReason(t, err, ErrRedirect)
	if s.count("/target") != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestStatusRefused(t *testing.T) {
	for _, code := range []int{201, 204, 304, 404, 500} {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
		})
		_, err := fetcher(s, Options{AllowPrivate: true}).Get(context.Background(), s.URL+"/doc")
		if !errors.Is(err, ErrStatus) && !errors.Is(err, ErrRedirect) {
			t.Errorf("status %d: err %v", code, err)
		}
	}
}

func TestOversizeBodyRefused(t *testing.T) {
	big := `{"x":"` + strings.Repeat("a", 2000) + `"}`
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/chunked": // no Content-Length: the limit applies while reading
			_, _ = w.Write([]byte(big[:10]))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(big[10:]))
		case "/exact":
			_, _ = w.Write([]byte(big[:1024]))
		default:
			_, _ = w.Write([]byte(big))
		}
	})
	f := fetcher(s, Options{AllowPrivate: true, MaxBytes: 1024})
	for _, p := range []string{"/sized", "/chunked"} {
		_, err := f.Get(context.Background(), s.URL+p)
		wantReason(t, err, ErrTooLarge)
	}
	got, err := f.Get(context.Background(), s.URL+"/exact")
	if err != nil || len(got) != 1024 {
		t.Fatalf("a body of exactly MaxBytes: %d bytes, %v", len(got), err)
	}
}

func TestSlowBodyTimesOut(t *testing.T) {
	release := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"a":`))
		w.(http.Flusher).Flush()
		select { // trickle nothing more until the client gives up
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	f := fetcher(s, Options{AllowPrivate: true, Timeout: 300 * time.Millisecond})
	_, err := f.Get(context.Background(), s.URL+"/doc")
	wantReason(t, err, ErrTimeout)
}

func TestSlowHeadersTimeOut(t *testing.T) {
	release := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	f := fetcher(s, Options{AllowPrivate: true, Timeout: 300 * time.Millisecond})
	_, err := f.Get(context.Background(), s.URL+"/doc")
	wantReason(t, err, ErrTimeout)
}

// The same rules over HTTP/2, which the transport negotiates when offered.
func TestHTTP2(t *testing.T) {
	var h2 atomic.Int64
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			h2.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/big" {
			_, _ = w.Write([]byte(`{"x":"` + strings.Repeat("a", 2000) + `"}`))
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	s.EnableHTTP2 = true
	s.StartTLS()
	defer s.Close()
	f := fetcher(s, Options{AllowPrivate: true, MaxBytes: 1024})
	if _, err := f.Get(context.Background(), s.URL+"/doc"); err != nil {
		t.Fatal(err)
	}
	_, err := f.Get(context.Background(), s.URL+"/big")
	wantReason(t, err, ErrTooLarge)
	if h2.Load() != 2 {
		t.Fatalf("%d of 2 requests were HTTP/2", h2.Load())
	}
}

func TestOldTLSRefused(t *testing.T) {
	s := &server{}
	s.Server = httptest.NewUnstartedServer(jsonHandler(`{}`))
	s.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	s.StartTLS()
	defer s.Close()
	_, err := fetcher(s, Options{AllowPrivate: true}).Get(context.Background(), s.URL+"/doc")
	wantReason(t, err, ErrUnreachable)
}

func TestUntrustedCertificateRefused(t *testing.T) {
	s := newServer(t, jsonHandler(`{}`))
	_, err := New(Options{AllowPrivate: true}).Get(context.Background(), s.URL+"/doc")
	wantReason(t, err, ErrUnreachable)
}

func TestCacheHonoursMaxAge(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/long":
			w.Header().Set("Cache-Control", "public, max-age=600")
		case "/aged":
			w.Header().Set("Cache-Control", "max-age=600")
			w.Header().Set("Age", "500")
		case "/nostore":
			w.Header().Set("Cache-Control", "no-store")
		case "/huge":
			w.Header().Set("Cache-Control", "max-age=999999999999")
		}
		jsonHandler(`{}`)(w, r)
	})
	f := fetcher(s, Options{AllowPrivate: true, MinTTL: time.Minute, MaxTTL: time.Hour})
	clk := withClock(f)
	get := func(p string) {
		t.Helper()
		if _, err := f.Get(context.Background(), s.URL+p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	for _, p := range []string{"/long", "/aged", "/nostore", "/none", "/huge"} {
		get(p)
	}
	step := func(d time.Duration, want map[string]int64) {
		t.Helper()
		clk.add(d)
		for p := range want {
			get(p)
		}
		for p, n := range want {
			if got := s.count(p); got != n {
				t.Errorf("after %s: %s fetched %d times, want %d", d, p, got, n)
			}
		}
	}
	// +59s: all fresh (MinTTL is 1m for no-store and no header).
	step(59*time.Second, map[string]int64{"/long": 1, "/aged": 1, "/nostore": 1, "/none": 1, "/huge": 1})
	// +2m: MinTTL passed, /aged's 100s left passed; max-age=600 still fresh.
	step(61*time.Second, map[string]int64{"/long": 1, "/aged": 2, "/nostore": 2, "/none": 2, "/huge": 1})
	// +10m01s: max-age=600 over.
	step(8*time.Minute+1*time.Second, map[string]int64{"/long": 2, "/huge": 1})
	// +1h: a huge max-age is bounded by MaxTTL.
	step(51*time.Minute, map[string]int64{"/huge": 2})
}

func TestConcurrentGetsCollapse(t *testing.T) {
	release := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		jsonHandler(`{"n":1}`)(w, r)
	})
	f := fetcher(s, Options{AllowPrivate: true})
	const n = 50
	u := s.URL + "/doc"
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			b, err := f.Get(context.Background(), u)
			if err == nil && string(b) != `{"n":1}` {
				err = fmt.Errorf("body %q", b)
			}
			errs <- err
		})
	}
	// Wait until every caller has joined the one fetch, then let it answer.
	for {
		f.mu.Lock()
		c := f.inflight[u]
		joined := c != nil && c.waiters == n
		f.mu.Unlock()
		if joined {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := s.count("/doc"); got != 1 {
		t.Fatalf("%d concurrent Gets made %d requests, want 1", n, got)
	}
}

func TestRefreshRateLimited(t *testing.T) {
	var version atomic.Int64
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		jsonHandler(fmt.Sprintf(`{"v":%d}`, version.Add(1)))(w, r)
	})
	f := fetcher(s, Options{AllowPrivate: true, MinRefresh: 30 * time.Second})
	clk := withClock(f)
	ctx := context.Background()
	u := s.URL + "/jwks"
	body := func(b []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := body(f.Get(ctx, u)); got != `{"v":1}` {
		t.Fatalf("first Get %s", got)
	}
	for range 20 { // an attacker sending unknown kids
		clk.add(time.Second)
		if got := body(f.Refresh(ctx, u)); got != `{"v":1}` {
			t.Fatalf("Refresh within MinRefresh fetched: %s", got)
		}
	}
	clk.add(10 * time.Second) // 30s since the fetch
	if got := body(f.Refresh(ctx, u)); got != `{"v":2}` {
		t.Fatalf("Refresh after MinRefresh: %s, want a new fetch", got)
	}
	if got := body(f.Get(ctx, u)); got != `{"v":2}` {
		t.Fatalf("Get after Refresh: %s, want the refreshed copy", got)
	}
	if n := s.count("/jwks"); n != 2 {
		t.Fatalf("server saw %d requests, want 2", n)
	}
}

func TestFailuresCachedBriefly(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "secret internal detail", http.StatusInternalServerError)
			return
		}
		jsonHandler(`{}`)(w, r)
	})
	f := fetcher(s, Options{AllowPrivate: true, FailureTTL: 5 * time.Second})
	clk := withClock(f)
	u := s.URL + "/doc"
	for range 10 {
		_, err := f.Get(context.Background(), u)
		wantReason(t, err, ErrStatus)
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("the error echoes the response body: %v", err)
		}
		clk.add(400 * time.Millisecond)
	}
	if n := s.count("/doc"); n != 1 {
		t.Fatalf("a failing host was asked %d times within FailureTTL, want 1", n)
	}
	fail.Store(false)
	clk.add(time.Second) // 5s since the failure
	if _, err := f.Get(context.Background(), u); err != nil {
		t.Fatalf("after FailureTTL: %v", err)
	}
	if n := s.count("/doc"); n != 2 {
		t.Fatalf("server saw %d requests, want 2", n)
	}
}

func TestCacheBounded(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		jsonHandler(`{"pad":"`+strings.Repeat("x", 30)+`"}`)(w, r) // 40 bytes
	})
	ctx := context.Background()
	check := func(f *Fetcher, maxEntries int, maxBytes int64) {
		t.Helper()
		f.mu.Lock()
		defer f.mu.Unlock()
		var sum int64
		for u, e := range f.entries {
			sum += int64(len(u) + len(e.body))
		}
		if len(f.entries) > maxEntries || f.lru.Len() != len(f.entries) || sum != f.bytes || sum > maxBytes {
			t.Fatalf("cache holds %d entries (list %d), %d bytes (counted %d); bounds %d entries, %d bytes",
				len(f.entries), f.lru.Len(), sum, f.bytes, maxEntries, maxBytes)
		}
	}

	f := fetcher(s, Options{AllowPrivate: true, MaxEntries: 3})
	for i := range 20 {
		if _, err := f.Get(ctx, fmt.Sprintf("%s/doc%d", s.URL, i)); err != nil {
			t.Fatal(err)
		}
		check(f, 3, 1<<30)
	}
	// The most recently used stay: doc17..19 are cached, doc0 is not.
	_, _ = f.Get(ctx, s.URL+"/doc19")
	_, _ = f.Get(ctx, s.URL+"/doc0")
	if s.count("/doc19") != 1 || s.count("/doc0") != 2 {
		t.Fatalf("LRU: doc19 fetched %d times (want 1), doc0 %d (want 2)", s.count("/doc19"), s.count("/doc0"))
	}

	// Bytes: each entry is a 40-byte body plus its URL; the bound is the
	// floor MaxBytes+MaxURLLength, room for fewer entries than MaxEntries.
	f = fetcher(s, Options{AllowPrivate: true, MaxBytes: 100, MaxCacheBytes: 1})
	long := s.URL + "/" + strings.Repeat("b", 600)
	entrySize := len(long) + 3 + 40
	maxBytes := int64(100 + MaxURLLength)
	for i := range 20 {
		if _, err := f.Get(ctx, fmt.Sprintf("%s%03d", long, i)); err != nil {
			t.Fatal(err)
		}
		check(f, int(maxBytes)/entrySize, maxBytes)
	}
	if f.lru.Len() != int(maxBytes)/entrySize {
		t.Fatalf("%d entries cached, want %d: eviction went further than the bound", f.lru.Len(), int(maxBytes)/entrySize)
	}
}

func TestBusyFailsFast(t *testing.T) {
	release := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		jsonHandler(`{}`)(w, r)
	})
	f := fetcher(s, Options{AllowPrivate: true, MaxConcurrent: 1})
	done := make(chan error)
	go func() { _, err := f.Get(context.Background(), s.URL+"/slow"); done <- err }()
	for {
		f.mu.Lock()
		n := len(f.inflight)
		f.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	_, err := f.Get(context.Background(), s.URL+"/other")
	wantReason(t, err, ErrBusy)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(context.Background(), s.URL+"/other"); err != nil {
		t.Fatalf("after the slow fetch ended: %v", err)
	}
}

func TestCallerCancelDoesNotAbortFetch(t *testing.T) {
	release := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		jsonHandler(`{}`)(w, r)
	})
	f := fetcher(s, Options{AllowPrivate: true})
	u := s.URL + "/doc"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := f.Get(ctx, u); done <- err }()
	for {
		f.mu.Lock()
		c := f.inflight[u]
		f.mu.Unlock()
		if c != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	err := <-done
	wantReason(t, err, ErrCanceled)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the cause is lost: %v", err)
	}
	close(release)
	// The fetch finished for the cache: the next Get needs no new request.
	if _, err := f.Get(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if n := s.count("/doc"); n != 1 {
		t.Fatalf("server saw %d requests, want 1", n)
	}
}

func TestReject(t *testing.T) {
	s := newServer(t, jsonHandler(`{"not":"what the caller wants"}`))
	f := fetcher(s, Options{AllowPrivate: true, FailureTTL: 5 * time.Second})
	clk := withClock(f)
	u := s.URL + "/doc"
	cause := errors.New("no client_id in the document")
	f.Reject(u, cause) // nothing cached yet: nothing happens
	if _, err := f.Get(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	f.Reject(u, cause)
	for range 4 {
		clk.add(time.Second)
		_, err := f.Get(context.Background(), u)
		wantReason(t, err, ErrRejected)
		if !errors.Is(err, cause) {
			t.Fatalf("the caller's cause is lost: %v", err)
		}
	}
	if n := s.count("/doc"); n != 1 {
		t.Fatalf("server saw %d requests, want 1 (a rejected document is remembered as a failure)", n)
	}
	clk.add(time.Second)
	if _, err := f.Get(context.Background(), u); err != nil {
		t.Fatalf("after FailureTTL: %v", err)
	}
	if n := s.count("/doc"); n != 2 {
		t.Fatalf("server saw %d requests, want 2", n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.entries) != 1 || f.lru.Len() != 1 || f.bytes != int64(len(u)+len(`{"not":"what the caller wants"}`)) {
		t.Fatalf("cache accounting: %d entries, %d in list, %d bytes", len(f.entries), f.lru.Len(), f.bytes)
	}
}

// BenchmarkGetCached is the cost of a cache hit: what the token endpoint
// pays per request for a private_key_jwt client's jwks_uri.
func BenchmarkGetCached(b *testing.B) {
	s := &server{}
	s.Server = httptest.NewTLSServer(jsonHandler(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`))
	defer s.Close()
	f := fetcher(s, Options{AllowPrivate: true})
	u := s.URL + "/jwks.json"
	ctx := context.Background()
	if _, err := f.Get(ctx, u); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Get(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetch is a full fetch over a kept-alive TLS connection on
// loopback (Refresh with MinRefresh 1ns refetches every time): what a cache
// miss costs the gateway, the network aside.
func BenchmarkFetch(b *testing.B) {
	s := &server{}
	s.Server = httptest.NewTLSServer(jsonHandler(`{"keys":[]}`))
	defer s.Close()
	f := fetcher(s, Options{AllowPrivate: true, MinRefresh: time.Nanosecond})
	u := s.URL + "/jwks.json"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Refresh(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	good := []Options{
		{},
		{AllowedHosts: []string{"mcp.example.com", "Claude.AI", "127.0.0.1", "2001:db8::1"}, MinTTL: time.Minute, MaxTTL: time.Hour},
	}
	for _, o := range good {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	bad := []Options{
		{AllowedHosts: []string{"https://claude.ai"}},
		{AllowedHosts: []string{"claude.ai:443"}},
		{AllowedHosts: []string{"*.example.com"}},
		{AllowedHosts: []string{""}},
		{Timeout: -time.Second},
		{MaxBytes: -1},
		{MinTTL: time.Hour, MaxTTL: time.Minute},
	}
	for _, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestObserve(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		jsonHandler(`{}`)(w, r)
	})
	var mu sync.Mutex
	var seen []Reason
	o := Options{AllowPrivate: true, Observe: func(outcome Reason, elapsed time.Duration) {
		mu.Lock()
		seen = append(seen, outcome)
		mu.Unlock()
	}}
	f := fetcher(s, o)
	for _, p := range []string{"/doc", "/doc", "/missing"} { // the second is a cache hit: not observed
		_, _ = f.Get(context.Background(), s.URL+p)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != fmt.Sprint([]Reason{"", ReasonStatus}) {
		t.Fatalf("observed %q, want [\"\" %q]", seen, ReasonStatus)
	}
}

// A cache hit allocates only the caller's copy of the body (the token
// endpoint pays it per private_key_jwt request).
func TestGetCachedAllocs(t *testing.T) {
	s := newServer(t, jsonHandler(`{"keys":[]}`))
	f := fetcher(s, Options{AllowPrivate: true})
	u := s.URL + "/jwks.json"
	ctx := context.Background()
	if _, err := f.Get(ctx, u); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = f.Get(ctx, u) }); n > 1 {
		t.Fatalf("a cached Get allocates %v times, want 1", n)
	}
}
