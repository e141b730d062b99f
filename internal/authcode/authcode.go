// Package authcode holds the pieces of the OAuth 2.0 authorization-code flow
// (RFC 6749 §4.1, OAuth 2.1, PKCE RFC 7636) that the authorization endpoint
// (internal/authserver) and the consent page (admin/dashboard) share: the
// pending authorization request, sealed so that it crosses the browser
// tamper-proof; redirect URI matching (RFC 8252 §7.3); PKCE; the opaque
// codes and refresh tokens; and the authorization response (RFC 9207 iss).
// It knows nothing about Caddy or HTTP routing.
package authcode

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/url"
	"strings"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// Prefixes of the opaque values the flow hands out, so that a leaked one is
// recognisable (secret scanners) and the revocation endpoint can tell a
// refresh token from an access token without a lookup.
const (
	CodePrefix    = "blnk_ac_"
	RefreshPrefix = "blnk_rt_"
)

// newOpaque is prefix and 32 random bytes in base64url.
func newOpaque(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// NewCode is a fresh authorization code.
func NewCode() string { return newOpaque(CodePrefix) }

// NewRefreshToken is a fresh refresh token.
func NewRefreshToken() string { return newOpaque(RefreshPrefix) }

// NewFamily names the refresh tokens descending from one code.
func NewFamily() string { return newOpaque("")[:22] }

// IsRefreshToken reports whether s has the shape of one of our refresh tokens.
func IsRefreshToken(s string) bool {
	return strings.HasPrefix(s, RefreshPrefix) && len(s) == len(RefreshPrefix)+43
}

// IsCode reports whether s has the shape of one of our codes.
func IsCode(s string) bool { return strings.HasPrefix(s, CodePrefix) && len(s) == len(CodePrefix)+43 }

// ValidChallenge: an S256 code_challenge is the base64url (no padding) of a
// SHA-256, 43 characters (RFC 7636 §4.2).
func ValidChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// ValidVerifier: 43 to 128 unreserved characters (RFC 7636 §4.1).
func ValidVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// VerifierMatches checks a code_verifier against an S256 challenge (RFC
// 7636 §4.6) in constant time.
func VerifierMatches(verifier, challenge string) bool {
	if !ValidVerifier(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// ValidRedirectURI reports whether u may be registered as a redirect URI:
// an absolute URI without a fragment (RFC 6749 §3.1.2), https, http only on
// a loopback host (RFC 8252 §7.3, §8.3), or a private-use scheme with a dot
// or a known desktop host's name (RFC 8252 §7.1); no spaces, at most 2000
// bytes.
func ValidRedirectURI(s string) bool {
	if len(s) == 0 || len(s) > 2000 || strings.ContainsAny(s, " \t\r\n#") {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Fragment != "" || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return u.Host != ""
	case "http":
		return isLoopback(u.Hostname())
	case "javascript", "data", "file", "vbscript", "blob", "about":
		return false
	}
	return true
}

// isLoopback: 127.0.0.0/8, ::1 or localhost.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MatchRedirectURI reports whether got is one of the registered redirect
// URIs: byte for byte, except that for an http URI on a loopback IP literal
// (127.0.0.0/8, [::1]) the port may be any (RFC 8252 §7.3: native apps listen
// on an ephemeral port). Never for "localhost": a name may resolve off the
// machine (§8.3), so such a URI matches with its registered port only.
// Nothing is normalised: two parties reading the same URI must read it the
// same way.
func MatchRedirectURI(registered []string, got string) bool {
	gu, err := url.Parse(got)
	if err != nil || strings.Contains(got, "#") || gu.User != nil {
		return false
	}
	for _, r := range registered {
		if r == got {
			return true
		}
		if !strings.HasPrefix(got, "http://") || !strings.HasPrefix(r, "http://") {
			continue
		}
		ru, err := url.Parse(r)
		if err != nil || !isLoopbackIP(ru.Hostname()) || ru.Hostname() != gu.Hostname() {
			continue
		}
		// Same URI but for the port: compare the texts with the ports cut.
		if withoutPort(r, ru) == withoutPort(got, gu) && validPort(gu.Port()) {
			return true
		}
	}
	return false
}

// isLoopbackIP: a loopback IP literal, never a name.
func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withoutPort is an http URI's text with the port cut from its authority.
func withoutPort(raw string, u *url.URL) string {
	rest := strings.TrimPrefix(raw, "http://")
	i := strings.IndexAny(rest, "/?")
	if i < 0 {
		i = len(rest)
	}
	return u.Hostname() + "\x00" + rest[i:]
}

func validPort(p string) bool {
	if p == "" {
		return true
	}
	if len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n > 0 && n < 65536
}

// Meet is what both a and b cover: the scopes of a that b covers and those
// of b that a covers ("*" meet "mcp:read" is "mcp:read").
func Meet(a, b scope.Set) scope.Set {
	return a.Filter(b).Union(b.Filter(a))
}

// Response is the authorization response URI: redirectURI with params and
// iss (RFC 9207) added to its query, keeping the query it already has.
func Response(redirectURI, issuer string, params url.Values) string {
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	q.Set("iss", issuer)
	sep := "?"
	if strings.Contains(redirectURI, "?") {
		sep = "&"
		if strings.HasSuffix(redirectURI, "?") || strings.HasSuffix(redirectURI, "&") {
			sep = ""
		}
	}
	return redirectURI + sep + q.Encode()
}
