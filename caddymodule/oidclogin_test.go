package caddymodule

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/blnkfinance/blnk-auth-gateway/admin/dashboard"
	"github.com/blnkfinance/blnk-auth-gateway/internal/oidclogin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// The sign-in tests run a real OpenID provider in process: zitadel/oidc's
// example provider (its op package, in-memory storage and login form), on
// a loopback port, with people of our choosing. Its own code decides
// everything a provider decides; the test only adds a "groups" claim to
// what its UserInfo endpoint says, and, to play a provider gone wrong,
// re-signs the ID token it issued (with its own key, or another) after
// changing a claim.

const (
	oidcClientID     = "blnk-gateway"
	oidcClientSecret = "provider-secret-of-the-gateway"
	oidcPassword     = "correct horse battery"
)

// testProvider is the provider and its knobs.
type testProvider struct {
	issuer  string
	storage *groupStorage

	mu     sync.Mutex
	tamper func(claims map[string]any) // changes the next ID tokens' claims
	badKey bool                        // and signs them with a key of no one's
}

// groupStorage is the example storage with a groups claim at UserInfo.
type groupStorage struct {
	*storage.Storage
	groups map[string][]string // by user ID
}

func (s *groupStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	if g, ok := s.groups[ui.Subject]; ok {
		ui.AppendClaims("groups", g)
	}
	return nil
}

// oidcUser is one person at the provider.
type oidcUser struct {
	id, email string
	verified  bool
	groups    []string
}

var oidcUsers = []oidcUser{
	{"id-alice", "alice@example.com", true, []string{"gateway-admins", "mcp-users"}},
	{"id-dave", "Dave@Example.com", true, nil},
	{"id-bob", "bob@other.org", true, []string{"gateway-admins"}},
	{"id-carol", "carol@example.com", false, []string{"gateway-admins"}},
	{"id-erin", "erin@partner.org", true, []string{"mcp-users"}},
}

// startProvider runs the provider on a free loopback port, its gateway
// client registered with redirectURI.
func startProvider(t *testing.T, redirectURI string) *testProvider {
	t.Helper()
	return startProviderAt(t, redirectURI, freePort(t))
}

// startProviderAt runs the provider on port.
func startProviderAt(t *testing.T, redirectURI string, port int) *testProvider {
	t.Helper()
	return startProviderOn(t, redirectURI, "127.0.0.1", port)
}

