package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestConsentPageBrowser drives the authorization-code flow in Chromium: the
// authorization endpoint sends the browser to the consent page, which sends
// it to sign in and back; Approve posts the form and the browser lands on the
// client's loopback redirect URI (so the page's CSP form-action lets the
// redirect through) with code, state and iss; x/oauth2 exchanges the code;
// the client's details then list the grant, and Revoke ends it.
func TestConsentPageBrowser(t *testing.T) {
	g := authcodeGateway(t, kindSQLite)
	c, cfg := g.oauthClient("mcp:read", "ledgers:read")

	var (
		mu  sync.Mutex
		got url.Values
	)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r) // the browser's favicon request
			return
		}
		mu.Lock()
		got = r.URL.Query()
		mu.Unlock()
		fmt.Fprint(w, "<!doctype html><title>done</title><p id=done>You may close this window.</p>")
	}))
	t.Cleanup(cb.Close)
	cfg.RedirectURL = cb.URL + "/callback" // any port of the registered loopback URI

	p := openPage(t, g.apiURL+"/admin/", 1000, 800)
	verifier := oauth2.GenerateVerifier()
	p.run("opening the authorization URL", chromedp.Navigate(cfg.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier))))
	// Not signed in: the dashboard's sign-in form, which comes back afterwards.
	p.wait(visible("#signin-form"), "the sign-in form")
	p.fill("#signin-key", testMasterKey)
	p.click("#signin-submit")
	p.wait(`!!document.getElementById("consent-approve")`, "the consent page after sign-in")
	if name := p.text("#consent-client"); name != "Claude Desktop" {
		t.Errorf("consent page names %q", name)
	}
	if s := p.text("#consent-scopes"); s != "mcp:read" {
		t.Errorf("consent page scopes %q, want only what was asked", s)
	}
	p.click("#consent-approve")
	p.wait(`!!document.getElementById("done")`, "the client's redirect URI")
	mu.Lock()
	q := got
	mu.Unlock()
	if q.Get("state") != "browser-state" || q.Get("iss") != g.authURL || q.Get("code") == "" {
		t.Fatalf("the client received %v", q)
	}
	tok, err := cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || g.mcpStatus(tok.AccessToken) != http.StatusOK {
		t.Fatalf("exchange: %v", err)
	}

	// A grant of an application known only by its metadata document (stored
	// as the flow stores it) is listed under the table, and Revoke ends it.
	docGrant := &store.Grant{ClientID: "https://host.example/client.json", PersonID: "master", PersonName: "Master key", Scopes: scope.MustParse("mcp:read"), CreatedAt: time.Now()}
	if err := g.store.SaveGrant(context.Background(), docGrant, store.Audit{Time: time.Now(), Actor: "master"}); err != nil {
		t.Fatal(err)
	}

	// The details panel lists the grant; Revoke (twice) ends it and its refresh token.
	p.open()
	p.wait(visible("#keys-view"), "the API Keys table")
	p.wait(visible("#docgrants-section")+` && document.querySelectorAll("#docgrants li[data-person]").length === 1`, "the unregistered application's grant")
	p.click(`#docgrants li[data-client-id="https://host.example/client.json"] button.grant-revoke`)
	p.click(`#docgrants li[data-client-id="https://host.example/client.json"] button.grant-revoke`)
	p.wait(`!`+visible("#docgrants-section"), "the unregistered application's grant revoked")
	if list, err := g.store.ListMetadataGrants(context.Background(), 10); err != nil || len(list) != 0 {
		t.Fatalf("grants left: %+v %v", list, err)
	}
	nameBtn := fmt.Sprintf(`#keys-body button[data-client-id=%q]`, c.Client.ID)
	p.clickUntil(nameBtn, `document.getElementById("details-dialog").open`, "the details panel")
	p.wait(`document.querySelectorAll("#details-grants li[data-person]").length === 1`, "one grant listed")
	if who := p.text(`#details-grants li[data-person="master"] strong`); who != "Master key" {
		t.Errorf("grant names %q", who)
	}
	p.click(`#details-grants li[data-person="master"] button.grant-revoke`)
	p.click(`#details-grants li[data-person="master"] button.grant-revoke`)
	p.wait(`document.querySelectorAll("#details-grants li[data-person]").length === 0`, "the grant gone")
	if _, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("refresh after revoking in the dashboard: %v", err)
	}
}
