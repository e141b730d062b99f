package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/admin/dashboard"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// The dashboard tests drive a real headless Chromium (Debian's chromium
// package) through the page that blnk_admin serves, in front of a real Caddy
// on both stores.

const dashboardRoutes = `
	handle_path /admin/* {
		blnk_admin {
			master_key ` + testMasterKey + `
		}
	}
	blnk_auth /mcp* mcp:read
	blnk_auth /ledgers* ledgers:read
	reverse_proxy {upstream}`

// chromiumPath finds Chromium; without it the test fails on CI and is
// skipped elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	needTool(t, "chromium (apt-get install chromium), for the browser tests", exec.ErrNotFound)
	return ""
}

// page is one browser tab on the dashboard. It fails the test on any
// console error or uncaught exception the page produces (network errors
// excepted: a refused request is part of the workflow), and saves a
// screenshot when the test fails.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string // the dashboard's URL, ending in /admin/

	mu      sync.Mutex
	console []string
	allowed []string // console messages expected by the test (substrings)
}

func openPage(t *testing.T, base string, width, height int) *page {
	t.Helper()
	exe := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	p := &page{t: t, ctx: ctx, base: base}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The window cannot be narrower than 500 px; the viewport can.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height)), chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && !m.IsException() || m.Source == "network" {
				continue
			}
			p.mu.Lock()
			p.console = append(p.console, m.String())
			p.mu.Unlock()
		}
	}()
	// Let the page use the clipboard, as a person clicking Copy would.
	origin := strings.TrimSuffix(base, "/admin/")
	for _, perm := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: perm, AllowWithoutSanitization: perm == "clipboard-write"},
			Setting:    browser.PermissionSettingGranted, Origin: origin,
		}); err != nil {
			t.Fatalf("granting %s: %v", perm, err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			p.screenshot("failure")
		}
		p.mu.Lock()
		defer p.mu.Unlock()
	next:
		for _, m := range p.console {
			for _, ok := range p.allowed {
				if strings.Contains(m, ok) {
					continue next
				}
			}
			t.Errorf("console: %s", m)
		}
	})
	return p
}

