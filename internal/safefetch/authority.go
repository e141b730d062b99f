package safefetch

import (
	"net/url"
	"strings"
)

// SameAuthority reports whether a and b name the same host (any case) and
// port (the scheme's default when none is written): a caller refuses to
// fetch from its own authority (a jwks_uri on the gateway's issuer), which
// no address rule catches when the gateway is public. Another port of the
// same host is another server, as it is to a browser.
func SameAuthority(a, b *url.URL) bool {
	if a == nil || b == nil {
		return false
	}
	return strings.EqualFold(a.Hostname(), b.Hostname()) && effectivePort(a) == effectivePort(b)
}

// effectivePort is u's port, or its scheme's default.
func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}
