// Package safefetch fetches small JSON documents at URLs that outsiders
// choose — a Client ID Metadata Document at an https client_id
// (draft-ietf-oauth-client-id-metadata-document §3, §6.5), a client's
// jwks_uri (RFC 7591 §2, RFC 7523) — without letting the URL's owner turn the
// gateway against its own network (server-side request forgery) or its
// memory.
//
// The rules, each with a reason to exist:
//
//   - https only, TLS 1.2 or later, no userinfo, no fragment, a host that is a
//     plain DNS name or IP literal (CheckURL). No proxy from the environment.
//   - The address actually dialled, after name resolution, must be a public
//     unicast address (PublicAddr) unless Options.AllowPrivate: the check runs
//     in the dialer's Control hook, so a name that resolves to a public address
//     once and to 127.0.0.1 the next time (DNS rebinding) is refused at the
//     connection that matters. Optionally only Options.AllowedHosts.
//   - One connection per fetch, closed when it ends (no keep-alive, no pool,
//     over HTTP/1.1 or HTTP/2 alike): nothing outlives its fetch, and no
//     request rides a connection dialled for another.
//   - No redirects are followed (the draft §4: MUST NOT follow); a 3xx is an
//     error, as is any status but 200, a content type other than
//     application/json or application/*+json, or a content encoding.
//   - The body is read through io.LimitReader(MaxBytes+1): a longer body is an
//     error, never silently truncated. The whole fetch, body included, is
//     bounded by Options.Timeout.
//   - Documents are cached by exact URL string for their Cache-Control
//     max-age, bounded by MinTTL and MaxTTL; failures for FailureTTL (a few
//     seconds: a dead or hostile host is not asked again per request, yet a
//     fixed document is soon seen — the draft §4.2 forbids keeping errors).
//     The cache is bounded in entries and bytes (least recently used goes
//     first), concurrent fetches of one URL become one, and at most
//     MaxConcurrent fetches run at once, so choosing many URLs buys an
//     attacker neither memory nor connections.
//   - A caller that finds a document invalid calls Reject: the document is
//     dropped and the failure remembered for FailureTTL.
//   - Refresh forces a refetch (a JWT names a kid the cached JWKS lacks) but
//     at most once per MinRefresh per URL, so an attacker inventing kids
//     cannot make the gateway hammer a host.
//
// What it does not do: tell a slow hostile host from a slow honest one. An
// attacker who keeps MaxConcurrent slow fetches under way (wildcard DNS gives
// any number of host names) makes other fetches fail fast with ReasonBusy for
// at most Timeout; memory and connections stay bounded. Callers therefore
// fetch only for requests that passed their endpoint's rate limit, and
// preferably after the person is signed in.
//
// A Fetcher is safe for concurrent use. Use one Fetcher per purpose (its
// Options, notably MaxBytes, suit that purpose): the Client ID Metadata
// Document draft recommends reading at most 5 KiB; a JWKS may need more.
package safefetch

