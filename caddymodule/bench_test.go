package caddymodule

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// benchHandler provisions the app and a blnk_auth handler requiring mcp:read
// outside of a running server, so ServeHTTP can be measured alone.
func benchHandler(b *testing.B, tokenCacheSize int64, opts ...func(*Auth)) (*Auth, *App, string) {
	b.Helper()
	return benchHandlerLimited(b, tokenCacheSize, nil, opts...)
}

// benchHandlerLimited is benchHandler with the client's own rate limit.
func benchHandlerLimited(b *testing.B, tokenCacheSize int64, limit *store.RateLimit, opts ...func(*Auth)) (*Auth, *App, string) {
	b.Helper()
	dsn := testdb.New(b)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	a := &App{Database: dsn, Secret: testSecret, Issuer: "https://auth.example.com", TokenCacheSize: tokenCacheSize}
	if err := a.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Cleanup() })
	h := &Auth{Scopes: []string{"mcp:read"}, decisions: zap.NewNop()} // off, as at a running server's INFO level
	for _, o := range opts {
		o(h)
	}
	if err := h.provision(ctx, a); err != nil {
		b.Fatal(err)
	}
	c, err := a.Service().Create(context.Background(), admin.CLI, admin.CreateParams{Name: "bench", Scopes: []string{"mcp:read", "mcp:write"}, RateLimit: limit})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := a.keyring.Issue(c.Client.ID, scope.MustParse("mcp:read"), a.audience, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	// Wait for the change feed to be synced, so cached entries are trusted.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := a.backend.Clients.Get(context.Background(), c.Client.ID); err != nil {
			b.Fatal(err)
		}
		a.backend.Clients.Wait()
		if hits, _ := a.backend.Clients.Stats(); hits > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return h, a, tok.Token
}

type nopHandler struct{}

func (nopHandler) ServeHTTP(http.ResponseWriter, *http.Request) error { return nil }

// benchServe measures ServeHTTP with a valid token. Each iteration puts the
// Authorization header back and clears the request variables, as a new
// request would have them; Caddy's own per-request setup is not counted.
func benchServe(b *testing.B, tokenCacheSize int64) { benchServeLimited(b, tokenCacheSize, nil) }

// benchServeLimited is benchServe with the client's own rate limit and the
// handler options.
func benchServeLimited(b *testing.B, tokenCacheSize int64, limit *store.RateLimit, opts ...func(*Auth)) {
	h, _, tok := benchHandlerLimited(b, tokenCacheSize, limit, opts...)
	r := httptest.NewRequest(http.MethodGet, "/mcp", nil)
	repl := caddy.NewReplacer()
	vars := map[string]any{}
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, vars)
	r = r.WithContext(ctx)
	w := httptest.NewRecorder()
	authz := []string{"Bearer " + tok}
	// Warm both caches.
	for i := 0; i < 3; i++ {
		r.Header["Authorization"] = authz
		clear(vars)
		if err := h.ServeHTTP(w, r, nopHandler{}); err != nil || w.Code != 200 {
			b.Fatalf("warm-up: %v %d %s", err, w.Code, w.Body)
		}
		time.Sleep(20 * time.Millisecond) // ristretto applies Sets asynchronously
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.Header["Authorization"] = authz
		delete(vars, passVar)
		_ = h.ServeHTTP(w, r, nopHandler{})
	}
	b.StopTimer()
	if w.Code != 200 || r.Header.Get("Authorization") != "" {
		b.Fatalf("last request: %d", w.Code)
	}
}

// BenchmarkServeHTTPCached: a valid token already verified once, its client cached.
func BenchmarkServeHTTPCached(b *testing.B) { benchServe(b, 0) }

// benchLimit allows more than a benchmark asks in a second (at most 1M+1M): it measures what
// taking from a bucket costs.
var benchLimit = &store.RateLimit{Requests: 1_000_000, Per: time.Second, Burst: 1_000_000}

// BenchmarkServeHTTPCachedRateLimit: BenchmarkServeHTTPCached for a client
// with its own rate limit (one bucket per request).
func BenchmarkServeHTTPCachedRateLimit(b *testing.B) { benchServeLimited(b, 0, benchLimit) }

// BenchmarkServeHTTPCachedRateLimitRoute: the same with a route rate_limit
// as well (both buckets per request).
func BenchmarkServeHTTPCachedRateLimitRoute(b *testing.B) {
	benchServeLimited(b, 0, benchLimit, func(h *Auth) {
		h.RateLimit = &RouteRateLimit{Requests: benchLimit.Requests, Per: caddy.Duration(time.Second), Burst: benchLimit.Burst}
	})
}

// BenchmarkServeHTTPVerify: the same with the verified-token cache off, so
// every request checks the ES256 signature.
func BenchmarkServeHTTPVerify(b *testing.B) { benchServe(b, -1) }

// BenchmarkServeHTTPParallel: the cached path from every core at once.
func BenchmarkServeHTTPParallel(b *testing.B) {
	h, _, tok := benchHandler(b, 0)
	authz := []string{"Bearer " + tok}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest(http.MethodGet, "/mcp", nil)
		vars := map[string]any{}
		ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
		r = r.WithContext(context.WithValue(ctx, caddyhttp.VarsCtxKey, vars))
		w := httptest.NewRecorder()
		for pb.Next() {
			r.Header["Authorization"] = authz
			delete(vars, passVar)
			_ = h.ServeHTTP(w, r, nopHandler{})
		}
	})
}

// BenchmarkTokenEndpoint: one client_credentials request through the
// blnk_oauth handler (form parsing, Basic decoding, cached client, secret
// hash, scope check, ES256 signing, response), without the HTTP server.
func BenchmarkTokenEndpoint(b *testing.B) {
	_, a, _ := benchHandler(b, 0)
	o := &OAuth{server: a.authServer(a.logger)}
	c, err := a.Service().Create(context.Background(), admin.CLI, admin.CreateParams{Name: "bench token", Scopes: []string{"mcp:read"}})
	if err != nil {
		b.Fatal(err)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Client.ID+":"+c.Secret))
	body := "grant_type=client_credentials&scope=mcp%3Aread"
	serve := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, authserver.TokenPath, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", basic)
		w := httptest.NewRecorder()
		_ = o.ServeHTTP(w, r, nopHandler{})
		return w
	}
	for i := 0; i < 3; i++ {
		if w := serve(); w.Code != 200 {
			b.Fatalf("warm-up: %d %s", w.Code, w.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
}

// BenchmarkServeHTTPMCP: the cached path on an MCP mount, where the JSON-RPC
// method (here tools/list in the body) decides the scope. Each iteration
// also makes a new body reader, as a new request would have.
func BenchmarkServeHTTPMCP(b *testing.B) {
	h, _, tok := benchHandler(b, 0, func(h *Auth) { h.MCP = &MCP{} })
	body := []byte(`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{}}`)
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	r.Header.Set("Content-Type", "application/json")
	vars := map[string]any{}
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	r = r.WithContext(context.WithValue(ctx, caddyhttp.VarsCtxKey, vars))
	w := httptest.NewRecorder()
	authz := []string{"Bearer " + tok}
	serve := func() {
		r.Header["Authorization"] = authz
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		delete(vars, passVar)
		_ = h.ServeHTTP(w, r, nopHandler{})
	}
	for i := 0; i < 3; i++ {
		serve()
		if w.Code != 200 {
			b.Fatalf("warm-up: %d %s", w.Code, w.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
}
