// Package clientmetadata implements OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document, "CIMD"; the MCP
// authorization spec 2025-11-25 "Client ID Metadata Documents"): a client
// that was never registered uses an https URL as its client_id, and the
// authorization server fetches the client's metadata (RFC 7591 §2 members)
// from that URL.
//
// A client_id the gateway generates never starts with "https://" (they are
// "blnk_cid_..."), so a client_id that does is a Client Identifier URL and
// nothing else: check it with ValidClientID or ParseClientID, then Resolve it.
//
// What is refused, and why:
//
//   - a client_id that is not an https URL with a host and a path other than
//     "/", or that has userinfo, a fragment, a query (the draft: SHOULD NOT;
//     refused here, so one document has one name), dot segments (plain or
//     percent-encoded: readers that normalize would fetch another document
//     than the string names), an encoded slash or backslash (%2F, %5C: a
//     segment boundary to servers that decode before routing), or more than
//     MaxClientIDLength bytes;
//   - a document that is not one JSON object of valid UTF-8, with a duplicate
//     member (two JSON parsers may keep different ones), or a known member of
//     the wrong type; members are matched by exact name (Go's own decoder
//     would take "CLIENT_ID" for client_id);
//   - a client_id member that is not the URL, compared as strings (draft §4);
//   - no client_name (the MCP authorization spec 2025-11-25 requires
//     client_id, client_name and redirect_uris);
//   - client_secret or client_secret_expires_at present, or a shared-secret
//     token_endpoint_auth_method (draft §4.1); any method but none (the
//     default) and private_key_jwt;
//   - private key material in jwks, both jwks and jwks_uri (RFC 7591 §2),
//     private_key_jwt without keys;
//   - missing redirect_uris when the grant types include authorization_code
//     (the default), or a redirect URI that is not absolute, has a fragment,
//     or is neither https, nor http on a loopback host (RFC 8252 §7.3), nor a
//     private-use scheme with a dot in it (RFC 8252 §7.1), or has a byte RFC
//     3986 does not allow (a quote in a URI that lands in a Location header);
//   - client_uri or logo_uri that are not https URLs (no javascript:),
//     client_name with control or invisible formatting characters (a
//     right-to-left override could spoof the consent page), line breaks,
//     spaces other than single U+0020 between words, stacked combining marks,
//     or nothing visible (see displayable), a scope that is not RFC 6749 §3.3
//     scope tokens.
//
// Unknown members are ignored. Size, time, address and caching rules are
// the safefetch.Fetcher's; a document found invalid is not kept (draft §4.2)
// but remembered as a failure for the fetcher's FailureTTL.
package clientmetadata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
)

// MaxClientIDLength bounds a Client Identifier URL (bytes). The draft sets
// none; client IDs are stored, logged and put in tokens, so this one is short.
const MaxClientIDLength = 1024

// Document is a validated Client ID Metadata Document: the RFC 7591 §2
// client metadata the authorization server uses.
type Document struct {
	// ClientID is the Client Identifier URL, equal to the URL fetched.
	ClientID string `json:"client_id"`
	// ClientName is for the consent page; never empty (the MCP authorization
	// spec requires it). Show the client_id's host beside it (draft §6.4): the
	// name is the client's own claim.
	ClientName string `json:"client_name,omitempty"`
	// ClientURI is an https URL of a page about the client; may be "".
	ClientURI string `json:"client_uri,omitempty"`
	// LogoURI is an https URL of the client's logo; may be "".
	LogoURI string `json:"logo_uri,omitempty"`
	// RedirectURIs are the registered redirect URIs, to be matched exactly
	// (RFC 9700 §4.1.3; any port for loopback IP literals, RFC 8252 §7.3).
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// GrantTypes defaults to ["authorization_code"] (RFC 7591 §2). Values are
	// not checked: the authorization server grants only what it supports.
	// Anyone on the internet can publish a document, so a grant without a
	// person's consent (client_credentials) must never go to a Client
	// Identifier URL the operator has not approved, whatever its
	// token_endpoint_auth_method: private_key_jwt proves the client owns its
	// URL, not that it is trusted. A document without authorization_code
	// may have no redirect_uris; the authorization endpoint refuses it.
	GrantTypes []string `json:"grant_types"`
	// ResponseTypes defaults to ["code"] (RFC 7591 §2).
	ResponseTypes []string `json:"response_types"`
	// TokenEndpointAuthMethod is "none" (the default here, not RFC 7591's
	// client_secret_basic: a document cannot hold a secret) or "private_key_jwt".
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
	// JWKS is the jwks member as sent (a JSON object with a "keys" array of
	// public keys), or nil.
	JWKS json.RawMessage `json:"jwks,omitempty"`
	// JWKSURI is the jwks_uri member (an https URL passing
	// safefetch.CheckURL), or "". At most one of JWKS and JWKSURI is set.
	JWKSURI string `json:"jwks_uri,omitempty"`
	// Scope is the scope member: space-separated scope tokens, or "".
	Scope string `json:"scope,omitempty"`
}

