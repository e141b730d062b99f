package dashboard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSafeNext: after a sign-in the page goes only to a path of this site
// under the mount or the authorization endpoint; every way of naming
// another site, or a path that decodes or normalises into another one, is
// refused.
func TestSafeNext(t *testing.T) {
	h := New(Config{MountPath: func(*http.Request) string { return "/admin" }, AuthorizePath: "/oauth/authorize"})
	r := httptest.NewRequest(http.MethodGet, "http://gw.example.com/ui/session", nil)
	for _, next := range []string{
		"/admin/",
		"/admin/ui/index.html",
		"/admin/?tab=audit",
		"/oauth/authorize?client_id=abc&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&state=x%2Fy",
	} {
		if got, ok := h.safeNext(r, next); !ok || got != next {
			t.Errorf("safeNext(%q) = %q, %v; want it allowed as it is", next, got, ok)
		}
	}
	for _, next := range []string{
		"",
		"https://evil.example.com/admin/",
		"http:/admin/",
		"//evil.example.com/admin/",
		"///evil.example.com",
		"/\\evil.example.com",
		"\\\\evil.example.com",
		"/admin\\..\\..\\evil",
		"javascript:alert(1)",
		"data:text/html,x",
		"admin/",
		" /admin/",
		"/admin/\t",
		"/admin/\r\nSet-Cookie: x=y",
		"/admin/../oauth/token",
		"/admin/./",
		"/admin/%2e%2e/evil",
		"/admin/%2F%2Fevil.example.com",
		"/admin//evil.example.com",
		"/admin/#fragment",
		"/admin/?x=1#frag",
		"/admin",       // not under the mount: "/adminx" would match a prefix
		"/adminx/",     // not the mount
		"/oauth/token", // another endpoint of the issuer
		"/oauth/authorize/x",
		"/oauth/authorizex",
		"/mcp",
		"/admin/\u00e9",
		"/admin/?q=%zz",
		"/admin/?q=" + strings.Repeat("x", maxNext),
	} {
		if got, ok := h.safeNext(r, next); ok {
			t.Errorf("safeNext(%q) = %q allowed; want refused", next, got)
		}
	}
	// At the root every path of the site is under the mount; other sites
	// still are not.
	root := New(Config{})
	if _, ok := root.safeNext(r, "//evil.example.com/"); ok {
		t.Error("safeNext allowed //host at the root")
	}
	if _, ok := root.safeNext(r, "/"); !ok {
		t.Error("safeNext refused the root of a dashboard mounted at the root")
	}
}
