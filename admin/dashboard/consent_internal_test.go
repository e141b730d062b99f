package dashboard

import (
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// consentBody renders the consent page for client c and a request to redirect.
func consentBody(t *testing.T, c *store.Client, redirect string) string {
	t.Helper()
	h := &Handler{logger: zaptest.NewLogger(t)}
	r := httptest.NewRequest(http.MethodGet, "/authorize?request=x", nil)
	r.AddCookie(&http.Cookie{Name: CookieName, Value: "session-token"})
	w := httptest.NewRecorder()
	req := authcode.Request{ClientID: c.ID, RedirectURI: redirect}
	h.showConsent(w, r, "sealed", req, c, Person{ID: "master", Name: "Master key"}, scope.MustParse("mcp:read"))
	return w.Body.String()
}

// TestConsentPageUnregisteredClient: for a client known only by its metadata
// document, which names itself, the page leads with the host that publishes
// the document (the one thing about it that is verified), not the name it
// claims; the claimed name is isolated in <bdi> (a right-to-left override in
// it cannot reorder the text around it); and when the redirect URI's host is
// not the document's host, the page says where the answer goes (the callers'
// rules of internal/clientmetadata, 3).
func TestConsentPageUnregisteredClient(t *testing.T) {
	spoof := "Claude \u202eevil"
	c := &store.Client{ID: "https://Apps.Example.COM/client.json", Name: spoof, Type: store.TypeOAuth}
	body := consentBody(t, c, "https://collector.example.net/cb")
	text := html.UnescapeString(body)

	h1 := regexp.MustCompile(`(?s)<h1[^>]*>(.*?)</h1>`).FindStringSubmatch(text)
	if h1 == nil || !strings.Contains(h1[1], "apps.example.com") || strings.Contains(h1[1], "Claude") {
		t.Errorf("the heading must name the document's host (lower case), not the claimed name: %q", h1)
	}
	title := regexp.MustCompile(`<title>(.*?)</title>`).FindStringSubmatch(text)
	if title == nil || !strings.Contains(title[1], "apps.example.com") || strings.Contains(title[1], "Claude") {
		t.Errorf("the title must name the host, not the claimed name: %q", title)
	}
	inBdi := regexp.MustCompile(`<bdi[^>]*>` + spoof + `</bdi>`)
	if n := strings.Count(text, spoof); n == 0 || n != len(inBdi.FindAllString(text, -1)) {
		t.Errorf("the claimed name appears %d times, not always inside <bdi>: %s", n, body)
	}
	if !strings.Contains(body, `id="consent-redirect-warning"`) || !strings.Contains(text, "collector.example.net") {
		t.Errorf("no warning that the answer goes to another host than the document's: %s", body)
	}
	// A native app's loopback redirect URI: said to be on this computer.
	if body := html.UnescapeString(consentBody(t, c, "http://127.0.0.1:53682/cb")); !strings.Contains(body, "an application on this computer (127.0.0.1:53682)") {
		t.Errorf("a loopback redirect URI is not said to be on this computer: %s", body)
	}
	// Same host, in another case: no warning.
	if body := consentBody(t, c, "https://apps.example.com/cb"); strings.Contains(body, `id="consent-redirect-warning"`) {
		t.Errorf("warned for a redirect URI on the document's own host")
	}

	// A registered client keeps its name as the heading; its name is in <bdi> too.
	reg := &store.Client{ID: "blnk_cid_x", Name: spoof, Type: store.TypeOAuth}
	body = consentBody(t, reg, "https://collector.example.net/cb")
	text = html.UnescapeString(body)
	if n := strings.Count(text, spoof); n == 0 || n != len(inBdi.FindAllString(text, -1))+strings.Count(text, "<title>Authorize "+spoof+"</title>") {
		t.Errorf("a registered client's name outside <bdi>: %s", body)
	}
	if strings.Contains(body, `id="consent-redirect-warning"`) {
		t.Errorf("warned about a registered client's redirect URI, which the operator registered")
	}
}