// Token endpoint authentication methods a document may name.
const (
	AuthMethodNone          = "none"
	AuthMethodPrivateKeyJWT = "private_key_jwt"
)

// ValidClientID reports whether s is a Client Identifier URL (see ParseClientID).
func ValidClientID(s string) bool {
	_, err := ParseClientID(s)
	return err == nil
}

// ParseClientID checks that s is a Client Identifier URL (draft §3, with the
// stricter choices in the package doc) and returns it parsed; else an *Error
// with ReasonClientID.
func ParseClientID(s string) (*url.URL, error) {
	bad := func(detail string, err error) (*url.URL, error) {
		return nil, &Error{Reason: ReasonClientID, Detail: detail, Err: err}
	}
	if len(s) > MaxClientIDLength {
		return bad("longer than "+strconv.Itoa(MaxClientIDLength)+" bytes", nil)
	}
	u, err := safefetch.CheckURL(s)
	if err != nil {
		return bad("", err)
	}
	if strings.IndexByte(s, '?') >= 0 {
		return bad("has a query", nil)
	}
	// CheckURL guarantees the authority as written is u.Host, and there is
	// no query or fragment: the rest of s is the path exactly as sent.
	path := s[len("https://")+len(u.Host):]
	if path == "" || path == "/" {
		return bad("has no path", nil)
	}
	// An encoded "/" (or a backslash, a separator to some servers) makes segment
	// boundaries, and so dot segments, depend on whether the server decodes
	// before routing: "/victim%2F..%2Fattacker/" is served as "/attacker/"
	// by one that does.
	lower := strings.ToLower(path)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return bad("has an encoded slash or backslash", nil)
	}
	for _, seg := range strings.Split(path[1:], "/") {
		if isDotSegment(seg) {
			return bad("has a dot segment", nil)
		}
	}
	return u, nil
}

// isDotSegment: ".", "..", and their percent-encoded spellings, which RFC
// 3986 §6.2.2.2 normalization turns into dots.
func isDotSegment(seg string) bool {
	if len(seg) > 6 {
		return false
	}
	s := strings.ReplaceAll(strings.ToLower(seg), "%2e", ".")
	return s == "." || s == ".."
}

// MaxDocumentBytes is the largest document NewResolver's fetcher reads by
// default: the draft's recommendation (§6.6, "Maximum Response Size").
const MaxDocumentBytes = 5 << 10

// Resolver fetches and validates documents.
type Resolver struct {
	// Fetcher fetches the documents, with its SSRF rules, limits and cache.
	// It should be this Resolver's own (its MaxBytes suits documents, not
	// JWKS); NewResolver builds one.
	Fetcher *safefetch.Fetcher
}

// NewResolver returns a Resolver with a Fetcher of its own built from opts,
// whose MaxBytes defaults to MaxDocumentBytes instead of safefetch's default.
func NewResolver(opts safefetch.Options) *Resolver {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = MaxDocumentBytes
	}
	return &Resolver{Fetcher: safefetch.New(opts)}
}

// Resolve returns the validated document of clientID, from the fetcher's
// cache while fresh. Every error is an *Error; ReasonFetch wraps the
// *safefetch.Error. A document found invalid is dropped from the cache and
// its error returned for the fetcher's FailureTTL without a new fetch.
func (r *Resolver) Resolve(ctx context.Context, clientID string) (*Document, error) {
	if _, err := ParseClientID(clientID); err != nil {
		return nil, err
	}
	body, err := r.Fetcher.Get(ctx, clientID)
	if err != nil {
		var own *Error
		if errors.As(err, &own) { // a document rejected earlier: its own reason again
			return nil, own
		}
		return nil, &Error{Reason: ReasonFetch, Err: err}
	}
	d, err := Parse(clientID, body)
	if err != nil {
		r.Fetcher.Reject(clientID, err)
		return nil, err
	}
	return d, nil
}

