package blnkapi

import (
	"net/url"
	"testing"
)

// TestCanonical: each request-target is parsed as Go's HTTP server does, and
// Canonical is given r.URL.Path and r.URL.RawPath as the gateway does.
func TestCanonical(t *testing.T) {
	good := []string{
		"/",
		"/ledgers",
		"/ledgers/",
		"/ledgers/ldg_1",
		"/ledgers/ldg_1/",
		"/ledgers/ldg_1/balances",
		"/transactions/reference/ref-2024.01",
		"/ledgers/ref:2024@x",
		"/ledgers/ref%3A2024%40x", // escapes of allowed characters
		"/ledgers/%6C",            // "l", escaped needlessly
		"/ledgers/a.b..c",         // dots inside a segment
		"/ledgers/.x",
		"/ledgers/x.",
		"/ledgers/!$&'()*+,=~_-",
		"/ledgers?x=..%2F..", // the query is not the path
		"/api-keys",
		"/health",
	}
	bad := []string{
		// Not a path.
		"*",
		// Dot segments, plain and encoded.
		"/ledgers/../api-keys",
		"/ledgers/..",
		"/ledgers/.",
		"/ledgers/./x",
		"/..",
		"/.",
		"/./ledgers",
		"/ledgers/%2E%2E/api-keys",
		"/ledgers/%2e%2e/api-keys",
		"/ledgers/.%2E/api-keys",
		"/ledgers/%2E./api-keys",
		"/ledgers/%2e",
		"/ledgers/...",
		"/ledgers/....",
		// Encoded separators.
		"/ledgers/..%2Fapi-keys",
		"/ledgers/..%2fapi-keys",
		"/ledgers%2F..%2Fapi-keys",
		"/ledgers%2Fldg_1",
		"/ledgers%2fldg_1",
		"/ledgers/x%2E", // an escaped dot anywhere
		// Empty segments.
		"//ledgers",
		"//",
		"/ledgers//ldg_1",
		"/ledgers/ldg_1//",
		"/ledgers///",
		// Backslashes, raw and encoded.
		"/ledgers/..\\api-keys",
		"/ledgers\\..\\api-keys",
		"/ledgers/%5C..%5Capi-keys",
		"/ledgers/%5c",
		// Path parameters.
		"/ledgers/..;/api-keys",
		"/ledgers;x/ldg_1",
		"/ledgers/ldg_1;",
		"/ledgers/ldg_1%3B",
		"/ledgers/ldg_1%3b",
		// Double encoding.
		"/ledgers/%252e%252e/api-keys",
		"/ledgers/%252F",
		"/ledgers/%25",
		// Decoded "?" and "#".
		"/ledgers/ldg_1%3F/../../api-keys",
		"/ledgers/ldg_1%3F",
		"/ledgers/ldg_1%23",
		// Control bytes, spaces, other ASCII outside pchar.
		"/ledgers/ldg%00",
		"/ledgers/ldg%0A1",
		"/ledgers/ldg%0D",
		"/ledgers/ldg%09",
		"/ledgers/ldg%7F",
		"/ledgers/ldg%201",
		"/ledgers/ldg+%20",
		"/ledgers/%22",
		"/ledgers/%3C",
		"/ledgers/%5B",
		"/ledgers/%60",
		"/ledgers/%7B",
		"/ledgers/%7C",
		"/ledgers/%5E",
		// Beyond ASCII: overlong and fullwidth dots, and anything else.
		"/ledgers/%C0%AE%C0%AE/api-keys",
		"/ledgers/%EF%BC%8E%EF%BC%8E/api-keys",
		"/ledgers/%E2%88%95api-keys", // U+2215 division slash
		"/ledgers/caf%C3%A9",
		"/ledgers/%FF",
	}
	for _, target := range good {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatalf("%q: %v", target, err)
		}
		if !Canonical(u.Path, u.RawPath) {
			t.Errorf("Canonical(%q, %q) = false, want true", u.Path, u.RawPath)
		}
	}
	for _, target := range bad {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatalf("%q: %v", target, err)
		}
		if Canonical(u.Path, u.RawPath) {
			t.Errorf("Canonical(%q, %q) [%s] = true, want false", u.Path, u.RawPath, target)
		}
	}
	// Paths given directly, including ones no request-target parses to.
	for _, c := range []struct{ path, raw string }{
		{"", ""},
		{"ledgers", ""},
		{"/ledgers/\x00", ""},
		{"/ledgers/\xff", ""},
		{"/ledgers/x", "/ledgers%2Fx"},
		{"/ledgers/x", "/ledgers/%2"},   // a truncated escape is no escaped "/"...
		{"/ledgers/..", "/ledgers/%2E"}, // ...but the path decides first
	} {
		want := c.raw == "/ledgers/%2" // the only one Canonical should accept
		if got := Canonical(c.path, c.raw); got != want {
			t.Errorf("Canonical(%q, %q) = %v, want %v", c.path, c.raw, got, want)
		}
	}
	// Every byte outside the allowed set is refused wherever it appears.
	for b := 0; b < 256; b++ {
		allowed := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			b == '-' || b == '.' || b == '_' || b == '~' || b == '!' || b == '$' || b == '&' ||
			b == '\'' || b == '(' || b == ')' || b == '*' || b == '+' || b == ',' || b == '=' ||
			b == ':' || b == '@' || b == '/'
		p := "/ledgers/x" + string([]byte{byte(b)}) + "y"
		if b == '/' {
			allowed = true // "/ledgers/x/y"
		}
		if got := Canonical(p, ""); got != allowed {
			t.Errorf("byte %#02x: Canonical = %v, want %v", b, got, allowed)
		}
	}
}

func TestCanonicalDoesNotAllocate(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		Canonical("/ledgers/ldg_0123456789/balances/", "/ledgers/ldg%3A0123456789/balances/")
	})
	if n != 0 {
		t.Fatalf("%v allocations per call", n)
	}
}
