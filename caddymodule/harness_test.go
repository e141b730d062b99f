package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

const testSecret = "test-secret-0123456789abcdef-0123456789"

// caddyMu serialises tests that run Caddy: Caddy's running config is process-wide.
var caddyMu sync.Mutex

// gateway is a real Caddy, in process, running the gateway in front of an
// upstream that records what it receives.
type testGateway struct {
	t        *testing.T
	dsn      string
	authURL  string // the issuer: blnk_oauth
	apiURL   string // blnk_auth + reverse_proxy
	upstream *recorder
	store    store.Store // an independent connection, like the CLI's
	svc      *admin.Service

	upstreamSrv                        *httptest.Server
	appExtra, extraConfig, globalExtra string
	apiSite                            string // the API site's address, with %d for its port
}

// recorder is the upstream: it answers 200 and remembers the last request's headers.
type recorder struct {
	mu       sync.Mutex
	last     http.Header
	lastBody string
	// lastLength and lastChunked: how the last request's body was framed.
	lastLength  int64
	lastChunked bool
	hits        int
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.last = r.Header.Clone()
	rec.lastBody = string(body)
	rec.lastLength, rec.lastChunked = r.ContentLength, slices.Contains(r.TransferEncoding, "chunked")
	rec.hits++
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "upstream saw %s %s", r.Method, r.URL.Path)
}

func (rec *recorder) body() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.lastBody
}

// framing is the last request's Content-Length (-1: none) and whether it
// came chunked.
func (rec *recorder) framing() (int64, bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.lastLength, rec.lastChunked
}

func (rec *recorder) hitCount() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.hits
}

func (rec *recorder) lastHeader() http.Header {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.last
}

// handedOut remembers the ports freePort gave, so that two calls never
// give the same port.
var (
	portsMu   sync.Mutex
	handedOut = map[int]bool{}
)

// freePort is a port for a server a test starts, found free by binding it.
// It is drawn below the kernel's ephemeral range (ip_local_port_range),
// from which outgoing connections take their local ports: a port from that
// range, free when checked, can become some connection's local port before
// Caddy binds it. No connection takes a port below the range, so between
// the check and Caddy's bind only another listener could: none of this
// process (handedOut), but another test process drawing from the same
// range (this package tested twice at once on a shared machine) can, rarely.
func freePort(t testing.TB) int {
	t.Helper()
	low, _ := ephemeralRange(t)
	const floor = 10000 // below: well-known and registered services' ports
	if low <= floor+1000 {
		t.Fatalf("the ephemeral port range starts at %d: no room below it for test servers", low)
	}
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := floor + rand.IntN(low-floor)
		if handedOut[port] {
			continue
		}
		if !bindable(port) {
			continue // taken
		}
		handedOut[port] = true
		return port
	}
	t.Fatal("no free port below the ephemeral range after 1000 tries")
	return 0
}

// bindable reports whether a server could bind port now, on any address:
// most test sites bind 127.0.0.1, but some bind every address, and a wildcard
// bind (IPv4 and IPv6 at once) fails on a port any listener holds, on
// whatever address; binding 127.0.0.1 would miss one on [::1] or on another
// interface.
func bindable(port int) bool {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// gatewayOptions tweak the generated Caddyfile.
type gatewayOptions struct {
	dsn         string // default: a fresh test database of the store kind
	store       string // "postgres" (default) or "sqlite"
	appExtra    string // more lines in the blnk_auth global block
	apiRoutes   string // replaces the default API site body
	authPort    int
	apiPort     int
	apiSite     string // the API site's address, with %d for the port; default http://127.0.0.1:%d
	noUpstream  bool
	extraConfig string // more sites
	globalExtra string // more global options
}

// startGateway runs Caddy with the gateway on a fresh database. Caddy stops
// when the test ends.
func startGateway(t *testing.T, o gatewayOptions) *testGateway {
	t.Helper()
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	if o.dsn == "" {
		o.dsn = newDatabase(t, o.store)
	}
	if o.authPort == 0 {
		o.authPort = freePort(t)
	}
	if o.apiPort == 0 {
		o.apiPort = freePort(t)
	}
	if o.apiSite == "" {
		// A host-named site: its routes' resource identifiers come from its
		// address (a site answering any host has none).
		o.apiSite = "http://127.0.0.1:%d"
	}
	g := &testGateway{t: t, dsn: o.dsn, upstream: &recorder{}, appExtra: o.appExtra, extraConfig: o.extraConfig, globalExtra: o.globalExtra, apiSite: o.apiSite}
	up := httptest.NewServer(g.upstream)
	t.Cleanup(up.Close)
	g.upstreamSrv = up
	g.authURL = fmt.Sprintf("http://127.0.0.1:%d", o.authPort)
	g.apiURL = fmt.Sprintf("http://127.0.0.1:%d", o.apiPort)
	routes := o.apiRoutes
	if routes == "" {
		routes = `
	blnk_auth /mcp* mcp:read
	blnk_auth /ledgers* ledgers:read
	blnk_auth /keys* {
		resource https://keys.example.com
	}
	reverse_proxy {upstream} {
		header_up X-Client-Id {http.auth.user.id}
		header_up X-Client-Name {http.auth.user.name}
		header_up X-Client-Scopes {http.auth.user.scopes}
	}`
	}
	cfg := g.caddyfile(o.authPort, o.apiPort, routes)
	g.load(cfg)
	t.Cleanup(func() { _ = stopCaddy() })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := openTestStore(ctx, o.dsn)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(st.Close)
	g.store = st
	g.svc = &admin.Service{Store: st}
	return g
}

// caddyfile renders the test config: blnk_oauth on authPort, routes on apiPort.
func (g *testGateway) caddyfile(authPort, apiPort int, routes string) string {
	routes = strings.ReplaceAll(routes, "{upstream}", strings.TrimPrefix(g.upstreamURL(), "http://"))
	return fmt.Sprintf(`{
	admin off
	auto_https off%s
	blnk_auth {
		database %s
		secret %s
		issuer %s%s
	}
}
http://:%d {
	bind 127.0.0.1
	blnk_oauth
	respond "not here" 404
}
%s {
	bind 127.0.0.1
	%s
}
%s
`, strings.ReplaceAll(indentLines(g.globalExtra), "\t\t", "\t"), g.dsn, testSecret, g.authURL, indentLines(g.appExtra), authPort, fmt.Sprintf(g.apiSite, apiPort), routes, g.extraConfig)
}

func indentLines(s string) string {
	if s == "" {
		return ""
	}
	return "\n\t\t" + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n\t\t")
}

func (g *testGateway) upstreamURL() string { return g.upstreamSrv.URL }

// stopCaddy stops the running config, if any.
func stopCaddy() error { return caddy.Stop() }

// load adapts a Caddyfile and runs it, replacing any running config.
func (g *testGateway) load(caddyfile string) {
	g.t.Helper()
	cfgJSON, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		g.t.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
	}
	for _, w := range warnings {
		g.t.Logf("caddyfile warning: %s", w)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		g.t.Fatalf("loading config: %v", err)
	}
}

