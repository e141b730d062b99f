package dashboard_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/admin/dashboard"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
	"github.com/blnkfinance/blnk-auth-gateway/internal/throttle"
)

const (
	masterKey = "master-key-0123456789abcdef-0123456789"
	host      = "gw.example"
	origin    = "http://" + host
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// instance is one gateway instance: its own backend (cache, change feed) on
// the shared database, and the dashboard over the admin API.
type instance struct {
	backend *backend.Backend
	svc     *admin.Service
	h       http.Handler
}

type fixture struct {
	db    backend.Database
	clock *clock
	a, b  *instance              // two instances on one database
	logs  *observer.ObservedLogs // what the dashboards logged
	log   *zap.Logger
}

// logged is everything the dashboards logged, as text.
func (f *fixture) logged() string {
	var b strings.Builder
	for _, e := range f.logs.All() {
		b.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// forEachStore runs test on PostgreSQL and on the embedded SQLite file.
func forEachStore(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Parallel()
	for _, kind := range []string{"postgres", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var db backend.Database
			if kind == "postgres" {
				db.Postgres = testdb.New(t)
			} else {
				db.SQLitePath = filepath.Join(t.TempDir(), "gateway.db")
			}
			core, logs := observer.New(zapcore.DebugLevel)
			f := &fixture{db: db, clock: &clock{t: time.Now()}, logs: logs, log: zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))}
			f.a, f.b = f.instance(t), f.instance(t)
			test(t, f)
		})
	}
}

func (f *fixture) instance(t *testing.T) *instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := f.db.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New(st, clientcache.Config{}, zaptest.NewLogger(t))
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(); st.Close() })
	svc := &admin.Service{Store: st, Invalidate: b.Clients.Invalidate, Now: f.clock.Now}
	api := admin.NewHandler(admin.HandlerConfig{Service: svc, MasterKey: masterKey})
	h := dashboard.New(dashboard.Config{
		API: api, Store: st, Clients: b.Clients, MasterKey: masterKey, Now: f.clock.Now,
		MountPath: func(*http.Request) string { return "/admin" },
		Logger:    f.log,
	})
	return &instance{backend: b, svc: svc, h: h}
}

