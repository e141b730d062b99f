package dashboard

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
)

// maxNext bounds a next parameter: the authorization endpoint sends the
// consent page no request whose URL is longer (authcode.MaxNext), and the
// flow cookie that carries it through a sign-in at the provider fits
// (browsers keep cookies up to 4 KiB).
const maxNext = authcode.MaxNext

// safeNext decides where a sign-in may go afterwards: a path on this very
// site, under the dashboard's mount or the authorization endpoint
// (AuthorizePath), with a query. Anything a browser could read as another
// site is refused — absolute URLs, scheme-relative //host, backslashes
// (which browsers read as slashes), control characters and spaces — and so
// is anything whose path could mean something else once decoded or
// normalised: percent-escapes, dot segments, empty segments. The value
// returned is exactly the value given.
func (h *Handler) safeNext(r *http.Request, next string) (string, bool) {
	if next == "" || len(next) > maxNext || next[0] != '/' || strings.HasPrefix(next, "//") {
		return "", false
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c == 0x7f || c == '\\' || c >= 0x80 {
			return "", false
		}
	}
	p, query, _ := strings.Cut(next, "?")
	if strings.ContainsAny(p, "%#") || strings.Contains(p, "//") || strings.ContainsRune(query, '#') {
		return "", false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return "", false
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Path != p {
		return "", false
	}
	if _, err := url.ParseQuery(query); err != nil {
		return "", false
	}
	mount := h.mount(r)
	if strings.HasPrefix(p, mount+"/") || (h.cfg.AuthorizePath != "" && p == h.cfg.AuthorizePath) {
		return next, true
	}
	return "", false
}

// mount is the dashboard's mount path without a trailing slash ("" at the
// root).
func (h *Handler) mount(r *http.Request) string {
	if h.cfg.MountPath == nil {
		return ""
	}
	if p := strings.TrimSuffix(h.cfg.MountPath(r), "/"); strings.HasPrefix(p, "/") {
		return p
	}
	return ""
}