// create makes a client through the admin service, as the CLI would.
func (g *testGateway) create(name string, typ store.Type, scopes []string, expires *time.Time) *admin.Created {
	g.t.Helper()
	c, err := g.svc.Create(context.Background(), admin.CLI, admin.CreateParams{Name: name, Type: typ, Scopes: scopes, ExpiresAt: expires})
	if err != nil {
		g.t.Fatalf("creating client: %v", err)
	}
	return c
}

// tokenResponse is a token endpoint answer, success or error.
type tokenResponse struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (g *testGateway) postToken(form url.Values, basicID, basicSecret string) tokenResponse {
	g.t.Helper()
	return g.postForm("/oauth/token", form, basicID, basicSecret)
}

func (g *testGateway) postIntrospect(form url.Values, basicID, basicSecret string) tokenResponse {
	g.t.Helper()
	return g.postForm("/oauth/introspect", form, basicID, basicSecret)
}

func (g *testGateway) postForm(path string, form url.Values, basicID, basicSecret string) tokenResponse {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.authURL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	return g.do(req)
}

func (g *testGateway) do(req *http.Request) tokenResponse {
	g.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := tokenResponse{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// token gets an access token with client_secret_basic, failing the test otherwise.
func (g *testGateway) token(id, secret string, extra url.Values) string {
	g.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range extra {
		form[k] = v
	}
	r := g.postToken(form, id, secret)
	if r.status != http.StatusOK {
		g.t.Fatalf("token request: %d %s", r.status, r.raw)
	}
	return r.body["access_token"].(string)
}

// call sends a GET to the API with the given headers.
func (g *testGateway) call(path string, headers ...string) tokenResponse {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.apiURL+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return g.do(req)
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// eventually polls f until it returns true or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if f() {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Store kinds the end-to-end tests run against.
const (
	kindPostgres = "postgres"
	kindSQLite   = "sqlite"
)

// forEachStore runs f once against PostgreSQL and once against the embedded store.
func forEachStore(t *testing.T, f func(t *testing.T, kind string)) {
	for _, kind := range []string{kindPostgres, kindSQLite} {
		t.Run(kind, func(t *testing.T) { f(t, kind) })
	}
}

// newDatabase returns the database setting of a fresh store of kind.
func newDatabase(t *testing.T, kind string) string {
	if kind == kindSQLite {
		return "sqlite://" + filepath.Join(t.TempDir(), "gateway.db")
	}
	return testdb.New(t)
}

// openTestStore opens a second, independent connection to the gateway's store.
func openTestStore(ctx context.Context, database string) (store.Store, error) {
	db, err := backend.ParseDatabase(database, "")
	if err != nil {
		return nil, err
	}
	if !db.Embedded() {
		db.Postgres = withAppName(db.Postgres, "blnk_auth_test")
	}
	return db.Open(ctx)
}

// withAppName sets the application_name of a postgres:// URL.
func withAppName(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func adminCLI() admin.Actor { return admin.CLI }

func updateScopes(scopes ...string) admin.UpdateParams { return admin.UpdateParams{Scopes: &scopes} }

// alterLast changes the last character of s to a different one (so the
// result never equals s, whatever s ends with).
func alterLast(s string) string {
	c := byte('x')
	if s[len(s)-1] == c {
		c = 'y'
	}
	return s[:len(s)-1] + string(c)
}
