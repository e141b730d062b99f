package blnkapi

import (
	"slices"
	"strings"
	"testing"
)

// wantResources is Blnk Core's pathToResource, written out independently of
// the implementation's tables.
var wantResources = []string{
	"ledgers",
	"balances",
	"accounts",
	"identities",
	"transactions",
	"balance-monitors",
	"hooks",
	"api-keys",
	"search",
	"reconciliation",
	"metadata",
	"backup",
	"events",
	"subscribers",
}

// wantAliases are the special cases of Blnk Core's getResourceFromPath.
var wantAliases = map[string]string{
	"mocked-account":     "accounts",
	"multi-search":       "search",
	"refund-transaction": "transactions",
}

// mappedMethods is Blnk Core's methodToAction.
var mappedMethods = map[string]string{
	"GET":    "read",
	"HEAD":   "read",
	"POST":   "write",
	"PUT":    "write",
	"PATCH":  "write",
	"DELETE": "delete",
}

// unmappedMethods are methods Blnk Core has no action for (HasPermission
// refuses them), including case variants: Blnk's lookup is case-sensitive.
var unmappedMethods = []string{
	"OPTIONS", "TRACE", "CONNECT", "PROPFIND", "QUERY", "LINK", "PURGE",
	"get", "Get", "head", "post", "Post", "put", "patch", "delete", "Delete",
	"", " GET", "GET ", "GET\x00", "GETX", "DELET", "POSTS", "*", "garbage",
}

type tc struct {
	method, path string
	want         string // "" means ok=false
}

func check(t *testing.T, cases []tc) {
	t.Helper()
	for _, c := range cases {
		got, ok := RequiredScope(c.method, c.path)
		if c.want == "" {
			if ok || got != "" {
				t.Errorf("RequiredScope(%q, %q) = %q, %v; want \"\", false", c.method, c.path, got, ok)
			}
			continue
		}
		if !ok || got != c.want {
			t.Errorf("RequiredScope(%q, %q) = %q, %v; want %q, true", c.method, c.path, got, ok, c.want)
		}
	}
}

func TestResources(t *testing.T) {
	got := Resources()
	if !slices.Equal(got, wantResources) {
		t.Fatalf("Resources() = %q\nwant %q", got, wantResources)
	}
	got[0] = "mutated"
	if Resources()[0] != "ledgers" {
		t.Fatal("Resources() returned a slice that aliases internal state")
	}
	for alias := range wantAliases {
		if slices.Contains(Resources(), alias) {
			t.Errorf("alias %q listed as a resource", alias)
		}
	}
}

// TestEveryResourceEveryMethod covers the full resource × method matrix on
// the bare path, with a trailing slash and with nested segments.
func TestEveryResourceEveryMethod(t *testing.T) {
	var cases []tc
	for _, r := range wantResources {
		for _, p := range []string{
			"/" + r,
			"/" + r + "/",
			"/" + r + "/id_123",
			"/" + r + "/id_123/",
			"/" + r + "/id_123/balances",
			"/" + r + "//x",
			"/" + r + "///",
			r, // no leading slash: Blnk's TrimPrefix is a no-op, parts[0] is r
		} {
			for m, a := range mappedMethods {
				cases = append(cases, tc{m, p, r + ":" + a})
			}
			for _, m := range unmappedMethods {
				cases = append(cases, tc{m, p, ""})
			}
		}
	}
	check(t, cases)
}

func TestAliases(t *testing.T) {
	var cases []tc
	for alias, r := range wantAliases {
		for _, p := range []string{"/" + alias, "/" + alias + "/", "/" + alias + "/txn_1", alias} {
			for m, a := range mappedMethods {
				cases = append(cases, tc{m, p, r + ":" + a})
			}
			for _, m := range unmappedMethods {
				cases = append(cases, tc{m, p, ""})
			}
		}
	}
	check(t, cases)
}

