package safefetch

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// MaxURLLength bounds the URLs Get accepts (bytes).
const MaxURLLength = 2048

// CheckURL parses rawURL and applies the rules every fetched URL must pass
// before any network traffic: https scheme (lower case, as RFC 3986 §6.2.2.1
// normalizes it, so that two readers of the string agree), a host that is a
// DNS name of ASCII letters, digits, '-' and '.', or an IP literal; optional
// port; no userinfo; no fragment (not even an empty one); only the bytes RFC
// 3986 allows (no space, control, non-ASCII, backslash, quote, braces...),
// so that the request line Go writes is the string itself; at most
// MaxURLLength bytes. A query is
// allowed (a jwks_uri may have one). The addresses the host resolves to are
// checked later, when dialling.
//
// It returns the parsed URL, or an *Error with ReasonURL.
func CheckURL(rawURL string) (*url.URL, error) {
	bad := func(detail string) (*url.URL, error) {
		return nil, &Error{Reason: ReasonURL, Detail: detail}
	}
	if len(rawURL) > MaxURLLength {
		return bad("longer than " + strconv.Itoa(MaxURLLength) + " bytes")
	}
	for i := 0; i < len(rawURL); i++ {
		if !uriChar[rawURL[i]] {
			// Go's client would percent-encode such a byte in the path
			// ("/a\"b" is requested as "/a%22b") or send it raw in the query:
			// either way not the URL the string names, for some reader.
			return bad("contains a byte RFC 3986 does not allow")
		}
	}
	if strings.IndexByte(rawURL, '#') >= 0 {
		return bad("has a fragment")
	}
	if !strings.HasPrefix(rawURL, "https://") {
		return bad("scheme is not https")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return bad("does not parse")
	}
	if u.Scheme != "https" || u.Opaque != "" {
		return bad("scheme is not https")
	}
	if u.User != nil {
		return bad("has userinfo")
	}
	// Host as written must be exactly what was parsed: a percent-encoded host
	// ("%31%32%37.0.0.1") would read differently to Go's parser and to others.
	if strings.IndexByte(u.Host, '%') >= 0 {
		return bad("host is percent-encoded or has a zone")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return bad("has no host")
	}
	if strings.HasSuffix(u.Host, ":") {
		return bad("empty port")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return bad("bad port")
		}
	}
	// What net/http writes on the request line must be the string itself,
	// so that the document fetched is the document the string names.
	target := u.EscapedPath()
	if u.ForceQuery || u.RawQuery != "" {
		target += "?" + u.RawQuery
	}
	if "https://"+u.Host+target != rawURL {
		return bad("would be requested as another URL")
	}
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return bad("bad IPv6 literal")
		}
	} else if !validDNSName(host) {
		return bad("host is not a DNS name or IPv4 address")
	}
	return u, nil
}

// uriChar is the bytes RFC 3986 §2 allows in a URI: unreserved, reserved
// and '%' (whose two hex digits url.Parse checks).
var uriChar = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%") {
		t[c] = true
	}
	return t
}()

// validDNSName reports whether h is a host name of LDH labels (RFC 1123
// §2.1), or a dotted-quad IPv4 address. International names must be given in
// their A-label (punycode) form. Numeric forms other than the dotted quad
// ("2130706433", "0x7f.1", "127.1") are refused: resolvers read them
// differently.
func validDNSName(h string) bool {
	if len(h) > 253 {
		return false
	}
	h = strings.ToLower(h)
	labels := strings.Split(h, ".")
	allNumeric := true
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c == '-':
				allNumeric = false
			default:
				return false
			}
		}
	}
	// The last label of a DNS name is never all digits; a host that looks
	// numeric must be a canonical dotted quad.
	last := labels[len(labels)-1]
	lastNumeric := strings.Trim(last, "0123456789") == ""
	if allNumeric || lastNumeric || strings.HasPrefix(last, "0x") {
		a, err := netip.ParseAddr(h)
		return err == nil && a.Is4()
	}
	return true
}

// hostAllowed applies Options.AllowedHosts: an exact, case-insensitive match
// of the URL's host name (without port).
func (f *Fetcher) hostAllowed(host string) bool {
	if len(f.opts.AllowedHosts) == 0 {
		return true
	}
	for _, h := range f.opts.AllowedHosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// control is the net.Dialer's Control: it runs after name resolution, on the
// very address about to be connected to, so DNS rebinding (a name that
// resolves to a public address when checked and a private one when dialled)
// cannot pass.
func (f *Fetcher) control(network, address string, _ syscall.RawConn) error {
	if f.opts.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &Error{Reason: ReasonAddress, Detail: "unparsable dial address"}
	}
	if !PublicAddr(ap.Addr()) {
		return &Error{Reason: ReasonAddress, Detail: "dial address " + ap.Addr().String()}
	}
	return nil
}

var (
	// blocked4 are the IPv4 special-use blocks (RFC 6890 and its updates):
	// none may be fetched from unless Options.AllowPrivate.
	blocked4 = prefixes(
		"0.0.0.0/8",       // "this network", incl. 0.0.0.0 which Linux routes to localhost
		"10.0.0.0/8",      // private (RFC 1918)
		"100.64.0.0/10",   // shared address space, CGNAT (RFC 6598)
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, incl. cloud metadata 169.254.169.254
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, incl. broadcast 255.255.255.255
	)
	// blocked6 are IPv6 special-use blocks inside 2000::/3 (everything
	// outside 2000::/3 is refused anyway, save the NAT64 prefix below).
	blocked6 = prefixes(
		"2001::/23",     // IETF protocol assignments, incl. Teredo 2001::/32
		"2001:db8::/32", // documentation
		"3fff::/20",     // documentation (RFC 9637)
	)
	global6   = netip.MustParsePrefix("2000::/3")
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052 well-known prefix
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

// PublicAddr reports whether a is an address the fetcher may connect to when
// Options.AllowPrivate is off: a globally routable unicast address. IPv4
// addresses embedded in IPv6 (IPv4-mapped ::ffff:a.b.c.d, NAT64
// 64:ff9b::/96, 6to4 2002::/16) are judged by the embedded address, so
// ::ffff:127.0.0.1 is as loopback as 127.0.0.1. Everything else outside
// 2000::/3 (loopback, unspecified, unique-local fc00::/7, link-local,
// site-local, multicast, IPv4-compatible ::a.b.c.d, discard 100::/64, local
// NAT64 64:ff9b:1::/48) is refused.
func PublicAddr(a netip.Addr) bool {
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		for _, p := range blocked4 {
			if p.Contains(a) {
				return false
			}
		}
		return true
	}
	if !a.Is6() {
		return false
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return PublicAddr(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return PublicAddr(netip.AddrFrom4([4]byte(b[2:6])))
	case !global6.Contains(a):
		return false
	}
	for _, p := range blocked6 {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