import (
	"container/list"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Fetcher. The zero value is the safe default; every
// field says its default.
type Options struct {
	// AllowPrivate permits connections to loopback, private (RFC 1918),
	// link-local, CGNAT, unique-local, unspecified, multicast and other
	// special-use addresses (see PublicAddr). Default false. For tests and for
	// operators whose clients live on internal hosts; never for a gateway
	// that accepts client IDs from the internet.
	AllowPrivate bool
	// AllowedHosts, when non-empty, is the only host names that may be
	// fetched from: exact, case-insensitive match of the URL's host (no
	// wildcards, port ignored). Default empty: any host.
	AllowedHosts []string
	// MaxBytes is the largest body accepted; a longer one is an error
	// (ReasonTooLarge). Default 64 KiB.
	MaxBytes int64
	// Timeout bounds one whole fetch: connection, TLS, headers and body.
	// Default 5s.
	Timeout time.Duration
	// MinTTL is the shortest time a fetched document is served from the
	// cache, whatever its Cache-Control says (also for no-store, no-cache and
	// a missing header). Default 1m.
	MinTTL time.Duration
	// MaxTTL is the longest time a document is served from the cache, whatever
	// its max-age. Default 24h.
	MaxTTL time.Duration
	// FailureTTL is how long a failed fetch is remembered and returned without
	// asking the host again. Default 5s.
	FailureTTL time.Duration
	// MinRefresh is the least time between two fetches of one URL that
	// Refresh will make. Default 30s.
	MinRefresh time.Duration
	// MaxEntries bounds the number of cached URLs (documents and failures).
	// Default 1000.
	MaxEntries int
	// MaxCacheBytes bounds the total size of cached documents and their URLs.
	// Default 16 MiB (and never less than MaxBytes+MaxURLLength).
	MaxCacheBytes int64
	// MaxConcurrent bounds the fetches under way at once, over all URLs; past
	// it Get fails fast with ReasonBusy. Default 32.
	MaxConcurrent int
	// RootCAs verifies the servers' certificates. Default nil: the system's
	// roots. Tests pass the pool of an httptest TLS server.
	RootCAs *x509.CertPool
	// UserAgent is sent with every request. Default "blnk-auth-gateway".
	UserAgent string
	// Observe, if set, is called once per fetch made (not per cache hit)
	// with its outcome — "" for success, else the error's Reason — and how
	// long it took: for metrics (refused addresses are worth an alert). It
	// must be quick and must not call the Fetcher. Default nil.
	Observe func(outcome Reason, elapsed time.Duration)
}

// Validate reports configuration mistakes New would not catch: a negative
// duration or bound, MinTTL above MaxTTL, an AllowedHosts entry that is not
// a bare host name (a URL or a host:port there would match nothing and
// refuse every fetch). For a Caddy module's Validate.
func (o Options) Validate() error {
	for _, d := range []time.Duration{o.Timeout, o.MinTTL, o.MaxTTL, o.FailureTTL, o.MinRefresh} {
		if d < 0 {
			return errors.New("safefetch: negative duration")
		}
	}
	if o.MaxBytes < 0 || o.MaxEntries < 0 || o.MaxCacheBytes < 0 || o.MaxConcurrent < 0 {
		return errors.New("safefetch: negative limit")
	}
	if o.MinTTL > 0 && o.MaxTTL > 0 && o.MinTTL > o.MaxTTL {
		return errors.New("safefetch: min TTL above max TTL")
	}
	for _, h := range o.AllowedHosts {
		if !validDNSName(h) {
			if a, err := netip.ParseAddr(h); err != nil || a.Zone() != "" {
				return fmt.Errorf("safefetch: allowed host %q is not a host name or IP address", h)
			}
		}
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MinTTL <= 0 {
		o.MinTTL = time.Minute
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = 24 * time.Hour
	}
	if o.MaxTTL < o.MinTTL {
		o.MaxTTL = o.MinTTL
	}
	if o.FailureTTL <= 0 {
		o.FailureTTL = 5 * time.Second
	}
	if o.MinRefresh <= 0 {
		o.MinRefresh = 30 * time.Second
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 1000
	}
	if o.MaxCacheBytes <= 0 {
		o.MaxCacheBytes = 16 << 20
	}
	if o.MaxCacheBytes < o.MaxBytes+MaxURLLength {
		o.MaxCacheBytes = o.MaxBytes + MaxURLLength
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 32
	}
	if o.UserAgent == "" {
		o.UserAgent = "blnk-auth-gateway"
	}
}

// Fetcher fetches and caches documents. Build it with New.
type Fetcher struct {
	opts   Options
	client *http.Client
	sem    chan struct{}
	now    func() time.Time // time.Now; tests move it

	mu       sync.Mutex
	entries  map[string]*entry
	lru      *list.List // of *entry, most recently used at the front
	bytes    int64      // sum of len(url)+len(body) over entries
	inflight map[string]*call

	fetches int64 // fetches started, for tests
}

// entry is a cached outcome for one URL: a body or an error.
type entry struct {
	url     string
	body    []byte
	err     error
	expires time.Time // served from the cache until then
	fetched time.Time // when the fetch that produced it started
	elem    *list.Element
}

// call is one fetch under way; every caller of its URL waits on done.
type call struct {
	done    chan struct{}
	waiters int // callers waiting, for tests
	body    []byte
	err     error
}

// New returns a Fetcher with opts (zero fields take their defaults).
func New(opts Options) *Fetcher { return newFetcher(opts, nil) }

// newFetcher is New with a resolver of the test's (nil: the system's).
func newFetcher(opts Options, resolver *net.Resolver) *Fetcher {
	opts.setDefaults()
	opts.AllowedHosts = append([]string(nil), opts.AllowedHosts...)
	f := &Fetcher{
		opts:     opts,
		sem:      make(chan struct{}, opts.MaxConcurrent),
		now:      time.Now,
		entries:  make(map[string]*entry),
		lru:      list.New(),
		inflight: make(map[string]*call),
	}
	receiveWindow := int(min(opts.MaxBytes+1, math.MaxInt32))
	dialer := &net.Dialer{Timeout: opts.Timeout, Control: f.control, Resolver: resolver}
	transport := &http.Transport{
		Proxy:       nil, // never an environment proxy: it would dial for us, unchecked
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			RootCAs:    opts.RootCAs,
		},
		ForceAttemptHTTP2:  true,
		DisableCompression: true, // the limit applies to the bytes as sent
		// One connection per fetch, closed when it ends. A pooled
		// connection per host would let an attacker with wildcard DNS hold
		// a socket (and over HTTP/2 a goroutine; MaxIdleConns does not
		// bound those) per name for the idle timeout, and would outlive the
		// address check that let it be dialled. Reuse buys nothing: a
		// document is cached for at least MinTTL.
		DisableKeepAlives: true,
		// Go's HTTP/2 client buffers whatever fits the receive windows it
		// announces, read or not: 4 MiB per stream by default. A server
		// may send no more than the body we accept before we read it.
		HTTP2: &http.HTTP2Config{
			MaxReceiveBufferPerStream:     receiveWindow,
			MaxReceiveBufferPerConnection: max(receiveWindow, 65535), // the least Go takes
		},
		TLSHandshakeTimeout:    opts.Timeout,
		ResponseHeaderTimeout:  opts.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
	}
	f.client = &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is returned as is, and refused below
		},
	}
	return f
}