// screenshot saves the page to $BLNK_SCREENSHOT_DIR (default: the system's
// temporary directory) and logs where.
func (p *page) screenshot(name string) string {
	dir := os.Getenv("BLNK_SCREENSHOT_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	file := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(p.t.Name())+"-"+name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	p.t.Logf("screenshot: %s", file)
	return file
}

// readmeShot saves the page as docs/<name>.png under $BLNK_README_SCREENSHOTS
// when that is set: how the README's screenshots are made (see README).
func (p *page) readmeShot(name string) {
	dir := os.Getenv("BLNK_README_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
	if err != nil {
		p.t.Errorf("README screenshot %s: %v", name, err)
	}
}

func (p *page) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func (p *page) click(sel string) {
	p.t.Helper()
	p.run("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// clickUntil clicks sel until cond holds (at most three clicks, three
// seconds apart), then waits for it as wait does: a click that lands while
// the page re-renders the element is lost, and a person would click again.
func (p *page) clickUntil(sel, cond, what string) {
	p.t.Helper()
	for range 3 {
		p.click(sel)
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(3*time.Second)))
		cancel()
		if err == nil {
			return
		}
	}
	p.wait(cond, what)
}

func (p *page) fill(sel, text string) {
	p.t.Helper()
	p.run("type into "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// wait polls a JavaScript condition for up to 15 seconds, in polls of up to
// three seconds each started again when one fails: a navigation (the page
// just opened still loading, a form submitted, a redirect) destroys the
// execution context a poll runs in, and chromedp then fails the poll at
// once ("Cannot find context with specified id") instead of carrying it to
// the next page. A person would simply look again.
func (p *page) wait(cond, what string) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(2*time.Second)))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting for %s (%s): %v", what, cond, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *page) text(sel string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("reading %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func visible(sel string) string {
	return fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.checkVisibility(); })()`, sel)
}

func (p *page) open() {
	p.t.Helper()
	p.run("opening the dashboard", chromedp.Navigate(p.base))
}

// signIn signs in through the form: mode is master_key, api_key or oauth.
func (p *page) signIn(mode, key, secret string) {
	p.t.Helper()
	p.wait(visible("#signin-form"), "the sign-in form")
	p.click(`input[name="signin-mode"][value="` + mode + `"]`)
	if mode == "oauth" {
		p.fill("#signin-client-id", key)
		p.fill("#signin-client-secret", secret)
	} else {
		p.fill("#signin-key", key)
	}
	p.click("#signin-submit")
	p.wait(visible("#keys-view"), "the API Keys table after sign-in")
	// The key went into the session: the page keeps nothing of it.
	secretPart := key // an OAuth client's ID is public, and shown in the table
	if mode == "oauth" {
		secretPart = secret
	}
	leak := eval[bool](p, fmt.Sprintf(`(() => { const s = %q;
		const has = (x) => x.includes(s);
		return has(document.documentElement.outerHTML) || [...document.querySelectorAll("input")].some((i) => has(i.value)) ||
			has(JSON.stringify(localStorage)) || has(JSON.stringify(sessionStorage)) || has(location.href) || document.cookie !== ""; })()`, secretPart))
	if leak {
		p.t.Fatal("after sign-in the page still holds the key (DOM, inputs, storage, URL) or a readable cookie")
	}
}

// rowStatus is the status badge of a client's row in the table ("" if absent).
func (p *page) rowStatus(id string) string {
	return eval[string](p, fmt.Sprintf(`(() => { const r = document.querySelector('#keys-body tr[data-client-id=%q] td.status'); return r ? r.textContent.trim() : ""; })()`, id))
}

// createClient fills the create form and returns what the credentials panel
// showed: the client ID and the secret (or API key), read from the clipboard
// after clicking Copy.
func (p *page) createClient(name, typ string, scopes []string, expires string) (id, secret string) {
	p.t.Helper()
	p.click("#create-open")
	p.wait(`document.getElementById("create-dialog").open && document.activeElement.id === "create-name"`, "the create dialog, focus on Name")
	p.fill("#create-name", name)
	p.click(`input[name="create-type"][value="` + typ + `"]`)
	var extra []string
	for _, s := range scopes {
		if eval[bool](p, fmt.Sprintf(`!!document.querySelector('#create-scope-choices input[value=%q]')`, s)) {
			p.click(fmt.Sprintf(`#create-scope-choices input[value=%q]`, s))
		} else {
			extra = append(extra, s)
		}
	}
	if len(extra) > 0 {
		p.fill("#create-scopes-extra", strings.Join(extra, " "))
	}
	p.run("choose the expiry", chromedp.SetValue(chromedp.CSS("#create-expires"), expires))
	p.click("#create-submit")
	p.wait(`document.getElementById("secret-dialog").open`, "the credentials panel")
	p.readmeShot("dashboard-credentials")
	if w := p.text("#secret-warning"); !strings.Contains(w, "cannot retrieve") {
		p.t.Fatalf("credentials panel warning %q", w)
	}
	id = p.text("#secret-client-id")
	p.click("#secret-copy-value")
	p.wait(`document.getElementById("secret-copy-value").textContent === "Copied"`, "the Copy button's confirmation")
	secret = eval[string](p, `navigator.clipboard.readText()`)
	if shown := p.text("#secret-value"); shown != secret || secret == "" {
		p.t.Fatalf("clipboard %q, panel shows %q", secret, shown)
	}
	// Closing asks first; Escape asks too.
	p.click("#secret-done")
	p.wait(visible("#secret-confirm")+` && document.activeElement.id === "secret-close-confirm"`, "the close confirmation")
	p.click("#secret-back")
	p.run("press Escape", chromedp.KeyEvent("\x1b"))
	p.wait(visible("#secret-confirm")+` && document.getElementById("secret-dialog").open`, "the close confirmation after Escape")
	p.click("#secret-close-confirm")
	p.wait(`!document.getElementById("secret-dialog").open && document.getElementById("secret-value").textContent === ""`, "the panel closed, its secret gone")
	return id, secret
}

// revokeInPanel opens the client's details and revokes it with the confirm dialog.
func (p *page) revokeInPanel(id, name string) {
	p.t.Helper()
	p.click(fmt.Sprintf(`#keys-body button[data-client-id=%q]`, id))
	p.wait(`document.getElementById("details-dialog").open`, "the details panel")
	if got := p.text("#details-title"); got != name {
		p.t.Fatalf("details panel title %q, want %q", got, name)
	}
	p.wait(`document.querySelector("#details-history li") !== null`, "the client's history")
	p.click("#details-revoke")
	p.wait(`document.getElementById("revoke-dialog").open`, "the revoke confirmation")
	if txt := p.text("#revoke-text"); !strings.Contains(txt, name) || !strings.Contains(txt, id) {
		p.t.Fatalf("revoke confirmation %q does not name the client", txt)
	}
	p.click("#revoke-confirm")
	p.wait(`!document.getElementById("revoke-dialog").open && document.querySelector("#details-fields .badge").textContent === "Revoked"`, "the panel saying Revoked")
	p.run("press Escape", chromedp.KeyEvent("\x1b"))
	p.wait(`!document.getElementById("details-dialog").open`, "the details panel closed by Escape")
}