func (f *fixture) create(t *testing.T, typ store.Type, scopes ...string) *admin.Created {
	t.Helper()
	c, err := f.a.svc.Create(t.Context(), admin.CLI, admin.CreateParams{Name: "dash " + strings.Join(scopes, " "), Type: typ, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// browser is a same-origin page's fetch: the cookie it was given and the
// headers a browser adds.
type browser struct {
	t      *testing.T
	cookie *http.Cookie
	csrf   string
}

type reply struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func (br *browser) do(h http.Handler, method, path, body string, hdr ...string) reply {
	br.t.Helper()
	r := httptest.NewRequest(method, origin+path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		r.Header.Set("Origin", origin)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		if br.csrf != "" {
			r.Header.Set(dashboard.CSRFHeader, br.csrf)
		}
	}
	if br.cookie != nil {
		r.AddCookie(&http.Cookie{Name: br.cookie.Name, Value: br.cookie.Value})
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			r.Header.Del(hdr[i])
		} else {
			r.Header.Set(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	out := reply{status: res.StatusCode, header: res.Header, body: string(b)}
	_ = json.Unmarshal(b, &out.json)
	return out
}

// signIn opens a session with body and checks the cookie's attributes.
func signIn(t *testing.T, h http.Handler, body string) *browser {
	t.Helper()
	br := &browser{t: t}
	rep := br.do(h, http.MethodPost, "/ui/session", body)
	if rep.status != http.StatusOK {
		t.Fatalf("sign-in with %s: %d %s", body, rep.status, rep.body)
	}
	cookies := (&http.Response{Header: rep.header}).Cookies()
	if len(cookies) != 1 || cookies[0].Name != dashboard.CookieName {
		t.Fatalf("sign-in set cookies %v, want one %s", cookies, dashboard.CookieName)
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/admin/" || c.MaxAge <= 0 || len(c.Value) < 43 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over http, Path=/admin/, a lifetime, a 256-bit token", c)
	}
	if strings.Contains(rep.body, c.Value) {
		t.Fatal("the sign-in answer repeats the session token outside the HttpOnly cookie")
	}
	csrf, _ := rep.json["csrf_token"].(string)
	if csrf == "" {
		t.Fatalf("sign-in answer without csrf_token: %s", rep.body)
	}
	br.cookie, br.csrf = c, csrf
	return br
}

func wantStatus(t *testing.T, rep reply, status int, what string) {
	t.Helper()
	if rep.status != status {
		t.Fatalf("%s: %d %s, want %d", what, rep.status, rep.body, status)
	}
}

// TestMasterKeySession: the master key is exchanged once for a session; the
// session reaches the API's own handlers; changes need the CSRF token and a
// same-origin request; sign-out ends the session for good. Only the token's
// hash is stored.
func TestMasterKeySession(t *testing.T) {
	forEachStore(t, func(t *testing.T, f *fixture) {
		br := signIn(t, f.a.h, `{"master_key":"`+masterKey+`"}`)
		rep := br.do(f.a.h, http.MethodGet, "/ui/session", "")
		wantStatus(t, rep, http.StatusOK, "GET /ui/session")
		if rep.json["actor"] != "master_key" || rep.json["can_write"] != true || rep.json["csrf_token"] != br.csrf || strings.Contains(rep.body, masterKey) {
			t.Fatalf("session view %s", rep.body)
		}
		// The store knows the token's hash, never the token, and nothing
		// that would let a copy of it test guesses of the master key.
		stored, err := f.a.backend.Store.GetSession(t.Context(), credential.HashOf(br.cookie.Value))
		if err != nil {
			t.Fatalf("session not stored under the hash of its token: %v", err)
		}
		if sum := sha256.Sum256([]byte(masterKey)); stored.CredentialHash == credential.Hash(sum) || stored.CredentialHash == credential.HashOf(masterKey) {
			t.Fatal("the session row holds a hash of the master key alone")
		}

		wantStatus(t, br.do(f.a.h, http.MethodGet, "/clients", ""), http.StatusOK, "list with a session")
		// Signing in again from the same browser replaces the session.
		again := &browser{t: t, cookie: br.cookie}
		rep = again.do(f.a.h, http.MethodPost, "/ui/session", `{"master_key":"`+masterKey+`"}`)
		wantStatus(t, rep, http.StatusOK, "signing in again")
		if _, err := f.a.backend.Store.GetSession(t.Context(), credential.HashOf(br.cookie.Value)); err != store.ErrNoSession {
			t.Fatalf("the replaced session is still stored: %v", err)
		}
		br = signIn(t, f.a.h, `{"master_key":"`+masterKey+`"}`)
		create := `{"name":"From the page","type":"oauth","scopes":["mcp:read"],"expires_at":null}`
		wantStatus(t, br.do(f.a.h, http.MethodPost, "/clients", create, dashboard.CSRFHeader, ""), http.StatusForbidden, "create without the CSRF token")
		wantStatus(t, br.do(f.a.h, http.MethodPost, "/clients", create, dashboard.CSRFHeader, br.csrf+"x"), http.StatusForbidden, "create with a wrong CSRF token")
		wantStatus(t, br.do(f.a.h, http.MethodPost, "/clients", create, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden, "create from another site")
		wantStatus(t, br.do(f.a.h, http.MethodPost, "/clients", create, "Sec-Fetch-Site", "", "Origin", "http://evil.example"), http.StatusForbidden, "create from another origin")
		wantStatus(t, br.do(f.a.h, http.MethodPost, "/clients", create, "Sec-Fetch-Site", "", "Origin", ""), http.StatusForbidden, "create without Origin or Sec-Fetch-Site")
		wantStatus(t, br.do(f.a.h, http.MethodPost, "/clients", create, "Authorization", "Bearer x"), http.StatusBadRequest, "a session and a credential")
		rep = br.do(f.a.h, http.MethodPost, "/clients", create, "Sec-Fetch-Site", "", "Origin", origin)
		wantStatus(t, rep, http.StatusCreated, "create from the page (Origin only)")
		if rep.json["client_secret"] == nil {
			t.Fatalf("create answer without the secret: %s", rep.body)
		}
		ev, _, err := f.a.svc.Audit(t.Context(), admin.AuditParams{})
		if err != nil || len(ev) == 0 || ev[0].Actor != admin.MasterActor {
			t.Fatalf("audit after a create from the page: %+v %v, want actor %s", ev, err, admin.MasterActor)
		}

		// Sign-out: CSRF-checked, then gone on every instance.
		wantStatus(t, br.do(f.a.h, http.MethodDelete, "/ui/session", "", dashboard.CSRFHeader, ""), http.StatusForbidden, "sign-out without the CSRF token")
		rep = br.do(f.a.h, http.MethodDelete, "/ui/session", "")
		wantStatus(t, rep, http.StatusNoContent, "sign-out")
		if c := (&http.Response{Header: rep.header}).Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
			t.Fatalf("sign-out cookies %v, want the session cookie cleared", c)
		}
		wantStatus(t, br.do(f.a.h, http.MethodGet, "/clients", ""), http.StatusUnauthorized, "list after sign-out")
		wantStatus(t, br.do(f.b.h, http.MethodGet, "/clients", ""), http.StatusUnauthorized, "list after sign-out, other instance")
	})
}

// TestSignIn: the credentials that open a session, and those that do not.
func TestSignIn(t *testing.T) {
	forEachStore(t, func(t *testing.T, f *fixture) {
		oauth := f.create(t, store.TypeOAuth, admin.ScopeRead, admin.ScopeWrite)
		key := f.create(t, store.TypeAPIKey, admin.ScopeRead)
		mcp := f.create(t, store.TypeOAuth, "mcp:read")
		anon := &browser{t: t}
		for _, tc := range []struct {
			body   string
			status int
			hdr    []string
		}{
			{`{"master_key":"wrong-wrong-wrong-wrong-wrong-wrong-wrong"}`, http.StatusUnauthorized, nil},
			{`{"client_id":"` + oauth.Client.ID + `","client_secret":"` + key.Secret + `"}`, http.StatusUnauthorized, nil},
			{`{"api_key":"` + oauth.Secret + `"}`, http.StatusUnauthorized, nil},
			{`{"client_id":"` + mcp.Client.ID + `","client_secret":"` + mcp.Secret + `"}`, http.StatusForbidden, nil},
			{`{"master_key":"` + masterKey + `","api_key":"` + key.Secret + `"}`, http.StatusBadRequest, nil},
			{`{"master_key":"` + masterKey + `","extra":1}`, http.StatusBadRequest, nil},
			{`{}`, http.StatusBadRequest, nil},
			{`{"master_key":"` + masterKey + `"}`, http.StatusForbidden, []string{"Sec-Fetch-Site", "cross-site"}},
			{`{"master_key":"` + masterKey + `"}`, http.StatusForbidden, []string{"Sec-Fetch-Site", "", "Origin", ""}},
			{`{"master_key":"` + masterKey + `"}`, http.StatusUnsupportedMediaType, []string{"Content-Type", "text/plain"}},
		} {
			rep := anon.do(f.a.h, http.MethodPost, "/ui/session", tc.body, tc.hdr...)
			if rep.status != tc.status || rep.json["error"] == nil || rep.header.Get("Set-Cookie") != "" {
				t.Errorf("sign-in %s %v: %d %s, want %d with a JSON error and no cookie", tc.body, tc.hdr, rep.status, rep.body, tc.status)
			}
		}

		// An OAuth client's ID and secret; it may create.
		br := signIn(t, f.a.h, `{"client_id":"`+oauth.Client.ID+`","client_secret":"`+oauth.Secret+`"}`)
		rep := br.do(f.a.h, http.MethodPost, "/clients", `{"name":"by oauth","scopes":["`+admin.ScopeRead+`"]}`)
		wantStatus(t, rep, http.StatusCreated, "create by an OAuth client's session")
		ev, _, err := f.a.svc.Audit(t.Context(), admin.AuditParams{})
		if err != nil || len(ev) == 0 || ev[0].Actor != oauth.Client.ID {
			t.Fatalf("audit: %+v %v, want the session's client as actor", ev, err)
		}
		// A read-only API key: it lists, and the API refuses its changes.
		ro := signIn(t, f.a.h, `{"api_key":"`+key.Secret+`"}`)
		rep = ro.do(f.a.h, http.MethodGet, "/ui/session", "")
		if rep.json["can_read"] != true || rep.json["can_write"] != false || rep.json["can_delete"] != false || rep.json["name"] != key.Client.Name || rep.json["type"] != "api_key" {
			t.Fatalf("read-only session view: %s", rep.body)
		}
		wantStatus(t, ro.do(f.a.h, http.MethodGet, "/clients", ""), http.StatusOK, "list by a read-only session")
		wantStatus(t, ro.do(f.a.h, http.MethodPost, "/clients/"+mcp.Client.ID+"/revoke", ""), http.StatusForbidden, "revoke by a read-only session")

		// Sign-ins are logged with who and from where, never with a key or a session token.
		logs := f.logged()
		signIns := f.logs.FilterMessage("dashboard sign-in").FilterField(zap.String("actor", key.Client.ID))
		if signIns.Len() != 1 || signIns.All()[0].ContextMap()["source"] == "" {
			t.Errorf("want one sign-in line for %s with its source in:\n%s", key.Client.ID, logs)
		}
		for _, secret := range []string{masterKey, oauth.Secret, key.Secret, mcp.Secret, br.cookie.Value, ro.cookie.Value, br.csrf} {
			if strings.Contains(logs, secret) {
				t.Errorf("a key or session token reached the log:\n%s", logs)
			}
		}
	})
}

// TestSessionFollowsItsClient: a session is its client as the client is
// now, on every instance: revoking, narrowing, rolling past the grace period
// and deleting the client reach the other instance's sessions through the
// change feed, without any request to it.
func TestSessionFollowsItsClient(t *testing.T) {
	forEachStore(t, func(t *testing.T, f *fixture) {
		c := f.create(t, store.TypeOAuth, admin.ScopeRead, admin.ScopeWrite)
		br := signIn(t, f.a.h, `{"client_id":"`+c.Client.ID+`","client_secret":"`+c.Secret+`"}`)
		target := f.create(t, store.TypeOAuth, "mcp:read")
		revokeTarget := "/clients/" + target.Client.ID + "/revoke"
		wantStatus(t, br.do(f.b.h, http.MethodGet, "/clients", ""), http.StatusOK, "the session on the other instance")

		// Narrowed on instance B: instance A's session loses write.
		if _, err := f.b.svc.Update(t.Context(), admin.CLI, c.Client.ID, admin.UpdateParams{Scopes: &[]string{admin.ScopeRead}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool { return br.do(f.a.h, http.MethodPost, revokeTarget, "").status == http.StatusForbidden }, "narrowing reaches the session")
		wantStatus(t, br.do(f.a.h, http.MethodGet, "/clients", ""), http.StatusOK, "the narrowed session still reads")

		// Revoked on instance B: instance A's session ends.
		if _, err := f.b.svc.Revoke(t.Context(), admin.CLI, c.Client.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool { return br.do(f.a.h, http.MethodGet, "/clients", "").status == http.StatusUnauthorized }, "revocation ends the session")
		if _, err := f.a.backend.Store.GetSession(t.Context(), credential.HashOf(br.cookie.Value)); err != store.ErrNoSession {
			t.Fatalf("the ended session is still stored: %v", err)
		}

		// Rolled without grace: the session opened with the old secret ends;
		// with a grace period it lasts as long as the old secret does.
		d := f.create(t, store.TypeAPIKey, admin.ScopeRead)
		br = signIn(t, f.a.h, `{"api_key":"`+d.Secret+`"}`)
		if _, err := f.b.svc.RollSecret(t.Context(), admin.CLI, d.Client.ID, time.Hour); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // past the feed's delivery on both stores
		wantStatus(t, br.do(f.a.h, http.MethodGet, "/clients", ""), http.StatusOK, "a session within the roll's grace period")
		if _, err := f.b.svc.RollSecret(t.Context(), admin.CLI, d.Client.ID, 0); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool { return br.do(f.a.h, http.MethodGet, "/clients", "").status == http.StatusUnauthorized }, "a roll ends the session")

		// Deleted: gone.
		e := f.create(t, store.TypeOAuth, admin.ScopeRead)
		br = signIn(t, f.a.h, `{"client_id":"`+e.Client.ID+`","client_secret":"`+e.Secret+`"}`)
		if err := f.b.svc.Delete(t.Context(), admin.CLI, e.Client.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool { return br.do(f.a.h, http.MethodGet, "/ui/session", "").status == http.StatusUnauthorized }, "deletion ends the session")
	})
}

// TestSessionTimeouts: idle and absolute timeouts, whatever the instance.
func TestSessionTimeouts(t *testing.T) {
	forEachStore(t, func(t *testing.T, f *fixture) {
		br := signIn(t, f.a.h, `{"master_key":"`+masterKey+`"}`)
		for range 30 { // 15 hours of activity every 29 minutes, across instances
			f.clock.Add(29 * time.Minute)
			if rep := br.do(f.b.h, http.MethodGet, "/ui/session", ""); rep.status != http.StatusOK {
				if f.clock.Now().Sub(time.Now()) < dashboard.DefaultLifetime-time.Minute {
					t.Fatalf("an active session ended after %v: %d %s", f.clock.Now().Sub(time.Now()).Round(time.Minute), rep.status, rep.body)
				}
				break
			}
			if f.clock.Now().Sub(time.Now()) > dashboard.DefaultLifetime+time.Minute {
				t.Fatal("a session outlived its absolute lifetime")
			}
		}
		idle := signIn(t, f.a.h, `{"master_key":"`+masterKey+`"}`)
		f.clock.Add(dashboard.DefaultIdleTimeout + time.Second)
		wantStatus(t, idle.do(f.a.h, http.MethodGet, "/clients", ""), http.StatusUnauthorized, "an idle session")
	})
}

// TestPageHeaders: the page, its assets and the API behind it are served
// with a strict CSP and no framing; the page has nothing inline.
func TestPageHeaders(t *testing.T) {
	forEachStore(t, func(t *testing.T, f *fixture) {
		anon := &browser{t: t}
		scripts := regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`)
		inline := regexp.MustCompile(`(?i)\son[a-z]+\s*=|\sstyle\s*=|<style|javascript:`)
		for _, p := range []string{"/", "/ui/app.js", "/ui/app.css", "/ui/icon.svg", "/clients"} {
			rep := anon.do(f.a.h, http.MethodGet, p, "")
			h := rep.header
			if h.Get("Content-Security-Policy") != dashboard.ContentSecurityPolicy || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("GET %s: headers %v", p, h)
			}
			if p == "/" {
				wantStatus(t, rep, http.StatusOK, "the page")
				if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(rep.body, `src="ui/app.js"`) {
					t.Errorf("the page: %s %q…", h.Get("Content-Type"), rep.body[:min(80, len(rep.body))])
				}
				if m := inline.FindString(rep.body); m != "" {
					t.Errorf("the page has inline script or style (CSP forbids it): %q", m)
				}
				tags := scripts.FindAllStringSubmatch(rep.body, -1)
				if len(tags) == 0 {
					t.Error("the page has no script")
				}
				for _, m := range tags {
					if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
						t.Errorf("the page has an inline script (CSP forbids it): %q", m[0])
					}
				}
			}
		}
		for _, directive := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(dashboard.ContentSecurityPolicy, directive) {
				t.Errorf("CSP lacks %s", directive)
			}
		}
		if strings.Contains(dashboard.ContentSecurityPolicy, "unsafe") || strings.Contains(dashboard.ContentSecurityPolicy, "http") {
			t.Errorf("CSP allows inline code or another origin: %s", dashboard.ContentSecurityPolicy)
		}
		// Without a session the API is as it was: a credential is required.
		wantStatus(t, anon.do(f.a.h, http.MethodGet, "/clients", ""), http.StatusUnauthorized, "the API without a credential")
		wantStatus(t, anon.do(f.a.h, http.MethodGet, "/clients", "", admin.MasterKeyHeader, masterKey), http.StatusOK, "the API with the master key")
		wantStatus(t, anon.do(f.a.h, http.MethodGet, "/ui/session", ""), http.StatusUnauthorized, "no session")
		wantStatus(t, anon.do(f.a.h, http.MethodGet, "/ui/nothing", ""), http.StatusNotFound, "an unknown page")
		wantStatus(t, anon.do(f.a.h, http.MethodPost, "/", ""), http.StatusMethodNotAllowed, "POST to the page")
		garbage := &browser{t: t, cookie: &http.Cookie{Name: dashboard.CookieName, Value: "not-a-token"}}
		wantStatus(t, garbage.do(f.a.h, http.MethodGet, "/clients", ""), http.StatusUnauthorized, "a made-up session cookie")
	})
}

// TestSecureCookieUnderTLS: under TLS the cookie is Secure.
func TestSecureCookieUnderTLS(t *testing.T) {
	forEachStore(t, func(t *testing.T, f *fixture) {
		r := httptest.NewRequest(http.MethodPost, "https://"+host+"/ui/session", strings.NewReader(`{"master_key":"`+masterKey+`"}`))
		r.TLS = &tls.ConnectionState{}
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Origin", "https://"+host)
		w := httptest.NewRecorder()
		f.a.h.ServeHTTP(w, r)
		c := w.Result().Cookies()
		if w.Code != http.StatusOK || len(c) != 1 || !c[0].Secure || !c[0].HttpOnly {
			t.Fatalf("sign-in under TLS: %d %v, want a Secure HttpOnly cookie", w.Code, c)
		}
	})
}

func eventually(t *testing.T, f func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMasterKeyChangeEndsSessions: a master-key session lasts only as long
// as that master key is configured: an instance with another master key, or
// none, refuses it.
func TestMasterKeyChangeEndsSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, f *fixture) {
		br := signIn(t, f.a.h, `{"master_key":"`+masterKey+`"}`)
		for _, key := range []string{"another-master-key-0123456789abcdef-01", ""} {
			other := dashboard.New(dashboard.Config{
				API:   admin.NewHandler(admin.HandlerConfig{Service: f.b.svc, MasterKey: key}),
				Store: f.b.backend.Store, Clients: f.b.backend.Clients, MasterKey: key, Now: f.clock.Now, Logger: f.log,
			})
			wantStatus(t, br.do(other, http.MethodGet, "/clients", ""), http.StatusUnauthorized, "a master-key session where the master key is "+map[bool]string{true: "removed", false: "changed"}[key == ""])
			br = signIn(t, f.a.h, `{"master_key":"`+masterKey+`"}`) // the refusal ended it everywhere
		}
		wantStatus(t, br.do(f.a.h, http.MethodGet, "/clients", ""), http.StatusOK, "the session where the master key is unchanged")
	})
}

// TestScopeChoices: the create form offers the configured scopes, else "*"
// first, the defaults and the scopes the routes ask for, once each.
func TestScopeChoices(t *testing.T) {
	forEachStore(t, func(t *testing.T, f *fixture) {
		for _, tc := range []struct {
			cfg   []string
			known []string
			want  string
		}{
			{nil, nil, "* api-keys:delete api-keys:read api-keys:write mcp:read mcp:write"},
			{nil, []string{"*", "ledgers:read", "mcp:read"}, "* api-keys:delete api-keys:read api-keys:write ledgers:read mcp:read mcp:write"},
			{[]string{"mcp:read", "*"}, []string{"ledgers:read"}, "mcp:read *"},
		} {
			h := dashboard.New(dashboard.Config{
				API: admin.NewHandler(admin.HandlerConfig{Service: f.a.svc}), Store: f.a.backend.Store, Clients: f.a.backend.Clients,
				MasterKey: masterKey, ScopeChoices: tc.cfg, KnownScopes: func() []string { return tc.known }, Now: f.clock.Now, Logger: f.log,
			})
			br := &browser{t: t}
			rep := br.do(h, http.MethodPost, "/ui/session", `{"master_key":"`+masterKey+`"}`)
			wantStatus(t, rep, http.StatusOK, "sign-in")
			var got []string
			for _, s := range rep.json["scope_choices"].([]any) {
				got = append(got, s.(string))
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("scope_choices with %v and routes %v = %v, want %s", tc.cfg, tc.known, got, tc.want)
			}
		}
	})
}

// deleteFails is a store whose DeleteSession fails, as one that lost its
// database does.
type deleteFails struct{ store.Store }

func (deleteFails) DeleteSession(context.Context, credential.Hash) error {
	return errors.New("database unreachable")
}

// TestSignOutStoreDown: a sign-out the store cannot record answers 503 and
// keeps the cookie, so the page does not say "signed out" of a session that
// still works; once the store is back, sign-out ends it.
func TestSignOutStoreDown(t *testing.T) {
	forEachStore(t, func(t *testing.T, f *fixture) {
		br := signIn(t, f.a.h, `{"master_key":"`+masterKey+`"}`)
		down := dashboard.New(dashboard.Config{
			API: admin.NewHandler(admin.HandlerConfig{Service: f.a.svc, MasterKey: masterKey}), Store: deleteFails{f.a.backend.Store},
			Clients: f.a.backend.Clients, MasterKey: masterKey, Now: f.clock.Now,
			MountPath: func(*http.Request) string { return "/admin" }, Logger: f.log,
		})
		rep := br.do(down, http.MethodDelete, "/ui/session", "")
		wantStatus(t, rep, http.StatusServiceUnavailable, "sign-out with the store down")
		if c := (&http.Response{Header: rep.header}).Cookies(); len(c) != 0 {
			t.Fatalf("cookies %v: the cookie was cleared of a session that still works", c)
		}
		wantStatus(t, br.do(f.a.h, http.MethodGet, "/clients", ""), http.StatusOK, "the session still works")
		wantStatus(t, br.do(f.a.h, http.MethodDelete, "/ui/session", ""), http.StatusNoContent, "sign-out")
		wantStatus(t, br.do(f.b.h, http.MethodGet, "/clients", ""), http.StatusUnauthorized, "after sign-out")
	})
}

// TestSignInThrottled: wrong keys at sign-in count against the address as at
// the admin API; past the budget even the right master key is refused with
// 429 and Retry-After, unjudged, while another address signs in.
func TestSignInThrottled(t *testing.T) {
	forEachStore(t, func(t *testing.T, f *fixture) {
		th := throttle.New(throttle.Config{AddressFailures: 3, Window: time.Minute})
		addr := "198.51.100.20"
		h := dashboard.New(dashboard.Config{
			API: admin.NewHandler(admin.HandlerConfig{Service: f.a.svc, MasterKey: masterKey}), Store: f.a.backend.Store,
			Clients: f.a.backend.Clients, MasterKey: masterKey, Now: f.clock.Now, Throttle: th,
			ClientIP:  func(r *http.Request) string { return r.Header.Get("X-Test-Addr") },
			MountPath: func(*http.Request) string { return "/admin" }, Logger: f.log,
		})
		br := &browser{t: t}
		for range 3 {
			rep := br.do(h, http.MethodPost, "/ui/session", `{"master_key":"`+strings.Repeat("w", 40)+`"}`, "X-Test-Addr", addr)
			wantStatus(t, rep, http.StatusUnauthorized, "a wrong master key")
		}
		rep := br.do(h, http.MethodPost, "/ui/session", `{"master_key":"`+masterKey+`"}`, "X-Test-Addr", addr)
		wantStatus(t, rep, http.StatusTooManyRequests, "the right master key from a throttled address")
		if rep.header.Get("Retry-After") == "" || len((&http.Response{Header: rep.header}).Cookies()) != 0 {
			t.Fatalf("429 without Retry-After, or with a session: %v", rep.header)
		}
		c := f.create(t, store.TypeAPIKey, "api-keys:read")
		rep = br.do(h, http.MethodPost, "/ui/session", `{"api_key":"`+c.Secret+`"}`, "X-Test-Addr", addr)
		wantStatus(t, rep, http.StatusTooManyRequests, "an API key from a throttled address")
		rep = br.do(h, http.MethodPost, "/ui/session", `{"master_key":"`+masterKey+`"}`, "X-Test-Addr", "198.51.100.21")
		wantStatus(t, rep, http.StatusOK, "the master key from another address")
	})
}