// Get returns the document at rawURL: the cached copy while it is fresh,
// else a new fetch (joined with any fetch of the same URL under way). A
// cached failure is returned as such until FailureTTL has passed. The
// returned slice is the caller's own. Every error is an *Error.
//
// The cache key is rawURL exactly: callers that compare URLs as strings (the
// Client ID Metadata Document draft does) get the document of that string.
func (f *Fetcher) Get(ctx context.Context, rawURL string) ([]byte, error) {
	return f.get(ctx, rawURL, false)
}

// Refresh is Get that ignores a fresh cached copy (or failure) when the last
// fetch of rawURL started at least MinRefresh ago; otherwise it behaves as
// Get. Call it when a cached document proved stale, e.g. a JWT's kid is not
// in the cached JWKS; then look again in what it returns.
func (f *Fetcher) Refresh(ctx context.Context, rawURL string) ([]byte, error) {
	return f.get(ctx, rawURL, true)
}

// Reject replaces the cached copy of rawURL, if any, with a failure that
// Get and Refresh return for FailureTTL: an *Error with ReasonRejected
// wrapping cause. A caller that finds a fetched document invalid calls it, so
// that the invalid document is not kept (the Client ID Metadata Document
// draft §4.2: MUST NOT cache documents that are invalid or malformed), and
// yet the host is not asked again on every request.
func (f *Fetcher) Reject(rawURL string, cause error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.entries[rawURL]; e != nil {
		f.store(&entry{url: rawURL, err: &Error{Reason: ReasonRejected, Err: cause},
			expires: f.now().Add(f.opts.FailureTTL), fetched: e.fetched})
	}
}

func (f *Fetcher) get(ctx context.Context, rawURL string, refresh bool) ([]byte, error) {
	now := f.now()
	f.mu.Lock()
	// Only a URL that passed the checks below is ever cached (under the same
	// Options), so a cached one needs no second look: a hit costs a map
	// lookup and a copy.
	if e := f.entries[rawURL]; e != nil {
		fresh := now.Before(e.expires)
		if refresh && now.Sub(e.fetched) >= f.opts.MinRefresh {
			fresh = false
		}
		if fresh {
			f.lru.MoveToFront(e.elem)
			body, err := e.body, e.err
			f.mu.Unlock()
			if err != nil {
				return nil, err
			}
			return clone(body), nil
		}
	}
	c := f.inflight[rawURL]
	if c == nil {
		u, err := CheckURL(rawURL)
		if err == nil && !f.hostAllowed(u.Hostname()) {
			err = &Error{Reason: ReasonHost}
		}
		if err != nil {
			f.mu.Unlock()
			return nil, err
		}
		select {
		case f.sem <- struct{}{}:
		default:
			f.mu.Unlock()
			return nil, &Error{Reason: ReasonBusy}
		}
		c = &call{done: make(chan struct{})}
		f.inflight[rawURL] = c
		f.fetches++
		// The fetch outlives any one caller: others may be waiting on it, and
		// its outcome is cached. It keeps ctx's values, not its deadline.
		go f.run(context.WithoutCancel(ctx), rawURL, c, now)
	}
	c.waiters++
	f.mu.Unlock()

	select {
	case <-c.done:
		if c.err != nil {
			return nil, c.err
		}
		return clone(c.body), nil
	case <-ctx.Done():
		return nil, &Error{Reason: ReasonCanceled, Err: ctx.Err()}
	}
}