// TestDashboardWorkflow is the product page's workflow in a browser, through
// real Caddy on both stores: sign in with the master key, create an OAuth
// client, copy its secret from the panel, use it at /oauth/token and through
// blnk_auth, revoke it in the panel, see the next request refused and the
// row say Revoked; the audit view; sign-out.
func TestDashboardWorkflow(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: dashboardRoutes})
		p := openPage(t, g.apiURL+"/admin/", 1440, 900)
		p.open()
		p.signIn("master_key", testMasterKey, "")
		p.wait(visible("#keys-empty"), "the empty state")
		// The create form offers the scopes the config's routes require.
		if got := eval[[]string](p, `[...document.querySelectorAll("#create-scope-choices input")].map((i) => i.value)`); !slices.Contains(got, "ledgers:read") || got[0] != "*" {
			t.Fatalf("scope choices %v, want * first and the route's ledgers:read", got)
		}

		const name = "MCP Integration"
		id, secret := p.createClient(name, "oauth", []string{"mcp:read"}, "30")
		if !strings.HasPrefix(id, "blnk_cid_") || !strings.HasPrefix(secret, "blnk_cs_") {
			t.Fatalf("credentials panel: %q %q", id, secret)
		}
		p.wait(fmt.Sprintf(`!!document.querySelector('#keys-body tr[data-client-id=%q]')`, id), "the new row")
		if s := p.rowStatus(id); s != "Active" {
			t.Fatalf("new row status %q", s)
		}
		p.readmeShot("dashboard-table")
		c, err := g.store.GetClient(t.Context(), id)
		if err != nil || c.ExpiresAt == nil || c.ExpiresAt.Sub(time.Now()) < 29*24*time.Hour || c.ExpiresAt.Sub(time.Now()) > 31*24*time.Hour {
			t.Fatalf("stored client %+v %v, want expiry in 30 days", c, err)
		}

		// The copied secret works: a token, and a call through blnk_auth.
		tok := g.token(id, secret, nil)
		if r := g.call("/mcp", bearer(tok)...); r.status != http.StatusOK {
			t.Fatalf("call with the new client's token: %d %s", r.status, r.raw)
		}

		// The session cookie is scoped to the mount: a call the browser makes
		// to the same site's API does not carry it to the upstream.
		if st := eval[int](p, fmt.Sprintf(`fetch("/mcp", {headers: {Authorization: "Bearer %s"}}).then((r) => r.status)`, tok)); st != http.StatusOK {
			t.Fatalf("the browser's call to /mcp: %d", st)
		}
		if c := g.upstream.lastHeader().Get("Cookie"); strings.Contains(c, dashboard.CookieName) {
			t.Fatalf("the dashboard's session cookie reached the upstream: %q", c)
		}

		p.revokeInPanel(id, name)
		p.wait(fmt.Sprintf(`(() => { const r = document.querySelector('#keys-body tr[data-client-id=%q] td.status'); return r && r.textContent.trim() === "Revoked"; })()`, id), "the row saying Revoked")
		eventually(t, 2*time.Second, "the revoked client's token refused", func() bool {
			return g.call("/mcp", bearer(tok)...).status == http.StatusUnauthorized
		})
		if r := g.postToken(url.Values{"grant_type": {"client_credentials"}}, id, secret); r.status != http.StatusUnauthorized {
			t.Fatalf("token request of the revoked client: %d %s", r.status, r.raw)
		}
		// Still listed, under the Revoked filter too.
		p.run("filter revoked", chromedp.SetValue(chromedp.CSS("#filter-status"), "revoked"))
		p.run("apply the filter", chromedp.Evaluate[chromedp.Void](`document.getElementById("filter-status").dispatchEvent(new Event("change"))`))
		p.wait(fmt.Sprintf(`document.querySelectorAll('#keys-body tr').length === 1 && !!document.querySelector('#keys-body tr[data-client-id=%q]')`, id), "the revoked client under the Revoked filter")

		// The audit view shows both changes, by the master key.
		p.click("#nav-audit")
		p.wait(`[...document.querySelectorAll("#audit-body tr")].map((r) => r.textContent).join("|").includes("client.revoke")`, "the revocation in the audit view")
		if txt := p.text("#audit-body"); !strings.Contains(txt, "client.create") || !strings.Contains(txt, admin.MasterActor) || !strings.Contains(txt, id) {
			t.Fatalf("audit view: %s", txt)
		}

		// Sign-out ends the session on the server, not only in the page.
		p.click("#sign-out")
		p.wait(visible("#signin-form"), "the sign-in form after sign-out")
		if st := eval[int](p, `fetch("clients").then((r) => r.status)`); st != http.StatusUnauthorized {
			t.Fatalf("the API after sign-out answered %d", st)
		}
	})
}