// startProviderOn runs the provider on port of the loopback interface,
// known by host in its issuer (localhost: another site than 127.0.0.1, as
// a real provider is another site than the gateway).
func startProviderOn(t *testing.T, redirectURI, host string, port int) *testProvider {
	t.Helper()
	issuer := fmt.Sprintf("http://%s:%d", host, port)
	users := map[string]*storage.User{}
	groups := map[string][]string{}
	for _, u := range oidcUsers {
		users[u.id] = &storage.User{ID: u.id, Username: u.email, Password: oidcPassword, FirstName: "Test", LastName: u.id, Email: u.email, EmailVerified: u.verified}
		groups[u.id] = u.groups
	}
	b, _ := json.Marshal(users)
	file := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	us, err := storage.StoreFromFile(file)
	if err != nil {
		t.Fatal(err)
	}
	st := storage.NewStorageWithClients(us, map[string]*storage.Client{
		oidcClientID: storage.WebClient(oidcClientID, oidcClientSecret, redirectURI),
	})
	p := &testProvider{issuer: issuer, storage: &groupStorage{Storage: st, groups: groups}}
	router := exampleop.SetupServer(issuer, p.storage, nil, false)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: p.wrap(router)}}
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// wrap lets the test change the ID token of the token endpoint's answer.
func (p *testProvider) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		tamper, badKey := p.tamper, p.badKey
		p.mu.Unlock()
		if r.URL.Path != "/oauth/token" || tamper == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var body map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		raw, _ := body["id_token"].(string)
		parts := strings.Split(raw, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		if len(parts) != 3 || err != nil || json.Unmarshal(payload, &claims) != nil {
			http.Error(w, "test provider: cannot read its own ID token", http.StatusInternalServerError)
			return
		}
		tamper(claims)
		key, err := p.storage.SigningKey(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if badKey {
			rk, _ := rsa.GenerateKey(rand.Reader, 2048)
			key = otherKey{id: key.ID(), key: rk} // the provider's key ID, not its key
		}
		signer, err := op.SignerFromKey(key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if body["id_token"], err = crypto.Sign(claims, signer); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
}

type otherKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k otherKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k otherKey) Key() any                                    { return k.key }
func (k otherKey) ID() string                                  { return k.id }

func (p *testProvider) setTamper(f func(map[string]any), badKey bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tamper, p.badKey = f, badKey
}

// browser is a cookie-keeping HTTP client that stops at the gateway's
// callback, so the test decides when (and how often) to take it.
type httpBrowser struct {
	t        *testing.T
	client   *http.Client
	provider string // where its login form posts
}

func newOIDCBrowser(t *testing.T, provider string) *httpBrowser {
	jar, _ := cookiejar.New(nil)
	b := &httpBrowser{t: t, provider: provider}
	b.client = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		// Stop before the callback, and at the callback's own answer.
		if strings.HasSuffix(req.URL.Path, "/ui/oidc/callback") || strings.HasSuffix(via[len(via)-1].URL.Path, "/ui/oidc/callback") || len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

type navResult struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *httpBrowser) get(u string, hdr ...string) navResult {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

func (b *httpBrowser) do(req *http.Request) navResult {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return navResult{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body), header: resp.Header}
}

var loginFormID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signInAtProvider starts a sign-in at the gateway (with next, if any),
// fills in the provider's login form as email and returns the callback URL
// the provider sends the browser to, not yet followed.
func (b *httpBrowser) signInAtProvider(dashboardURL, next, email string) *url.URL {
	b.t.Helper()
	start := dashboardURL + "ui/oidc/start"
	if next != "" {
		start += "?next=" + url.QueryEscape(next)
	}
	form := b.get(start)
	m := loginFormID.FindStringSubmatch(form.body)
	if form.status != http.StatusOK || m == nil {
		b.t.Fatalf("the provider's login form did not come: %d %s", form.status, form.body)
	}
	resp, err := b.client.PostForm(b.provider+"/login/username", url.Values{"id": {m[1]}, "username": {email}, "password": {oidcPassword}})
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || err != nil || !strings.HasSuffix(loc.Path, "/ui/oidc/callback") {
		b.t.Fatalf("the provider did not send the browser back to the gateway: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc
}

// session asks the dashboard who is signed in.
func (b *httpBrowser) session(dashboardURL string) (int, map[string]any) {
	b.t.Helper()
	p := b.get(dashboardURL + "ui/session")
	var v map[string]any
	_ = json.Unmarshal([]byte(p.body), &v)
	return p.status, v
}

func setsSessionCookie(p navResult) bool {
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, dashboard.CookieName+"=") && !strings.HasPrefix(c, dashboard.CookieName+"=;") {
			return true
		}
	}
	return false
}

// TestOIDCSignIn: people sign in to the dashboard through a real OpenID
// provider, on both stores, and only as the rules allow; the session names
// them, gives them the scopes their groups map to, and audit entries of
// their changes name them. Forged, replayed or tampered answers, wrong
// people and open redirects are refused.
func TestOIDCSignIn(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		authPort, apiPort := freePort(t), freePort(t)
		dash := fmt.Sprintf("http://127.0.0.1:%d/admin/", apiPort)
		p := startProvider(t, dash+"ui/oidc/callback")
		login := func(domain string) string {
			return `
login oidc {
	issuer ` + p.issuer + `
	client_id ` + oidcClientID + `
	client_secret ` + oidcClientSecret + `
	name "Example SSO"
	allowed_domains ` + domain + `
	allowed_emails erin@partner.org
	grant gateway-admins api-keys:read api-keys:write
	grant mcp-users mcp:read mcp:write
	default_grant ledgers:read
}`
		}
		metricsPort := freePort(t)
		g := startGateway(t, gatewayOptions{store: kind, authPort: authPort, apiPort: apiPort, apiRoutes: dashboardRoutes, appExtra: login("example.com"),
			extraConfig: fmt.Sprintf("http://:%d {\n\tbind 127.0.0.1\n\tmetrics\n}", metricsPort)})

		t.Run("options", func(t *testing.T) {
			b := newOIDCBrowser(t, p.issuer)
			o := b.get(dash + "ui/sign-in")
			if o.status != http.StatusOK || !strings.Contains(o.body, `"name":"Example SSO"`) || !strings.Contains(o.body, `"start":"ui/oidc/start"`) {
				t.Fatalf("sign-in options = %d %s", o.status, o.body)
			}
		})

		t.Run("signs in, names the person, maps groups, audits, signs out", func(t *testing.T) {
			b := newOIDCBrowser(t, p.issuer)
			cb := b.signInAtProvider(dash, "/admin/?from=authorize", "alice@example.com")
			r := b.get(cb.String())
			if r.status != http.StatusSeeOther || r.location != "/admin/?from=authorize" || !setsSessionCookie(r) {
				t.Fatalf("callback = %d to %q (session cookie %v): %s", r.status, r.location, setsSessionCookie(r), r.body)
			}
			status, v := b.session(dash)
			wantID := dashboard.PersonID(p.issuer, "id-alice")
			if status != http.StatusOK || v["actor"] != wantID || v["name"] != "alice@example.com" || v["type"] != "person" ||
				fmt.Sprint(v["scopes"]) != "[api-keys:read api-keys:write ledgers:read mcp:read mcp:write]" ||
				v["can_read"] != true || v["can_write"] != true || v["can_delete"] != false {
				t.Fatalf("GET ui/session = %d %v", status, v)
			}
			// A change made in the session is the person's in the audit log.
			req, _ := http.NewRequest(http.MethodPost, dash+"clients", strings.NewReader(`{"name":"made by alice","type":"oauth","scopes":["mcp:read"]}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", strings.TrimSuffix(dash, "/admin/"))
			req.Header.Set(dashboard.CSRFHeader, v["csrf_token"].(string))
			if c := b.do(req); c.status != http.StatusCreated {
				t.Fatalf("creating a client in the session: %d %s", c.status, c.body)
			}
			events, err := g.store.ListAudit(context.Background(), store.AuditFilter{Limit: 10})
			if err != nil || len(events) == 0 || events[0].Action != store.ActionCreate || events[0].Actor != wantID {
				t.Fatalf("audit = %+v, %v; want the create by %s", events, err, wantID)
			}
			// What the rules do not give is refused.
			req, _ = http.NewRequest(http.MethodPost, dash+"clients", strings.NewReader(`{"name":"too much","type":"oauth","scopes":["*"]}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", strings.TrimSuffix(dash, "/admin/"))
			req.Header.Set(dashboard.CSRFHeader, v["csrf_token"].(string))
			if c := b.do(req); c.status != http.StatusForbidden {
				t.Fatalf("creating a client with more than the person may grant: %d %s", c.status, c.body)
			}
			// Signing out ends the session.
			req, _ = http.NewRequest(http.MethodDelete, dash+"ui/session", nil)
			req.Header.Set("Origin", strings.TrimSuffix(dash, "/admin/"))
			req.Header.Set(dashboard.CSRFHeader, v["csrf_token"].(string))
			if c := b.do(req); c.status != http.StatusNoContent {
				t.Fatalf("sign-out: %d %s", c.status, c.body)
			}
			if status, _ := b.session(dash); status != http.StatusUnauthorized {
				t.Fatalf("GET ui/session after sign-out = %d", status)
			}
		})

		t.Run("replayed callback refused", func(t *testing.T) {
			b := newOIDCBrowser(t, p.issuer)
			cb := b.signInAtProvider(dash, "", "alice@example.com")
			flowCookies := b.client.Jar.Cookies(cb)
			if r := b.get(cb.String()); r.status != http.StatusSeeOther || r.location != "/admin/" {
				t.Fatalf("first callback = %d %q %s", r.status, r.location, r.body)
			}
			// The same answer again, with the flow cookie as it was (a
			// copy of the browser's traffic), is refused.
			replay := newOIDCBrowser(t, p.issuer)
			replay.client.Jar.SetCookies(cb, flowCookies)
			r := replay.get(cb.String())
			if r.status != http.StatusBadRequest || setsSessionCookie(r) || !strings.Contains(r.body, "already used") {
				t.Fatalf("replayed callback = %d (session cookie %v) %s", r.status, setsSessionCookie(r), r.body)
			}
		})

		t.Run("wrong state refused", func(t *testing.T) {
			b := newOIDCBrowser(t, p.issuer)
			cb := b.signInAtProvider(dash, "", "alice@example.com")
			q := cb.Query()
			q.Set("state", alterLast(q.Get("state")))
			forged := *cb
			forged.RawQuery = q.Encode()
			if r := b.get(forged.String()); r.status != http.StatusBadRequest || setsSessionCookie(r) {
				t.Fatalf("callback with another state = %d %s", r.status, r.body)
			}
			// Nor one whose flow cookie was altered (here to lead elsewhere
			// afterwards): the cookie's MAC no longer matches.
			b4 := newOIDCBrowser(t, p.issuer)
			cb4 := b4.signInAtProvider(dash, "", "alice@example.com")
			var altered []*http.Cookie
			for _, c := range b4.client.Jar.Cookies(cb4) {
				if c.Name == dashboard.FlowCookieName {
					payload, mac, _ := strings.Cut(c.Value, ".")
					raw, _ := base64.RawURLEncoding.DecodeString(payload)
					var f map[string]any
					if err := json.Unmarshal(raw, &f); err != nil {
						t.Fatal(err)
					}
					f["x"] = "/admin/?altered=1"
					raw, _ = json.Marshal(f)
					c.Value = base64.RawURLEncoding.EncodeToString(raw) + "." + mac
					c.Path = "/admin/ui/oidc/"
					altered = append(altered, c)
				}
			}
			if len(altered) != 1 {
				t.Fatalf("flow cookies: %v", altered)
			}
			b4.client.Jar.SetCookies(cb4, altered)
			if r := b4.get(cb4.String()); r.status != http.StatusBadRequest || setsSessionCookie(r) || r.location != "" {
				t.Fatalf("callback with an altered flow cookie = %d to %q %s", r.status, r.location, r.body)
			}
			// Nor one naming another issuer (RFC 9207: a mix-up).
			b3 := newOIDCBrowser(t, p.issuer)
			cb3 := b3.signInAtProvider(dash, "", "alice@example.com")
			q3 := cb3.Query()
			q3.Set("iss", "https://evil.example.com")
			mixed := *cb3
			mixed.RawQuery = q3.Encode()
			if r := b3.get(mixed.String()); r.status != http.StatusBadRequest || setsSessionCookie(r) || !strings.Contains(r.body, "another sign-in provider") {
				t.Fatalf("callback naming another issuer = %d %s", r.status, r.body)
			}
			// Nor is a callback taken in a browser that did not start it
			// (login CSRF: the attacker's own code in the victim's browser).
			b2 := newOIDCBrowser(t, p.issuer)
			cb2 := b2.signInAtProvider(dash, "", "alice@example.com")
			victim := newOIDCBrowser(t, p.issuer)
			if r := victim.get(cb2.String()); r.status != http.StatusBadRequest || setsSessionCookie(r) {
				t.Fatalf("callback in another browser = %d %s", r.status, r.body)
			}
		})

		t.Run("ID token re-signed unchanged accepted", func(t *testing.T) {
			// The control of the cases below: re-signing alone breaks nothing.
			p.setTamper(func(map[string]any) {}, false)
			defer p.setTamper(nil, false)
			b := newOIDCBrowser(t, p.issuer)
			if r := b.get(b.signInAtProvider(dash, "", "alice@example.com").String()); r.status != http.StatusSeeOther || !setsSessionCookie(r) {
				t.Fatalf("callback = %d %s", r.status, r.body)
			}
		})

		for _, c := range []struct {
			name   string
			tamper func(map[string]any)
			badKey bool
		}{
			{"wrong nonce", func(c map[string]any) { c["nonce"] = "not-this-sign-in" }, false},
			{"no nonce", func(c map[string]any) { delete(c, "nonce") }, false},
			{"wrong audience", func(c map[string]any) { c["aud"] = []string{"another-client"} }, false},
			{"wrong issuer", func(c map[string]any) { c["iss"] = "https://evil.example.com" }, false},
			{"expired", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, false},
			{"signed by another key", func(map[string]any) {}, true},
		} {
			t.Run("ID token with "+c.name+" refused", func(t *testing.T) {
				p.setTamper(c.tamper, c.badKey)
				defer p.setTamper(nil, false)
				b := newOIDCBrowser(t, p.issuer)
				cb := b.signInAtProvider(dash, "", "alice@example.com")
				r := b.get(cb.String())
				if r.status != http.StatusBadRequest || setsSessionCookie(r) || !strings.Contains(r.body, "could not be verified") {
					t.Fatalf("callback = %d (session cookie %v) %s", r.status, setsSessionCookie(r), r.body)
				}
				if status, _ := b.session(dash); status != http.StatusUnauthorized {
					t.Fatalf("GET ui/session = %d", status)
				}
			})
		}

		t.Run("claims in the ID token are read as they are", func(t *testing.T) {
			// A provider that puts everything in the ID token: its groups
			// decide (UserInfo, which would say more, is not asked).
			p.setTamper(func(c map[string]any) {
				c["email"], c["email_verified"], c["groups"] = "alice@example.com", true, []string{"mcp-users"}
			}, false)
			defer p.setTamper(nil, false)
			b := newOIDCBrowser(t, p.issuer)
			if r := b.get(b.signInAtProvider(dash, "", "alice@example.com").String()); r.status != http.StatusSeeOther {
				t.Fatalf("callback = %d %s", r.status, r.body)
			}
			if _, v := b.session(dash); v["name"] != "alice@example.com" || fmt.Sprint(v["scopes"]) != "[ledgers:read mcp:read mcp:write]" {
				t.Fatalf("GET ui/session = %v", v)
			}
		})

		t.Run("an ID token and user info naming different addresses refused", func(t *testing.T) {
			// The ID token names an address without saying it is verified;
			// UserInfo says alice's is: that says nothing of the other one.
			p.setTamper(func(c map[string]any) { c["email"] = "mallory@example.com" }, false)
			defer p.setTamper(nil, false)
			b := newOIDCBrowser(t, p.issuer)
			r := b.get(b.signInAtProvider(dash, "", "alice@example.com").String())
			if r.status != http.StatusBadRequest || setsSessionCookie(r) || !strings.Contains(r.body, "could not be verified") {
				t.Fatalf("callback = %d (session cookie %v) %s", r.status, setsSessionCookie(r), r.body)
			}
		})

		for _, c := range []struct{ name, email, why string }{
			{"a disallowed email domain", "bob@other.org", "may not sign in here"},
			{"an unverified email address", "carol@example.com", "verified"},
		} {
			t.Run(c.name+" refused", func(t *testing.T) {
				b := newOIDCBrowser(t, p.issuer)
				cb := b.signInAtProvider(dash, "", c.email)
				r := b.get(cb.String())
				if r.status != http.StatusForbidden || setsSessionCookie(r) || !strings.Contains(r.body, c.why) {
					t.Fatalf("callback = %d (session cookie %v) %s", r.status, setsSessionCookie(r), r.body)
				}
			})
		}

		t.Run("no groups: the default grant, no dashboard rights", func(t *testing.T) {
			b := newOIDCBrowser(t, p.issuer)
			if r := b.get(b.signInAtProvider(dash, "", "Dave@Example.com").String()); r.status != http.StatusSeeOther {
				t.Fatalf("callback = %d %s", r.status, r.body)
			}
			status, v := b.session(dash)
			if status != http.StatusOK || fmt.Sprint(v["scopes"]) != "[ledgers:read]" || v["can_read"] != false {
				t.Fatalf("GET ui/session = %d %v", status, v)
			}
			if r := b.get(dash + "clients"); r.status != http.StatusForbidden {
				t.Fatalf("listing clients without api-keys:read = %d %s", r.status, r.body)
			}
			// A listed address outside the domains gets in, with its groups.
			b = newOIDCBrowser(t, p.issuer)
			if r := b.get(b.signInAtProvider(dash, "", "erin@partner.org").String()); r.status != http.StatusSeeOther {
				t.Fatalf("callback = %d %s", r.status, r.body)
			}
			if _, v := b.session(dash); fmt.Sprint(v["scopes"]) != "[ledgers:read mcp:read mcp:write]" {
				t.Fatalf("GET ui/session = %v", v)
			}
		})

		t.Run("an error from the provider refused", func(t *testing.T) {
			for code, shown := range map[string]string{"access_denied": "(access_denied)", "<b>x</b>": "(invalid)"} {
				b := newOIDCBrowser(t, p.issuer)
				if f := b.get(dash + "ui/oidc/start"); f.status != http.StatusOK {
					t.Fatalf("start = %d %s", f.status, f.body)
				}
				state := flowState(t, b, dash)
				r := b.get(dash + "ui/oidc/callback?" + url.Values{"error": {code}, "error_description": {"<script>x</script>"}, "state": {state}}.Encode())
				if r.status != http.StatusForbidden || setsSessionCookie(r) || !strings.Contains(r.body, shown) || strings.Contains(r.body, "<script>") || strings.Contains(r.body, "<b>") {
					t.Fatalf("callback with error %q = %d %s", code, r.status, r.body)
				}
			}
		})

		t.Run("next open-redirect attempts refused", func(t *testing.T) {
			for _, next := range []string{
				"https://evil.example.com/", "//evil.example.com/admin/", "/\\evil.example.com", "javascript:alert(1)",
				"/admin/../oauth/token", "/admin/%2e%2e/x", "/elsewhere", "/admin/\r\nX: y",
			} {
				b := newOIDCBrowser(t, p.issuer)
				r := b.get(dash + "ui/oidc/start?next=" + url.QueryEscape(next))
				if r.status != http.StatusBadRequest || r.location != "" || strings.Contains(r.header.Get("Set-Cookie"), dashboard.FlowCookieName+"=") {
					t.Errorf("start with next %q = %d to %q", next, r.status, r.location)
				}
				body, _ := json.Marshal(map[string]string{"master_key": testMasterKey, "next": next})
				req, _ := http.NewRequest(http.MethodPost, dash+"ui/session", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Origin", strings.TrimSuffix(dash, "/admin/"))
				if r := b.do(req); r.status != http.StatusBadRequest || setsSessionCookie(r) {
					t.Errorf("key sign-in with next %q = %d %s", next, r.status, r.body)
				}
			}
			// A safe next comes back with the key sign-in, for the page to follow.
			b := newOIDCBrowser(t, p.issuer)
			body, _ := json.Marshal(map[string]string{"master_key": testMasterKey, "next": "/oauth/authorize?client_id=x&state=y"})
			req, _ := http.NewRequest(http.MethodPost, dash+"ui/session", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", strings.TrimSuffix(dash, "/admin/"))
			r := b.do(req)
			var v map[string]any
			_ = json.Unmarshal([]byte(r.body), &v)
			if r.status != http.StatusOK || v["next"] != "/oauth/authorize?client_id=x&state=y" {
				t.Fatalf("key sign-in with a safe next = %d %s", r.status, r.body)
			}
		})

		t.Run("sign-ins counted by outcome", func(t *testing.T) {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, o := range []string{"signed_in", "not_allowed", "invalid", "refused"} {
				if !regexp.MustCompile(`caddy_blnk_auth_sso_sign_ins_total\{outcome="` + o + `"\} [1-9]`).Match(body) {
					t.Errorf("no sign-in counted as %s:\n%s", o, regexp.MustCompile(`(?m)^caddy_blnk_auth_sso.*$`).FindAll(body, -1))
				}
			}
		})

		// Last, as it changes the configuration.
		t.Run("narrowed rules end the session; the session lifetime bounds it", func(t *testing.T) {
			b := newOIDCBrowser(t, p.issuer)
			if r := b.get(b.signInAtProvider(dash, "", "alice@example.com").String()); r.status != http.StatusSeeOther {
				t.Fatalf("callback = %d %s", r.status, r.body)
			}
			if status, _ := b.session(dash); status != http.StatusOK {
				t.Fatalf("GET ui/session = %d", status)
			}
			g.appExtra = login("example.org")
			g.load(g.caddyfile(authPort, apiPort, dashboardRoutes))
			if status, v := b.session(dash); status != http.StatusUnauthorized {
				t.Fatalf("GET ui/session after alice's domain left the rules = %d %v", status, v)
			}
			// erin, listed by address, signs in under a one-second lifetime.
			g.load(g.caddyfile(authPort, apiPort, strings.Replace(dashboardRoutes, "blnk_admin {", "blnk_admin {\n\t\t\tsession_lifetime 1s", 1)))
			b = newOIDCBrowser(t, p.issuer)
			if r := b.get(b.signInAtProvider(dash, "", "erin@partner.org").String()); r.status != http.StatusSeeOther {
				t.Fatalf("callback = %d %s", r.status, r.body)
			}
			if status, _ := b.session(dash); status != http.StatusOK {
				t.Fatalf("GET ui/session = %d", status)
			}
			eventually(t, 5*time.Second, "the session's end after session_lifetime", func() bool {
				status, _ := b.session(dash)
				return status == http.StatusUnauthorized
			})
		})
	})
}

// flowState reads the state of the sign-in the browser started from its
// flow cookie (its payload is base64url JSON; the MAC is what the gateway
// checks).
func flowState(t *testing.T, b *httpBrowser, dash string) string {
	t.Helper()
	u, _ := url.Parse(dash + "ui/oidc/callback")
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name != dashboard.FlowCookieName {
			continue
		}
		payload, _, _ := strings.Cut(c.Value, ".")
		raw, err := base64.RawURLEncoding.DecodeString(payload)
		var f struct {
			State string `json:"s"`
		}
		if err != nil || json.Unmarshal(raw, &f) != nil || f.State == "" {
			t.Fatalf("unreadable flow cookie %q", c.Value)
		}
		return f.State
	}
	t.Fatal("no flow cookie")
	return ""
}

// TestOIDCProviderDown: a provider that cannot be reached does not stop
// the gateway; sign-in through it says so, keys still work, and once the
// provider is up sign-in through it works (discovery is retried).
func TestOIDCProviderDown(t *testing.T) {
	providerPort := freePort(t)
	down := fmt.Sprintf("http://127.0.0.1:%d", providerPort) // nothing listens yet
	apiPort := freePort(t)
	dash := fmt.Sprintf("http://127.0.0.1:%d/admin/", apiPort)
	startGateway(t, gatewayOptions{store: kindSQLite, apiPort: apiPort, apiRoutes: dashboardRoutes, appExtra: `
login oidc {
	issuer ` + down + `
	client_id ` + oidcClientID + `
	client_secret ` + oidcClientSecret + `
	allowed_domains example.com
}`})
	b := newOIDCBrowser(t, down)
	r := b.get(dash + "ui/oidc/start")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "cannot be reached") || r.location != "" {
		t.Fatalf("start with the provider down = %d %s", r.status, r.body)
	}
	body, _ := json.Marshal(map[string]string{"master_key": testMasterKey})
	req, _ := http.NewRequest(http.MethodPost, dash+"ui/session", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", strings.TrimSuffix(dash, "/admin/"))
	if r := b.do(req); r.status != http.StatusOK {
		t.Fatalf("key sign-in with the provider down = %d %s", r.status, r.body)
	}

	startProviderAt(t, dash+"ui/oidc/callback", providerPort)
	eventually(t, 3*oidclogin.RetryAfter, "sign-in through the provider once it is up", func() bool {
		return newOIDCBrowser(t, down).get(dash+"ui/oidc/start").status == http.StatusOK // its login form
	})
	b = newOIDCBrowser(t, down)
	if r := b.get(b.signInAtProvider(dash, "", "alice@example.com").String()); r.status != http.StatusSeeOther || !setsSessionCookie(r) {
		t.Fatalf("callback = %d %s", r.status, r.body)
	}
}

// TestOIDCSignInBrowser: in a real browser, a person clicks "Sign in with
// Example SSO", signs in on the provider's own login page and lands back
// on the dashboard (or where next said), signed in as themselves; a key
// sign-in with next goes there too.
func TestOIDCSignInBrowser(t *testing.T) {
	authPort, apiPort := freePort(t), freePort(t)
	dash := fmt.Sprintf("http://127.0.0.1:%d/admin/", apiPort)
	prov := startProvider(t, dash+"ui/oidc/callback")
	startGateway(t, gatewayOptions{store: kindSQLite, authPort: authPort, apiPort: apiPort, apiRoutes: dashboardRoutes, appExtra: `
login oidc {
	issuer ` + prov.issuer + `
	client_id ` + oidcClientID + `
	client_secret ` + oidcClientSecret + `
	name "Example SSO"
	allowed_domains example.com
	grant gateway-admins api-keys:read api-keys:write
}`})
	p := openPage(t, dash+"?next="+url.QueryEscape("/admin/?after=sso"), 1280, 900)
	p.open()
	p.wait(visible("#signin-sso-button"), "the single sign-on button")
	if got := p.text("#signin-sso-button"); got != "Sign in with Example SSO" {
		t.Fatalf("button = %q", got)
	}
	p.click("#signin-sso-button")
	p.wait(`location.href.startsWith(`+fmt.Sprintf("%q", prov.issuer)+`) && !!document.querySelector("#username")`, "the provider's login page")
	p.fill("#username", "alice@example.com")
	p.fill("#password", oidcPassword)
	p.click(`button[type="submit"]`)
	p.wait(`location.href === `+fmt.Sprintf("%q", strings.TrimSuffix(dash, "/admin/")+"/admin/?after=sso"), "the dashboard at next")
	p.wait(visible("#keys-view"), "the API Keys table")
	if got := p.text("#whoami"); got != "Signed in as alice@example.com" {
		t.Fatalf("whoami = %q", got)
	}
	// Signed in already: a page opened with a safe next goes there at once.
	p.run("opening with next", chromedp.Navigate(dash+"?next="+url.QueryEscape("/admin/?again=1")))
	p.wait(`location.search === "?again=1"`, "the page at next")
	// An unsafe next is not followed.
	p.run("opening with an unsafe next", chromedp.Navigate(dash+"?next="+url.QueryEscape("//evil.example.com/")))
	p.wait(visible("#keys-view"), "the API Keys table, not another site")
	if href := eval[string](p, "location.href"); !strings.HasPrefix(href, dash) {
		t.Fatalf("the page went to %s", href)
	}

	// Signed out, a key sign-in with next goes there too.
	p.click("#sign-out")
	p.wait(visible("#signin-form"), "the sign-in form after signing out") // the session is gone
	p.run("opening with next", chromedp.Navigate(dash+"?next="+url.QueryEscape("/admin/?after=key")))
	p.signInNoWait("master_key", testMasterKey)
	p.wait(`location.search === "?after=key"`, "the page at next after a key sign-in")
}

// signInNoWait fills and submits the key sign-in form.
func (p *page) signInNoWait(mode, key string) {
	p.t.Helper()
	p.wait(visible("#signin-form"), "the sign-in form")
	p.click(`input[name="signin-mode"][value="` + mode + `"]`)
	p.fill("#signin-key", key)
	p.click("#signin-submit")
}