// Parse validates body as the document at clientID (which must already be a
// valid Client Identifier URL) and returns it. It fetches nothing: an
// operator who pre-registers a Client Identifier URL (draft §5.2) can use it
// on a document obtained otherwise.
func Parse(clientID string, body []byte) (*Document, error) {
	m, err := members(body)
	if err != nil {
		return nil, err
	}
	bad := func(reason Reason, detail string) (*Document, error) {
		return nil, &Error{Reason: reason, Detail: detail}
	}
	for _, k := range []string{"client_secret", "client_secret_expires_at"} {
		if _, ok := m[k]; ok {
			return bad(ReasonSecret, k+" is present")
		}
	}
	d := &Document{}
	var errs []error
	str := func(name string, dst *string) {
		if raw, ok := m[name]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				errs = append(errs, &Error{Reason: ReasonDocument, Detail: name + " is not a string"})
			}
		}
	}
	strs := func(name string, dst *[]string) {
		if raw, ok := m[name]; ok {
			if err := json.Unmarshal(raw, dst); err != nil || slices.Contains(*dst, "") {
				errs = append(errs, &Error{Reason: ReasonDocument, Detail: name + " is not an array of non-empty strings"})
			}
		}
	}
	str("client_id", &d.ClientID)
	str("client_name", &d.ClientName)
	str("client_uri", &d.ClientURI)
	str("logo_uri", &d.LogoURI)
	strs("redirect_uris", &d.RedirectURIs)
	strs("grant_types", &d.GrantTypes)
	strs("response_types", &d.ResponseTypes)
	str("token_endpoint_auth_method", &d.TokenEndpointAuthMethod)
	str("jwks_uri", &d.JWKSURI)
	str("scope", &d.Scope)
	if len(errs) > 0 {
		return nil, errs[0]
	}

	if d.ClientID != clientID {
		if d.ClientID == "" {
			return bad(ReasonMismatch, "client_id is missing")
		}
		return bad(ReasonMismatch, "")
	}

	switch d.TokenEndpointAuthMethod {
	case "":
		d.TokenEndpointAuthMethod = AuthMethodNone
	case AuthMethodNone, AuthMethodPrivateKeyJWT:
	case "client_secret_basic", "client_secret_post", "client_secret_jwt":
		return bad(ReasonSecret, "token_endpoint_auth_method is a shared-secret method")
	default:
		return bad(ReasonAuthMethod, "")
	}

	if raw, ok := m["jwks"]; ok && !bytes.Equal(raw, []byte("null")) {
		if err := checkJWKS(raw); err != nil {
			return nil, err
		}
		d.JWKS = append(json.RawMessage(nil), raw...)
	}
	if d.JWKSURI != "" {
		if d.JWKS != nil {
			return bad(ReasonKeys, "both jwks and jwks_uri")
		}
		if _, err := safefetch.CheckURL(d.JWKSURI); err != nil {
			return nil, &Error{Reason: ReasonKeys, Detail: "jwks_uri", Err: err}
		}
	}
	if d.TokenEndpointAuthMethod == AuthMethodPrivateKeyJWT && d.JWKS == nil && d.JWKSURI == "" {
		return bad(ReasonKeys, "private_key_jwt without jwks or jwks_uri")
	}

	if d.GrantTypes == nil {
		d.GrantTypes = []string{"authorization_code"}
	}
	if d.ResponseTypes == nil {
		d.ResponseTypes = []string{"code"}
	}
	if slices.Contains(d.GrantTypes, "authorization_code") && len(d.RedirectURIs) == 0 {
		return bad(ReasonRedirectURI, "redirect_uris is missing or empty")
	}
	for i, ru := range d.RedirectURIs {
		if why := checkRedirectURI(ru); why != "" {
			return bad(ReasonRedirectURI, "redirect_uris["+strconv.Itoa(i)+"]: "+why)
		}
	}

	for name, v := range map[string]string{"client_uri": d.ClientURI, "logo_uri": d.LogoURI} {
		if v != "" && !httpsURL(v) {
			return bad(ReasonDocument, name+" is not an https URL")
		}
	}
	if strings.TrimSpace(d.ClientName) == "" {
		// MCP authorization 2025-11-25, "Client ID Metadata Documents": the
		// document MUST include client_id, client_name and redirect_uris, and
		// the authorization server MUST check that it does.
		return bad(ReasonDocument, "client_name is missing")
	}
	if !displayable(d.ClientName) {
		return bad(ReasonDocument, "client_name has control or formatting characters, is too long, or would not show as written")
	}
	if !validScope(d.Scope) {
		return bad(ReasonDocument, "scope is not space-separated scope tokens")
	}
	return d, nil
}