// TestDashboardScopedSessions: a read-only API-key session sees no create or
// revoke buttons (and the API refuses it anyway); an OAuth client with
// api-keys:write creates an API key whose key works through blnk_auth; and
// revoking the signed-in client (elsewhere, as the CLI does) ends its
// session at its next request.
func TestDashboardScopedSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: dashboardRoutes})
		reader := g.create("Auditor", store.TypeAPIKey, []string{admin.ScopeRead}, nil)
		writer := g.create("Key manager", store.TypeOAuth, []string{admin.ScopeRead, admin.ScopeWrite, "mcp:read"}, nil)

		p := openPage(t, g.apiURL+"/admin/", 375, 800)
		p.open()
		p.signIn("api_key", reader.Secret, "")
		p.wait(fmt.Sprintf(`!!document.querySelector('#keys-body tr[data-client-id=%q]')`, writer.Client.ID), "the table")
		if eval[bool](p, visible("#create-open")) {
			t.Fatal("a read-only session sees Create API Key")
		}
		// 375 px wide: rows become cards, nothing scrolls sideways.
		if w := eval[[]int](p, `[document.documentElement.scrollWidth, window.innerWidth]`); w[1] != 375 || w[0] > w[1] {
			t.Fatalf("at 375 px the page is %d px wide", w[0])
		}
		p.click(fmt.Sprintf(`#keys-body button[data-client-id=%q]`, writer.Client.ID))
		p.wait(`document.getElementById("details-dialog").open`, "the details panel")
		if eval[bool](p, visible("#details-revoke")) || eval[bool](p, visible("#details-delete")) {
			t.Fatal("a read-only session sees Revoke Key or Delete")
		}
		if w := eval[[]int](p, `(() => { const d = document.getElementById("details-dialog"); return [d.scrollWidth, d.clientWidth, window.innerWidth, d.getBoundingClientRect().width]; })()`); w[0] > w[1] || w[3] > w[2] {
			t.Fatalf("at 375 px the details panel overflows: %v", w)
		}
		// The API enforces it too, whatever the page shows.
		st := eval[int](p, fmt.Sprintf(`fetch("clients/%s/revoke", {method: "POST", headers: {"X-CSRF-Token": "x"}}).then((r) => r.status)`, writer.Client.ID))
		if st != http.StatusForbidden {
			t.Fatalf("a read-only session's revoke answered %d", st)
		}
		p.run("press Escape", chromedp.KeyEvent("\x1b"))
		p.click("#sign-out")

		p.signIn("oauth", writer.Client.ID, writer.Secret)
		p.wait(visible("#create-open"), "Create API Key for a writer")
		_, key := p.createClient("Ledger job", "api_key", []string{"mcp:read"}, "never")
		if !strings.HasPrefix(key, "blnk_ak_") {
			t.Fatalf("API key panel showed %q", key)
		}
		if r := g.call("/mcp", "X-Blnk-Key", key); r.status != http.StatusOK {
			t.Fatalf("call with the new API key: %d %s", r.status, r.raw)
		}
		// The signed-in client is revoked elsewhere: its session ends.
		if _, err := g.svc.Revoke(t.Context(), admin.CLI, writer.Client.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, "the revoked client's session refused", func() bool {
			return eval[int](p, `fetch("ui/session").then((r) => r.status)`) == http.StatusUnauthorized
		})
		p.run("reload the table", chromedp.Evaluate[chromedp.Void](`document.getElementById("filter-type").dispatchEvent(new Event("change"))`))
		p.wait(visible("#signin-form")+` && document.getElementById("signin-error").textContent.includes("session ended")`, "the sign-in form after the session ended")
	})
}

