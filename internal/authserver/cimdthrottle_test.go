package authserver_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientmetadata"
	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/throttle"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// TestClientMetadataFetchThrottled: a client_id URL is fetched only once the
// endpoint's throttle allows the caller (the callers' rules of safefetch, 5),
// and a document that cannot be used counts as a failed authentication: an
// address probing URLs through the authorization or token endpoint is soon
// refused (429 at the token endpoint, a page at the authorization endpoint)
// without another fetch.
func TestClientMetadataFetchThrottled(t *testing.T) {
	var hits atomic.Int32
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(docs.Close)
	opts := safefetch.Options{AllowPrivate: true, RootCAs: docs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	srv := throttledCIMDServer(t, opts)
	n := 0
	next := func() string { n++; return url.QueryEscape(docs.URL + "/probe/" + string(rune('a'+n)) + ".json") }
	for i := 0; i < 3; i++ {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/oauth/authorize?response_type=code&client_id="+next(), nil))
		if w.Code != http.StatusBadRequest {
			t.Fatalf("probe %d: %d", i, w.Code)
		}
	}
	before := hits.Load()
	if before != 3 {
		t.Fatalf("%d fetches for 3 probes", before)
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/oauth/authorize?response_type=code&client_id="+next(), nil))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Location") != "" {
		t.Errorf("authorization endpoint over the budget: %d %q, want 429 on a page", w.Code, w.Header().Get("Location"))
	}
	w = httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader("grant_type=authorization_code&code=x&code_verifier=y&client_id="+next()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	srv.ServeHTTP(w, r)
	if w.Code != http.StatusTooManyRequests {
		t.Errorf("token endpoint over the budget: %d %s, want 429", w.Code, w.Body.String())
	}
	if got := hits.Load(); got != before {
		t.Errorf("%d more fetches once the address was over its budget", got-before)
	}
}

// throttledCIMDServer is the authorization server with Client ID Metadata
// Documents fetched with opts, and a throttle of 3 failures per address.
func throttledCIMDServer(t *testing.T, opts safefetch.Options) *authserver.Server {
	t.Helper()
	f := newFixture(t, issuer)
	sealer, err := authcode.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	flow := &authcode.Flow{Sealer: sealer, Store: f.backend.Store, Issuer: issuer,
		Public: &authcode.PublicClients{Resolver: clientmetadata.NewResolver(opts), Scopes: scope.MustParse("mcp:*")}}
	u, _ := url.Parse(issuer)
	return authserver.New(authserver.Config{
		Issuer: u, Audience: issuer, Leeway: time.Second, Signer: f.signer, Verifier: f.verifier,
		Keys:     func() []*token.Key { return []*token.Key{f.key} },
		Decider:  &authn.Decider{Clients: f.backend.Clients, Verifier: f.verifier, Revoked: f.backend},
		Backend:  f.backend,
		Logger:   zaptest.NewLogger(t),
		Throttle: throttle.New(throttle.Config{AddressFailures: 3, Window: time.Hour}),
		Flow:     flow, ConsentURL: issuer + "/admin/authorize",
	})
}

// TestClientMetadataBusy: when the fetcher is at its limit of concurrent
// fetches (safefetch's busy), the authorization endpoint says to try again
// shortly (503 on a page, not 400 "unknown application") and the caller's
// address is not charged a failure: the gateway's load is not the caller's
// fault (the callers' rules of safefetch, 5).
func TestClientMetadataBusy(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		http.NotFound(w, r)
	}))
	t.Cleanup(docs.Close)
	t.Cleanup(func() { close(release) })
	opts := safefetch.Options{AllowPrivate: true, MaxConcurrent: 1, RootCAs: docs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	srv := throttledCIMDServer(t, opts)
	go func() {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/oauth/authorize?response_type=code&client_id="+url.QueryEscape(docs.URL+"/slow.json"), nil))
	}()
	<-started
	for i := 0; i < 4; i++ { // more than the throttle's 3 failures
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/oauth/authorize?response_type=code&client_id="+url.QueryEscape(docs.URL+"/other.json"), nil))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Location") != "" {
			t.Fatalf("busy fetcher, attempt %d: %d %q, want 503 on a page", i, w.Code, w.Header().Get("Location"))
		}
	}
}
