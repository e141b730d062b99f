package safefetch

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	for addr, public := range map[string]bool{
		"8.8.8.8":                true,
		"1.1.1.1":                true,
		"93.184.215.14":          true,
		"2606:4700:4700::1111":   true,
		"2a00:1450:4001:80b::e":  true,
		"64:ff9b::808:808":       true, // NAT64 of 8.8.8.8
		"2002:808:808::1":        true, // 6to4 of 8.8.8.8
		"::ffff:8.8.8.8":         true,
		"0.0.0.0":                false,
		"0.1.2.3":                false,
		"10.0.0.1":               false,
		"100.64.0.1":             false,
		"100.127.255.255":        false,
		"127.0.0.1":              false,
		"127.255.255.254":        false,
		"169.254.169.254":        false,
		"172.16.0.1":             false,
		"172.31.255.255":         false,
		"192.0.0.1":              false,
		"192.0.2.1":              false,
		"192.88.99.1":            false,
		"192.168.0.1":            false,
		"198.18.0.1":             false,
		"198.51.100.1":           false,
		"203.0.113.1":            false,
		"224.0.0.1":              false,
		"239.255.255.250":        false,
		"240.0.0.1":              false,
		"255.255.255.255":        false,
		"::":                     false,
		"::1":                    false,
		"::ffff:127.0.0.1":       false,
		"::ffff:10.0.0.1":        false,
		"::ffff:169.254.169.254": false,
		"::127.0.0.1":            false, // IPv4-compatible (deprecated)
		"64:ff9b::7f00:1":        false, // NAT64 of 127.0.0.1
		"64:ff9b::a00:1":         false, // NAT64 of 10.0.0.1
		"64:ff9b:1::808:808":     false, // local-use NAT64
		"2002:7f00:1::":          false, // 6to4 of 127.0.0.1
		"2002:c0a8:101::":        false, // 6to4 of 192.168.1.1
		"100::1":                 false,
		"2001::1":                false, // Teredo
		"2001:db8::1":            false,
		"3fff::1":                false,
		"fc00::1":                false,
		"fd12:3456::1":           false,
		"fe80::1":                false,
		"fe80::1%eth0":           false,
		"fec0::1":                false,
		"ff02::1":                false,
		"ff0e::1":                false,
	} {
		a := netip.MustParseAddr(addr)
		if got := PublicAddr(a); got != public {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, public)
		}
	}
	if PublicAddr(netip.Addr{}) {
		t.Error("the zero Addr is public")
	}
}

func TestCheckURLAccepts(t *testing.T) {
	for _, u := range []string{
		"https://example.com/client.json",
		"https://Example.COM:8443/a/b?x=1&y=2",
		"https://127.0.0.1/x",
		"https://[2001:4860::8888]:443/jwks",
		"https://xn--bcher-kva.example/doc",
		"https://a-b.c-d.example/",
		"https://example.com",
	} {
		if _, err := CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q): %v", u, err)
		}
	}
}

// FuzzCheckURL: whatever CheckURL accepts, Go's HTTP client reads the same
// way (the request goes to the host CheckURL saw, https, no userinfo or
// fragment), and the authority is what a naive reader of the raw string sees.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/x", "https://127.0.0.1:443/", "https://[::1]/a?b#c",
		"https://a@b/", "https://%61/", "https://a.b:0x1/", "https://x/y\\z",
		"https://2130706433/", "https://example.com:/", "https:/x", "https://[::ffff:1.2.3.4]/",
		"https://A/\"", "https://a/%41?b=%zz", "https://a/b?",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := CheckURL(raw)
		if err != nil {
			if ReasonOf(err) != ReasonURL {
				t.Fatalf("CheckURL(%q) error %v has reason %q", raw, err, ReasonOf(err))
			}
			return
		}
		if u.Scheme != "https" || u.User != nil || u.Fragment != "" || u.Opaque != "" || u.Hostname() == "" {
			t.Fatalf("CheckURL(%q) accepted %#v", raw, u)
		}
		if len(raw) > MaxURLLength || strings.ContainsAny(authority(raw), "#@\\ %") {
			t.Fatalf("CheckURL(%q) accepted a forbidden character in the authority", raw)
		}
		if a := authority(raw); a != u.Host {
			t.Fatalf("CheckURL(%q): parsed host %q, raw authority %q", raw, u.Host, a)
		}
		req, err := http.NewRequest(http.MethodGet, raw, nil)
		if err != nil {
			t.Fatalf("CheckURL accepted %q but net/http refuses it: %v", raw, err)
		}
		if req.URL.Host != u.Host || req.URL.Scheme != "https" || req.Host != "" && req.Host != u.Host {
			t.Fatalf("net/http reads %q as host %q, CheckURL as %q", raw, req.URL.Host, u.Host)
		}
		// The request line net/http writes names the same resource.
		// (An empty path is requested as "/", RFC 9110 §4.2.3.)
		want := raw[len("https://")+len(u.Host):]
		if want == "" || want[0] == '?' {
			want = "/" + want
		}
		if req.URL.RequestURI() != want {
			t.Fatalf("net/http requests %q for %q", req.URL.RequestURI(), raw)
		}
		if h := u.Hostname(); !strings.HasPrefix(u.Host, "[") {
			if _, err := netip.ParseAddr(h); err != nil && !validDNSName(h) {
				t.Fatalf("host %q is neither an address nor a DNS name", h)
			}
		}
	})
}

// authority is the part of an https URL between "//" and the first '/' or
// '?', read the simplest way.
func authority(raw string) string {
	rest := strings.TrimPrefix(raw, "https://")
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}