// members reads body as exactly one JSON object and returns its members by
// exact name, refusing invalid UTF-8 (decoders replace it, each its own way),
// duplicate names and anything after the object.
func members(body []byte) (map[string]json.RawMessage, error) {
	bad := func(detail string) (map[string]json.RawMessage, error) {
		return nil, &Error{Reason: ReasonDocument, Detail: detail}
	}
	if !utf8.Valid(body) {
		return bad("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bad("not a JSON object")
	}
	m := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("not JSON")
		}
		name, ok := tok.(string)
		if !ok {
			return bad("not JSON")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return bad("not JSON")
		}
		if _, dup := m[name]; dup {
			return bad("duplicate member")
		}
		m[name] = raw
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return bad("not JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("data after the JSON object")
	}
	return m, nil
}

// privateMembers are the JWK members of private or symmetric keys (RFC 7518
// §6.2.2, §6.3.2, §6.4; RFC 8037 §2 uses "d" too).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// CheckJWKS checks a JSON Web Key Set fetched from a jwks_uri by the rules
// Parse applies to an inline jwks (see checkJWKS): one JSON object of valid
// UTF-8 with a "keys" array, no duplicate members, every key with a kty, no
// symmetric ("oct") key, no private key material. A jwks_uri document is as
// public as its URL, so such a key is one anyone may sign client assertions
// with. Call it on every body safefetch returns for a jwks_uri, before
// looking for a kid, and on failure Reject the URL. Errors are *Error with
// ReasonKeys and never quote the keys.
func CheckJWKS(body []byte) error { return checkJWKS(body) }

// checkJWKS: an object with a "keys" array of objects, each with a string
// kty other than "oct", none holding private or symmetric key material, no
// duplicate members at either level, not even in another case: the JOSE
// library the keys go to may match names as Go's encoding/json does, case-
// insensitively and keeping the last, and would then read {"keys":[EC],
// "KEYS":[oct]} as the oct key, or "D" as a private exponent.
func checkJWKS(raw json.RawMessage) error {
	bad := func(detail string) error { return &Error{Reason: ReasonKeys, Detail: detail} }
	set, err := members(raw)
	if err != nil {
		return bad("jwks is not a JSON object")
	}
	if foldClash(set) {
		return bad("jwks has members differing only in case")
	}
	var keys []json.RawMessage
	if err := json.Unmarshal(set["keys"], &keys); err != nil || keys == nil {
		return bad("jwks has no keys array")
	}
	for i, k := range keys {
		key, err := members(k)
		if err != nil {
			return bad("jwks.keys[" + strconv.Itoa(i) + "] is not a JSON object")
		}
		if foldClash(key) {
			return bad("jwks.keys[" + strconv.Itoa(i) + "] has members differing only in case")
		}
		var kty string
		if err := json.Unmarshal(key["kty"], &kty); err != nil || kty == "" {
			return bad("jwks.keys[" + strconv.Itoa(i) + "] has no kty")
		}
		if kty == "oct" {
			return bad("jwks.keys[" + strconv.Itoa(i) + "] is a symmetric key")
		}
		for name := range key {
			if slices.Contains(privateMembers, fold(name)) {
				return bad("jwks.keys[" + strconv.Itoa(i) + "] holds private key material")
			}
		}
	}
	return nil
}

// fold is name as a case-insensitive JSON reader compares it (Go's
// encoding/json maps each rune r to ToUpper(ToLower(r)), so the Kelvin sign
// folds to "K"), lower-cased back so that it compares with the lower-case
// member names of the JOSE specs.
func fold(name string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(unicode.ToLower(r))) }, name)
}

// foldClash reports whether two members of m have the same folded name.
func foldClash(m map[string]json.RawMessage) bool {
	seen := make(map[string]bool, len(m))
	for name := range m {
		f := fold(name)
		if seen[f] {
			return true
		}
		seen[f] = true
	}
	return false
}