// TestDashboardBrowserGuards: in a real browser, the CSP blocks injected
// inline script; a page of another origin on the same site (another port:
// SameSite does not separate them) can neither frame the dashboard nor make
// the signed-in browser create a client or sign out.
func TestDashboardBrowserGuards(t *testing.T) {
	g := startGateway(t, gatewayOptions{store: kindSQLite, apiRoutes: dashboardRoutes})
	p := openPage(t, g.apiURL+"/admin/", 1440, 900)
	p.allowed = []string{"Content Security Policy", "Content-Security-Policy", "frame-ancestors", "Refused to"}
	p.open()
	p.signIn("master_key", testMasterKey, "")

	if eval[bool](p, `(() => { const s = document.createElement("script"); s.textContent = "window.injected = true"; document.body.append(s); return window.injected === true; })()`) {
		t.Fatal("inline script ran despite the CSP")
	}
	// Another origin of the same site: the cookie goes along (SameSite is
	// per site, not per port), so the origin check must refuse.
	before, err := g.store.ListClients(t.Context(), store.ListFilter{Limit: 10}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.run("visit another origin", chromedp.Navigate(g.authURL+"/elsewhere"))

	// That origin cannot frame the dashboard (X-Frame-Options, frame-ancestors).
	eval[chromedp.Void](p, fmt.Sprintf(`new Promise((done) => {
		const f = document.createElement("iframe"); f.src = %q; f.onload = () => done(null);
		document.body.append(f); setTimeout(() => done(null), 3000); })`, g.apiURL+"/admin/"))
	tree, err := chromedp.Call(p.ctx, cdppage.GetFrameTree, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.FrameTree.ChildFrames) != 1 {
		t.Fatalf("frames: %+v", tree.FrameTree)
	}
	if f := tree.FrameTree.ChildFrames[0].Frame; f.URL == g.apiURL+"/admin/" && f.UnreachableURL == "" {
		t.Fatalf("the dashboard loaded in another origin's frame: %+v", f)
	}
	eval[chromedp.Void](p, fmt.Sprintf(`fetch(%q, {method: "POST", mode: "no-cors", credentials: "include",
		headers: {"Content-Type": "text/plain"}, body: '{"name":"csrf","scopes":["*"]}'}).catch(() => null)`, g.apiURL+"/admin/clients"))
	eval[chromedp.Void](p, fmt.Sprintf(`fetch(%q, {method: "DELETE", mode: "no-cors", credentials: "include"}).catch(() => null)`, g.apiURL+"/admin/ui/session"))
	after, err := g.store.ListClients(t.Context(), store.ListFilter{Limit: 10}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("a cross-origin page created a client with the signed-in browser's session: %d → %d clients", len(before), len(after))
	}
	p.open()
	p.wait(visible("#keys-view"), "the session, still there after a cross-origin sign-out attempt")
}

// TestDashboardManage: the rest of what an operator does in the page, on
// both stores: page through more clients than fit a page, filter, roll a
// secret (the new one shown once and working, the old one refused), see
// errors (the page's and the API's) next to the field that caused them, edit,
// delete after typing the name; the keyboard gets focus back where it was; dark mode.
func TestDashboardManage(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: dashboardRoutes})
		for i := range 52 {
			g.create(fmt.Sprintf("Batch job %02d", i), store.TypeAPIKey, []string{"ledgers:read"}, nil)
		}
		target := g.create("Rotating", store.TypeOAuth, []string{"mcp:read"}, nil)

		p := openPage(t, g.apiURL+"/admin/", 1440, 900)
		if _, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		}); err != nil {
			t.Fatal(err)
		}
		p.open()
		p.signIn("master_key", testMasterKey, "")
		if bg := eval[string](p, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(15, 17, 21)" {
			t.Errorf("dark mode background %q", bg)
		}
		rows := `document.querySelectorAll("#keys-body tr").length`
		p.wait(rows+` === 50 && `+visible("#keys-more"), "the first page of 50 with Load more")
		p.click("#keys-more")
		p.wait(rows+` === 53 && !`+visible("#keys-more"), "all 53 after Load more")
		p.run("filter OAuth", chromedp.SetValue(chromedp.CSS("#filter-type"), "oauth"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("filter-type").dispatchEvent(new Event("change"))`))
		p.wait(rows+` === 1`, "one OAuth client")

		// Details, then Escape: focus returns to the name that opened them.
		nameBtn := fmt.Sprintf(`#keys-body button[data-client-id=%q]`, target.Client.ID)
		p.clickUntil(nameBtn, `document.getElementById("details-dialog").open && document.activeElement.id === "details-close"`, "focus in the details panel")

		// Roll the secret without grace: the new one is shown once and works.
		p.click("#details-roll")
		p.run("no grace", chromedp.SetValue(chromedp.CSS("#roll-grace"), "0s"))
		p.click("#roll-submit")
		p.wait(`document.getElementById("secret-dialog").open`, "the new secret")
		p.click("#secret-copy-value")
		p.wait(`document.getElementById("secret-copy-value").textContent === "Copied"`, "Copied")
		rolled := eval[string](p, `navigator.clipboard.readText()`)
		p.click("#secret-done")
		p.click("#secret-close-confirm")
		if r := g.postToken(url.Values{"grant_type": {"client_credentials"}}, target.Client.ID, target.Secret); r.status != http.StatusUnauthorized {
			t.Fatalf("the old secret after a roll without grace: %d %s", r.status, r.raw)
		}
		g.token(target.Client.ID, rolled, nil)

		// Edit: a bad scope is refused next to the scopes field.
		p.click("#details-edit")
		p.run("clear the scopes", chromedp.Evaluate[chromedp.Void](`document.getElementById("edit-scopes").value = ""`))
		p.fill("#edit-scopes", `mcp:read"x`)
		p.click("#edit-save")
		p.wait(`document.getElementById("edit-scopes-error").textContent !== "" && document.getElementById("edit-scopes").getAttribute("aria-invalid") === "true"`, "the scope error next to the field")
		// An error only the API finds (the page's date picker starts tomorrow):
		// shown next to the expiry.
		p.run("a past expiry", chromedp.SetValue(chromedp.CSS("#edit-scopes"), "mcp:read"),
			chromedp.SetValue(chromedp.CSS("#edit-expires"), "date"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("edit-expires").dispatchEvent(new Event("change"))`),
			chromedp.SetValue(chromedp.CSS("#edit-expires-date"), "2020-01-01"))
		p.click("#edit-save")
		p.wait(`document.getElementById("edit-expires-error").textContent.includes("future") && document.getElementById("edit-scopes-error").textContent === ""`, "the API's expiry error next to the expiry")
		p.run("never expires", chromedp.SetValue(chromedp.CSS("#edit-expires"), "never"))
		p.run("fix the scopes", chromedp.SetValue(chromedp.CSS("#edit-scopes"), "mcp:write"))
		p.click("#edit-save")
		p.wait(`document.getElementById("edit-form").hidden && document.querySelector("#details-fields .scopes").textContent === "mcp:write"`, "the edited scopes")
		if c, err := g.store.GetClient(t.Context(), target.Client.ID); err != nil || c.Scopes.String() != "mcp:write" {
			t.Fatalf("stored scopes after the edit: %v %v", c, err)
		}
		p.wait(`document.querySelector("#details-history").textContent.includes("update")`, "the edit in the history")

		// Delete: only once the name is typed.
		p.click("#details-delete")
		p.fill("#delete-name", "Rotat")
		if !eval[bool](p, `document.getElementById("delete-confirm").disabled`) {
			t.Fatal("Delete is enabled before the name is typed in full")
		}
		p.fill("#delete-name", "ing")
		p.click("#delete-confirm")
		p.wait(`!document.getElementById("details-dialog").open && document.querySelectorAll("#keys-body tr").length === 0 && `+visible("#keys-empty"), "the client gone, the empty state")
		if _, err := g.store.GetClient(t.Context(), target.Client.ID); err == nil {
			t.Fatal("the deleted client is still stored")
		}

		// Keyboard: open a row's details from the keyboard, Escape, focus back.
		p.run("filter all", chromedp.Evaluate[chromedp.Void](`document.getElementById("filter-type").value = ""`),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("filter-type").dispatchEvent(new Event("change"))`))
		p.wait(rows+` === 50`, "the list again")
		p.run("focus the first name", chromedp.Focus(chromedp.CSS("#keys-body tr button.link")))
		p.run("press Enter", chromedp.KeyEvent("\r"))
		p.wait(`document.getElementById("details-dialog").open`, "details opened from the keyboard")
		p.run("press Escape", chromedp.KeyEvent("\x1b"))
		p.wait(`!document.getElementById("details-dialog").open && document.activeElement === document.querySelector("#keys-body tr button.link")`, "focus back on the name after Escape")
	})
}
