package mcpscope

import (
	"sync"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// defaultTable is every method a client sends to a server in MCP revisions
// 2025-06-18, 2025-11-25 and 2026-07-28 and the Tasks extension, with the
// scope the default policy must require.
var defaultTable = []struct {
	method string
	want   string
}{
	{"", ScopeRead}, // responses, GET, DELETE

	{"initialize", ScopeRead},
	{"ping", ScopeRead},
	{"server/discover", ScopeRead},
	{"tools/list", ScopeRead},
	{"resources/list", ScopeRead},
	{"resources/templates/list", ScopeRead},
	{"resources/read", ScopeRead},
	{"resources/subscribe", ScopeRead},
	{"resources/unsubscribe", ScopeRead},
	{"subscriptions/listen", ScopeRead},
	{"prompts/list", ScopeRead},
	{"prompts/get", ScopeRead},
	{"completion/complete", ScopeRead},
	{"logging/setLevel", ScopeRead},
	{"tasks/get", ScopeRead},
	{"tasks/result", ScopeRead},
	{"tasks/list", ScopeRead},

	{"tools/call", ScopeWrite},
	{"tasks/cancel", ScopeWrite},
	{"tasks/update", ScopeWrite},

	// Every notification a client sends, and any other.
	{"notifications/initialized", ScopeRead},
	{"notifications/cancelled", ScopeRead},
	{"notifications/progress", ScopeRead},
	{"notifications/roots/list_changed", ScopeRead},
	{"notifications/tasks/status", ScopeRead},
	{"notifications/", ScopeRead},
	{"notifications/vendor/whatever", ScopeRead},

	// Unknown methods fail closed, including server-to-client methods a
	// client has no business sending and near misses of known names.
	{"tools/delete", ScopeWrite},
	{"sampling/createMessage", ScopeWrite},
	{"elicitation/create", ScopeWrite},
	{"roots/list", ScopeWrite},
	{"Tools/List", ScopeWrite},
	{"tools/list ", ScopeWrite},
	{"notification/initialized", ScopeWrite},
	{"Notifications/initialized", ScopeWrite},
	{"admin", ScopeWrite},
	{"*", ScopeWrite},
	{"notifications/*", ScopeRead}, // a literal method, matched by the prefix
}

func setOf(t testing.TB, s string) scope.Set {
	t.Helper()
	set, err := scope.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestDefaultPolicyTable(t *testing.T) {
	p := DefaultPolicy()
	for _, tt := range defaultTable {
		got := p.Required(Call{Method: tt.method})
		if got.String() != tt.want {
			t.Errorf("Required(%q) = %q, want %q", tt.method, got, tt.want)
		}
	}
	// The table covers every entry of the default policy.
	inTable := make(map[string]bool, len(defaultTable))
	for _, tt := range defaultTable {
		inTable[tt.method] = true
	}
	for method := range defaultMethods {
		if !inTable[method] {
			t.Errorf("method %q of the default policy is not in the test table", method)
		}
	}
}

// What the default scopes mean to real grants: mcp:read reaches the read
// methods only; mcp:write, which implies mcp:read, reaches everything.
func TestDefaultPolicyGrants(t *testing.T) {
	p := DefaultPolicy()
	read, write, other := setOf(t, "mcp:read"), setOf(t, "mcp:write"), setOf(t, "ledgers:read")
	for _, tt := range defaultTable {
		req := p.Required(Call{Method: tt.method})
		if got, want := read.CoversAll(req), tt.want == ScopeRead; got != want {
			t.Errorf("mcp:read covers %q = %v, want %v", tt.method, got, want)
		}
		if !write.CoversAll(req) {
			t.Errorf("mcp:write does not cover %q", tt.method)
		}
		if other.CoversAll(req) {
			t.Errorf("ledgers:read covers %q", tt.method)
		}
	}
}

func TestDefaultPolicyIgnoresNameAndID(t *testing.T) {
	p := DefaultPolicy()
	for _, c := range []Call{
		{Method: "tools/call", Name: "get_weather", ID: []byte(`1`)},
		{Method: "tools/call", Name: ""},
		{Method: "prompts/get", Name: "x"},
		{Method: "", ID: []byte(`"s-1"`)},
	} {
		want := p.Required(Call{Method: c.Method})
		if got := p.Required(c); got.String() != want.String() {
			t.Errorf("Required(%+v) = %q, want %q", c, got, want)
		}
	}
}

func TestPolicyWithMethod(t *testing.T) {
	base := DefaultPolicy()
	read, write := setOf(t, ScopeRead), setOf(t, ScopeWrite)
	tests := []struct {
		name   string
		policy *Policy
		method string
		want   string
	}{
		{"tighten", base.WithMethod("logging/setLevel", write), "logging/setLevel", "mcp:write"},
		{"add a scope", base.WithMethod("tools/list", setOf(t, "mcp:read tools:list")), "tools/list", "mcp:read tools:list"},
		{"relax", base.WithMethod("tasks/cancel", read), "tasks/cancel", "mcp:read"},
		{"new method", base.WithMethod("vendor/export", setOf(t, "exports:create")), "vendor/export", "exports:create"},
		{"require nothing", base.WithMethod("ping", scope.Set{}), "ping", ""},
		{"no-method calls", base.WithMethod("", setOf(t, "mcp:stream")), "", "mcp:stream"},
		{"unknown fallback", base.WithMethod(AnyMethod, read), "vendor/unknown", "mcp:read"},
		{"unknown fallback spares known", base.WithMethod(AnyMethod, read), "tools/call", "mcp:write"},
		{"notification fallback", base.WithMethod(AnyNotification, write), "notifications/progress", "mcp:write"},
		{"notification fallback spares others", base.WithMethod(AnyNotification, write), "tools/list", "mcp:read"},
		{"exact notification beats fallback", base.WithMethod(AnyNotification, write).WithMethod("notifications/cancelled", read), "notifications/cancelled", "mcp:read"},
		{"exact notification", base.WithMethod("notifications/roots/list_changed", write), "notifications/roots/list_changed", "mcp:write"},
		{"other notifications unchanged", base.WithMethod("notifications/roots/list_changed", write), "notifications/initialized", "mcp:read"},
		{"last wins", base.WithMethod("tools/list", write).WithMethod("tools/list", setOf(t, "a")), "tools/list", "a"},
	}
	for _, tt := range tests {
		if got := tt.policy.Required(Call{Method: tt.method}); got.String() != tt.want {
			t.Errorf("%s: Required(%q) = %q, want %q", tt.name, tt.method, got, tt.want)
		}
	}
	// base is untouched by all of the above.
	for _, tt := range defaultTable {
		if got := base.Required(Call{Method: tt.method}); got.String() != tt.want {
			t.Errorf("base policy modified: Required(%q) = %q, want %q", tt.method, got, tt.want)
		}
	}
}

func TestPolicyWithTool(t *testing.T) {
	ledgers := setOf(t, "ledgers:write")
	p := DefaultPolicy().WithTool("delete_ledger", ledgers).WithTool("export", setOf(t, "exports:create audit:read"))
	tests := []struct {
		call Call
		want string
	}{
		{Call{Method: "tools/call", Name: "delete_ledger"}, "ledgers:write mcp:write"},
		{Call{Method: "tools/call", Name: "export"}, "audit:read exports:create mcp:write"},
		{Call{Method: "tools/call", Name: "get_weather"}, "mcp:write"},
		{Call{Method: "tools/call", Name: ""}, "mcp:write"},
		{Call{Method: "tools/call", Name: "Delete_Ledger"}, "mcp:write"}, // names are case-sensitive
		// Tool rules apply to tools/call only.
		{Call{Method: "prompts/get", Name: "delete_ledger"}, "mcp:read"},
		{Call{Method: "resources/read", Name: "delete_ledger"}, "mcp:read"},
		{Call{Method: "tools/list", Name: "delete_ledger"}, "mcp:read"},
	}
	for _, tt := range tests {
		if got := p.Required(tt.call); got.String() != tt.want {
			t.Errorf("Required(%+v) = %q, want %q", tt.call, got, tt.want)
		}
	}

	// The grant side: mcp:write alone no longer reaches delete_ledger.
	call := Call{Method: "tools/call", Name: "delete_ledger"}
	if setOf(t, "mcp:write").CoversAll(p.Required(call)) {
		t.Error("mcp:write alone covers delete_ledger")
	}
	if !setOf(t, "mcp:write ledgers:*").CoversAll(p.Required(call)) {
		t.Error("mcp:write ledgers:* does not cover delete_ledger")
	}

	// Tool rules add to whatever tools/call requires, set before or after.
	custom := setOf(t, "tools:call")
	before := DefaultPolicy().WithMethod("tools/call", custom).WithTool("delete_ledger", ledgers)
	after := DefaultPolicy().WithTool("delete_ledger", ledgers).WithMethod("tools/call", custom)
	for name, q := range map[string]*Policy{"before": before, "after": after} {
		if got := q.Required(call).String(); got != "ledgers:write tools:call" {
			t.Errorf("tools/call overridden %s WithTool: Required = %q", name, got)
		}
		if got := q.Required(Call{Method: "tools/call", Name: "other"}).String(); got != "tools:call" {
			t.Errorf("tools/call overridden %s WithTool: other tool requires %q", name, got)
		}
	}

	// A later rule for the same tool replaces the earlier one.
	q := p.WithTool("delete_ledger", setOf(t, "ledgers:delete"))
	if got := q.Required(call).String(); got != "ledgers:delete mcp:write" {
		t.Errorf("replaced tool rule: Required = %q", got)
	}
	if got := p.Required(call).String(); got != "ledgers:write mcp:write" {
		t.Errorf("WithTool modified its receiver: Required = %q", got)
	}

	// An empty rule adds nothing.
	if got := DefaultPolicy().WithTool("x", scope.Set{}).Required(Call{Method: "tools/call", Name: "x"}).String(); got != "mcp:write" {
		t.Errorf("empty tool rule: Required = %q", got)
	}
}

// A nil or zero Policy behaves as the default one: it never requires nothing.
func TestPolicyNilAndZero(t *testing.T) {
	var nilPolicy *Policy
	for name, p := range map[string]*Policy{"nil": nilPolicy, "zero": {}} {
		for _, tt := range defaultTable {
			if got := p.Required(Call{Method: tt.method}); got.String() != tt.want {
				t.Errorf("%s policy: Required(%q) = %q, want %q", name, tt.method, got, tt.want)
			}
		}
		q := p.WithTool("t", setOf(t, "x:y"))
		if got := q.Required(Call{Method: "tools/call", Name: "t"}).String(); got != "mcp:write x:y" {
			t.Errorf("%s policy WithTool: Required = %q", name, got)
		}
		if got := q.Required(Call{Method: "tools/list"}).String(); got != "mcp:read" {
			t.Errorf("%s policy WithTool: tools/list requires %q", name, got)
		}
		q = p.WithMethod("ping", setOf(t, "x:y"))
		if got := q.Required(Call{Method: "ping"}).String(); got != "x:y" {
			t.Errorf("%s policy WithMethod: Required = %q", name, got)
		}
	}
}

func TestRequiredDoesNotAllocate(t *testing.T) {
	policies := map[string]*Policy{
		"default":    DefaultPolicy(),
		"nil":        nil,
		"with tools": DefaultPolicy().WithTool("delete_ledger", setOf(t, "ledgers:write")).WithMethod("vendor/x", setOf(t, "a b")),
	}
	calls := []Call{
		{Method: "tools/call", Name: "delete_ledger"},
		{Method: "tools/call", Name: "unlisted"},
		{Method: "vendor/x"},
		{Method: "notifications/anything"},
		{Method: "unknown/method"},
	}
	for _, tt := range defaultTable {
		calls = append(calls, Call{Method: tt.method})
	}
	for name, p := range policies {
		for _, c := range calls {
			var sink scope.Set
			allocs := testing.AllocsPerRun(100, func() { sink = p.Required(c) })
			if allocs != 0 {
				t.Errorf("%s: Required(%+v) allocates %v times", name, c, allocs)
			}
			_ = sink.String() // String is precomputed, so using the result is free too
		}
	}
}

// A policy is shared by every request while the configuration derives new
// ones from it; run with -race.
func TestPolicyConcurrentUse(t *testing.T) {
	p := DefaultPolicy().WithTool("delete_ledger", setOf(t, "ledgers:write"))
	xy := setOf(t, "x:y")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 500 {
				if i%2 == 0 {
					q := p.WithTool("t", xy).WithMethod("ping", scope.Set{})
					_ = q.Required(Call{Method: "tools/call", Name: "t"})
				}
				got := p.Required(Call{Method: "tools/call", Name: "delete_ledger"})
				if got.String() != "ledgers:write mcp:write" {
					t.Errorf("iteration %d: Required = %q", j, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkRequired(b *testing.B) {
	p := DefaultPolicy().WithTool("delete_ledger", setOf(b, "ledgers:write"))
	calls := []Call{
		{Method: "tools/call", Name: "delete_ledger"},
		{Method: "tools/call", Name: "get_weather"},
		{Method: "tools/list"},
		{Method: "notifications/initialized"},
		{Method: "vendor/unknown"},
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		for _, c := range calls {
			n += p.Required(c).Len()
		}
	}
	_ = n
}