// checkRedirectURI returns why ru is not an acceptable redirect URI, or "".
func checkRedirectURI(ru string) string {
	if len(ru) > 2048 {
		return "too long"
	}
	if !uriChars(ru) {
		return "has a byte RFC 3986 does not allow"
	}
	if strings.IndexByte(ru, '#') >= 0 {
		return "has a fragment"
	}
	u, err := url.Parse(ru)
	if err != nil || u.Scheme == "" {
		return "not an absolute URI"
	}
	// Scheme as written must be lower case: matched as strings later, and
	// "HTTPS:" would otherwise escape the rules below.
	if !strings.HasPrefix(ru, u.Scheme+":") {
		return "scheme is not lower case"
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" || u.Opaque != "" {
			return "https without a host"
		}
		if u.User != nil {
			return "has userinfo"
		}
	case "http":
		if u.User != nil || u.Opaque != "" {
			return "malformed http URI"
		}
		if !loopbackHost(u.Hostname()) {
			return "http on a non-loopback host"
		}
	default:
		// RFC 8252 §7.1: private-use schemes are reverse domain names, so
		// they have a dot; javascript:, data:, file: have none.
		if !strings.Contains(u.Scheme, ".") {
			return "scheme is neither https, loopback http nor a private-use (reverse domain) scheme"
		}
	}
	return ""
}

// loopbackHost: "localhost", or an IP literal in 127.0.0.0/8 or ::1 (RFC
// 8252 §7.3, §8.3).
func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Zone() == "" && !a.Is4In6() && a.IsLoopback()
}

// uriChars reports whether s has only the bytes RFC 3986 §2 allows in a
// URI. Redirect URIs are matched as strings and written into Location
// headers and pages, client_uri and logo_uri into links: a quote, angle
// bracket or space in them would be read differently by the browser, if it
// did not end the attribute first.
func uriChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0) {
			return false
		}
	}
	return true
}

// httpsURL: an https URL with a host and no userinfo, of RFC 3986 bytes.
func httpsURL(s string) bool {
	if len(s) > 2048 {
		return false
	}
	if !uriChars(s) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && strings.HasPrefix(s, "https://") && u.Host != "" && u.User == nil
}

// displayable: what the consent page shows as the client's name must read
// as what it is. At most 200 characters; none a control, invisible
// formatting character (bidi overrides, zero-width joiners: Cf), line or
// paragraph separator (a forced line break), private-use, surrogate or
// unassigned code point; no space but U+0020, never two in a row nor at
// either end (runs of spaces push a "(verified)" away from the name); no
// more than maxMarks combining marks in a row (stacked marks draw over the
// lines above and below, where the host is); and something visible: not
// only marks and the letters that render blank (Hangul fillers, the braille
// blank).
func displayable(s string) bool {
	if utf8.RuneCountInString(s) > 200 || s == "" || s[0] == ' ' || s[len(s)-1] == ' ' ||
		strings.Contains(s, "  ") {
		return false
	}
	visible := false
	marks := 0
	for _, r := range s {
		switch {
		case r == utf8.RuneError, unicode.IsControl(r),
			unicode.In(r, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp):
			return false
		case unicode.Is(unicode.Zs, r):
			if r != ' ' {
				return false
			}
			marks = 0
		case unicode.Is(unicode.M, r):
			if marks++; marks > maxMarks {
				return false
			}
		case unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S):
			marks = 0
			if !blankLetter(r) {
				visible = true
			}
		default: // unassigned in the Unicode version Go knows
			return false
		}
	}
	return visible
}

// maxMarks is the most combining marks displayable allows on one base
// character: scripts written with them (Vietnamese, Devanagari, Hebrew
// points) need two or three.
const maxMarks = 4

// blankLetter: characters of a visible category that render as nothing.
func blankLetter(r rune) bool {
	switch r {
	case '\u115f', '\u1160', '\u3164', '\uffa0', // Hangul fillers (Lo)
		'\u2800': // braille pattern blank (So)
		return true
	}
	return false
}

// validScope: scope tokens of %x21 / %x23-5B / %x5D-7E separated by single
// spaces (RFC 6749 §3.3), or "".
func validScope(s string) bool {
	if s == "" {
		return true
	}
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return false
			}
		}
	}
	return true
}