func (f *Fetcher) run(ctx context.Context, rawURL string, c *call, started time.Time) {
	t0 := time.Now()
	body, ttl, err := f.fetch(ctx, rawURL)
	<-f.sem
	if f.opts.Observe != nil {
		f.opts.Observe(ReasonOf(err), time.Since(t0))
	}
	c.body, c.err = body, err
	if err != nil {
		ttl = f.opts.FailureTTL
	}
	f.mu.Lock()
	delete(f.inflight, rawURL)
	f.store(&entry{url: rawURL, body: body, err: err, expires: f.now().Add(ttl), fetched: started})
	f.mu.Unlock()
	close(c.done)
}

// fetch makes one request and returns the body and how long to cache it.
func (f *Fetcher) fetch(ctx context.Context, rawURL string) ([]byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, 0, &Error{Reason: ReasonURL, Detail: "does not parse"}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", f.opts.UserAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, 0, transportError(ctx, err)
	}
	defer resp.Body.Close()
	if err := ctx.Err(); err != nil {
		// An answer that raced the deadline: the fetch took too long
		// whatever the answer says.
		return nil, 0, transportError(ctx, err)
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, 0, &Error{Reason: ReasonRedirect, Detail: "status " + strconv.Itoa(resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return nil, 0, &Error{Reason: ReasonStatus, Detail: "status " + strconv.Itoa(resp.StatusCode)}
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return nil, 0, &Error{Reason: ReasonContentType}
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, 0, &Error{Reason: ReasonContentType, Detail: "content-encoded"}
	}
	if resp.ContentLength > f.opts.MaxBytes {
		return nil, 0, &Error{Reason: ReasonTooLarge, Detail: "content-length " + strconv.FormatInt(resp.ContentLength, 10)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxBytes+1))
	if err == nil && ctx.Err() != nil {
		// The deadline fell while reading and the read still ended cleanly
		// (the server gave up too and closed its chunked body): what was read
		// is a truncated document, not the document.
		err = ctx.Err()
	}
	if err != nil {
		return nil, 0, transportError(ctx, err)
	}
	if int64(len(body)) > f.opts.MaxBytes {
		return nil, 0, &Error{Reason: ReasonTooLarge, Detail: "more than " + strconv.FormatInt(f.opts.MaxBytes, 10) + " bytes"}
	}
	return body, f.ttl(resp.Header), nil
}

// transportError classifies an error of the HTTP client: our own refusal of
// an address (from control), the timeout, or anything else as unreachable.
func transportError(ctx context.Context, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Reason: ReasonTimeout, Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Reason: ReasonTimeout, Err: err}
	}
	return &Error{Reason: ReasonUnreachable, Err: err}
}

// isJSON accepts application/json and application/<anything>+json (RFC 6839),
// with any parameters.
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// ttl is the freshness lifetime from Cache-Control (RFC 9111 §5.2.2:
// max-age less Age; no-store and no-cache mean as short as allowed), clamped
// to [MinTTL, MaxTTL]. Without a max-age the document lives MinTTL.
func (f *Fetcher) ttl(h http.Header) time.Duration {
	maxSecs := int64(f.opts.MaxTTL / time.Second)
	secs := int64(0)
	for _, line := range h.Values("Cache-Control") {
		for _, d := range strings.Split(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return f.opts.MinTTL
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
				if err == nil && n > 0 {
					secs = min(n, maxSecs)
				}
			}
		}
	}
	if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
		secs = max(secs-age, 0)
	}
	return min(max(time.Duration(secs)*time.Second, f.opts.MinTTL), f.opts.MaxTTL)
}

// store puts e in the cache, replacing the URL's previous entry, then evicts
// the least recently used entries until both bounds hold. f.mu is held.
func (f *Fetcher) store(e *entry) {
	if old := f.entries[e.url]; old != nil {
		f.remove(old)
	}
	e.elem = f.lru.PushFront(e)
	f.entries[e.url] = e
	f.bytes += e.size()
	for len(f.entries) > f.opts.MaxEntries || f.bytes > f.opts.MaxCacheBytes {
		f.remove(f.lru.Back().Value.(*entry))
	}
}

func (f *Fetcher) remove(e *entry) {
	f.lru.Remove(e.elem)
	delete(f.entries, e.url)
	f.bytes -= e.size()
}

// size is what an entry counts against MaxCacheBytes: its key too, since a
// URL may be as long as MaxURLLength.
func (e *entry) size() int64 { return int64(len(e.url) + len(e.body)) }

func clone(b []byte) []byte { return append([]byte(nil), b...) }