// TestBlnkRoutes pins the answer for real Blnk Core routes (api/api.go).
func TestBlnkRoutes(t *testing.T) {
	check(t, []tc{
		{"POST", "/ledgers", "ledgers:write"},
		{"GET", "/ledgers/ldg_123", "ledgers:read"},
		{"PUT", "/ledgers/ldg_123", "ledgers:write"},
		{"POST", "/ledgers/filter", "ledgers:write"},
		{"GET", "/balances/indicator/@world/currency/USD", "balances:read"},
		{"GET", "/balances/bln_1/at", "balances:read"},
		{"PUT", "/balances/bln_1/identity", "balances:write"},
		{"PUT", "/balance-monitors/mon_1", "balance-monitors:write"},
		{"GET", "/balance-monitors/balances/bln_1", "balance-monitors:read"},
		{"POST", "/transactions/bulk", "transactions:write"},
		{"PUT", "/transactions/inflight/txn_1", "transactions:write"},
		{"POST", "/transactions/inflight/bulk/void", "transactions:write"},
		{"GET", "/transactions/reference/ref-1", "transactions:read"},
		{"POST", "/transactions/recover", "transactions:write"},
		{"POST", "/refund-transaction/txn_1", "transactions:write"},
		{"GET", "/identities/idt_1/detokenize/email", "identities:read"},
		{"POST", "/identities/idt_1/tokenize", "identities:write"},
		{"GET", "/mocked-account", "accounts:read"},
		{"GET", "/backup", "backup:read"},
		{"POST", "/search/ledgers", "search:write"},
		{"POST", "/search/reindex", "search:write"},
		{"GET", "/search/reindex", "search:read"},
		{"POST", "/multi-search", "search:write"},
		{"POST", "/reconciliation/upload", "reconciliation:write"},
		{"DELETE", "/reconciliation/matching-rules/rule_1", "reconciliation:delete"},
		{"DELETE", "/hooks/hk_1", "hooks:delete"},
		{"DELETE", "/api-keys/key_1", "api-keys:delete"},

		// Real routes an API key cannot reach in Blnk: the first segment is
		// not in pathToResource (prefix look-alikes do not count), or, for
		// metadata, it is the entity ID.
		{"GET", "/backup-s3", ""},
		{"POST", "/balances-snapshots", ""},
		{"POST", "/ldg_123/metadata", ""},
		{"POST", "/txn_abc/metadata", ""},
		{"POST", "/metadata", "metadata:write"},
		{"POST", "/metadata/ldg_123", "metadata:write"},
		{"POST", "/webhook", ""},
	})
}

func TestUnknownAndOddPaths(t *testing.T) {
	paths := []string{
		// Empty, root and empty first segments.
		"", "/", "//", "///", "//ledgers", "//ledgers/", "///ledgers",
		// Unknown resources and near misses.
		"/unknown", "/fake-resouce/dd", "/ledger", "/ledgersx", "/ledgers-x",
		"/xledgers", "/balance", "/balance_monitors", "/balancemonitors",
		"/api_keys", "/apikeys", "/api-key", "/identity", "/transaction",
		"/refund-transactions", "/refund", "/multisearch", "/mocked-accounts",
		"/event", "/subscriber", "/hook", "/backups", "/reconcile",
		// Case: Blnk's map lookup is case-sensitive.
		"/Ledgers", "/LEDGERS", "/Balances/x", "/API-KEYS", "/Mocked-Account",
		// Percent-encoded and otherwise undecoded input is taken literally.
		"/ledger%73", "/%6Cedgers", "/ledgers%2Fx", "/ledgers%2fx",
		"%2Fledgers", "/%2Fledgers", "/ledgers%20", "/ledgers%00",
		// A query string is not part of r.URL.Path; if present it is literal.
		"/ledgers?limit=10", "/ledgers?", "/ledgers#x", "/?ledgers",
		// Whitespace, control and non-ASCII bytes.
		"/ ledgers", "/ledgers ", " /ledgers", "/ledgers\t", "/ledgers\n",
		"/ledgers\x00", "/\x00ledgers", "/ledgérs", "/ledgers\u200b",
		"/\xffledgers", "/ledgers\xff",
		// Dot segments are not cleaned.
		"/./ledgers", "/../ledgers", "/..", "/.", "/ledgers.",
		// Backslashes are not separators.
		"/ledgers\\x", "\\ledgers",
		// Exempt and other non-resource Blnk paths.
		"/health", "/metrics", "/debug/pprof", "/debug/pprof/heap", "/debug",
		// Wildcards are grant-side only: no path requires them.
		"/*", "*", "/*/x",
		// Only the first segment counts.
		"/v1/ledgers", "/api/ledgers", "/x/balances",
	}
	var cases []tc
	for _, p := range paths {
		for m := range mappedMethods {
			cases = append(cases, tc{m, p, ""})
		}
		for _, m := range unmappedMethods {
			cases = append(cases, tc{m, p, ""})
		}
	}
	check(t, cases)
}

func TestExempt(t *testing.T) {
	for _, p := range []string{
		"/", "/health", "/metrics",
		"/debug/pprof", "/debug/pprof/", "/debug/pprof/heap", "/debug/pprofX",
	} {
		if !Exempt(p) {
			t.Errorf("Exempt(%q) = false, want true", p)
		}
		if s, ok := RequiredScope("GET", p); ok {
			t.Errorf("RequiredScope(GET, %q) = %q, true; exempt paths name no resource", p, s)
		}
	}
	for _, p := range []string{
		"", "//", "/health/", "/health/x", "/Health", "/healthz", "health",
		"/metrics/", "/metrics/x", "/Metrics", "metrics", "/debug", "/debug/",
		"/debug/ppro", "debug/pprof", "//debug/pprof", "/ledgers",
		"/health?x", "/%68ealth",
	} {
		if Exempt(p) {
			t.Errorf("Exempt(%q) = true, want false", p)
		}
	}
}

// TestMatchesBlnkReference compares RequiredScope with a literal port of
// Blnk Core's getResourceFromPath and methodToAction over every case above
// and a set of generated ones.
func TestMatchesBlnkReference(t *testing.T) {
	var paths []string
	segs := append(append([]string{"", "x", "Ledgers", "ledger", "id_1", "%2F", "?"}, wantResources...), "mocked-account", "multi-search", "refund-transaction")
	for _, a := range segs {
		paths = append(paths, a, "/"+a, "//"+a, "/"+a+"/", "/"+a+"/x")
		for _, b := range segs[:5] {
			paths = append(paths, "/"+a+"/"+b, a+"/"+b)
		}
	}
	methods := append(slices.Collect(func(yield func(string) bool) {
		for m := range mappedMethods {
			if !yield(m) {
				return
			}
		}
	}), unmappedMethods...)
	for _, p := range paths {
		for _, m := range methods {
			want, wantOK := blnkReference(m, p)
			got, ok := RequiredScope(m, p)
			if got != want || ok != wantOK {
				t.Errorf("RequiredScope(%q, %q) = %q, %v; Blnk reference %q, %v", m, p, got, ok, want, wantOK)
			}
		}
	}
}

func FuzzRequiredScope(f *testing.F) {
	for _, p := range []string{"", "/", "//ledgers", "/ledgers/x", "/multi-search", "/Ledgers", "/ledgers%2F", "ledgers"} {
		for _, m := range []string{"GET", "DELETE", "OPTIONS", "get"} {
			f.Add(m, p)
		}
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		want, wantOK := blnkReference(method, path)
		got, ok := RequiredScope(method, path)
		if got != want || ok != wantOK {
			t.Fatalf("RequiredScope(%q, %q) = %q, %v; Blnk reference %q, %v", method, path, got, ok, want, wantOK)
		}
	})
}

// blnkReference is Blnk Core's logic ported literally (strings.Split and map
// lookups as in api/middleware/auth.go and scope.go), to check the
// allocation-free implementation against.
func blnkReference(method, path string) (string, bool) {
	pathToResource := map[string]string{}
	for _, r := range wantResources {
		pathToResource[r] = r
	}
	resource := ""
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case len(parts) == 0:
	case parts[0] == "mocked-account":
		resource = "accounts"
	case parts[0] == "multi-search":
		resource = "search"
	case parts[0] == "refund-transaction":
		resource = "transactions"
	default:
		resource = pathToResource[parts[0]]
	}
	if resource == "" {
		return "", false // 403 Unknown resource type
	}
	action := mappedMethods[method]
	if action == "" {
		return "", false // HasPermission: action == "" → false → 403
	}
	return resource + ":" + action, true
}

func TestScopesAreWellFormed(t *testing.T) {
	for _, r := range Resources() {
		for m, a := range mappedMethods {
			s, ok := RequiredScope(m, "/"+r)
			if !ok {
				t.Fatalf("RequiredScope(%q, %q) not ok", m, "/"+r)
			}
			res, act, found := strings.Cut(s, ":")
			if !found || strings.Contains(act, ":") || res != r || act != a {
				t.Errorf("scope %q: want exactly one colon between %q and %q", s, r, a)
			}
			for i := 0; i < len(s); i++ {
				if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
					t.Errorf("scope %q: byte %#x is not a RFC 6749 scope-token character", s, c)
				}
			}
		}
	}
}

var allocCases = func() (cs []tc) {
	segs := append(append([]string(nil), wantResources...), "mocked-account", "multi-search", "refund-transaction", "unknown", "", "Ledgers", "ledger%73")
	for _, s := range segs {
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get"} {
			cs = append(cs, tc{m, "/" + s + "/id_123/x", ""})
		}
	}
	return cs
}()

func TestRequiredScopeDoesNotAllocate(t *testing.T) {
	var sink string
	var sinkOK bool
	allocs := testing.AllocsPerRun(100, func() {
		for _, c := range allocCases {
			sink, sinkOK = RequiredScope(c.method, c.path)
		}
	})
	_, _ = sink, sinkOK
	if allocs != 0 {
		t.Fatalf("RequiredScope allocates: %v allocations per run of %d calls", allocs, len(allocCases))
	}
	allocs = testing.AllocsPerRun(100, func() {
		for _, c := range allocCases {
			sinkOK = Exempt(c.path)
		}
	})
	if allocs != 0 {
		t.Fatalf("Exempt allocates: %v allocations per run", allocs)
	}
}

var benchSink string

func BenchmarkRequiredScope(b *testing.B) {
	for _, bc := range []struct{ name, method, path string }{
		{"known", "POST", "/transactions"},
		{"nested", "GET", "/balance-monitors/balances/bln_0a1b2c3d"},
		{"alias", "POST", "/refund-transaction/txn_0a1b2c3d"},
		{"unknown", "GET", "/not-a-resource/x"},
		{"bad-method", "OPTIONS", "/ledgers"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				benchSink, _ = RequiredScope(bc.method, bc.path)
			}
		})
	}
}
