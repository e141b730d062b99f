package scope

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"read", true},
		{"ledgers:read", true},
		{"*", true},
		{"*:*", true},
		{"a:b:c", true},
		{":x", true},
		{"x:", true},
		{"!", true}, // %x21, lowest allowed
		{"#", true}, // %x23, first after '"'
		{"[", true}, // %x5B, last before '\'
		{"]", true}, // %x5D, first after '\'
		{"~", true}, // %x7E, highest allowed
		{"https://api.example.com/x", true},
		{strings.Repeat("a", MaxLength), true},
		{strings.Repeat("a", MaxLength+1), false},
		{"", false},
		{" ", false},
		{"a b", false},
		{"a\tb", false},
		{"a\nb", false},
		{`a"b`, false},
		{`a\b`, false},
		{"a\x7fb", false}, // DEL
		{"a\x00b", false}, // NUL
		{"a\x1fb", false}, // control
		{"café", false},   // non-ASCII
		{"a\xffb", false}, // invalid UTF-8
		{"\u00a0", false}, // non-breaking space
	}
	for _, tt := range tests {
		if got := Valid(tt.in); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	long := strings.Repeat("x", MaxLength+1)
	tests := []struct {
		in      string
		want    []string // nil when an error is expected
		wantErr bool
	}{
		{in: "", want: []string{}},
		{in: "a", want: []string{"a"}},
		{in: "b a", want: []string{"a", "b"}},
		{in: "ledgers:read ledgers:read", want: []string{"ledgers:read"}},
		{in: "z y x y z", want: []string{"x", "y", "z"}},
		{in: "* ledgers:* *:read", want: []string{"*", "*:read", "ledgers:*"}},
		{in: "B a A b", want: []string{"A", "B", "a", "b"}}, // byte order, case-sensitive
		{in: strings.Repeat("m", MaxLength), want: []string{strings.Repeat("m", MaxLength)}},
		{in: " ", wantErr: true},
		{in: "a  b", wantErr: true}, // empty element from double space
		{in: " a", wantErr: true},
		{in: "a ", wantErr: true},
		{in: "a\tb", wantErr: true},
		{in: "a\nb", wantErr: true},
		{in: `a "b"`, wantErr: true},
		{in: `a b\c`, wantErr: true},
		{in: "a b\x7f", wantErr: true},
		{in: "a é", wantErr: true},
		{in: "a " + long, wantErr: true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("Parse(%q) = %v, want error", tt.in, got.List())
			} else if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q) error: %v", tt.in, err)
			continue
		}
		if !slices.Equal(got.List(), tt.want) {
			t.Errorf("Parse(%q) = %q, want %q", tt.in, got.List(), tt.want)
		}
		if s := got.String(); s != strings.Join(tt.want, " ") {
			t.Errorf("Parse(%q).String() = %q", tt.in, s)
		}
		if got.Len() != len(tt.want) || got.IsEmpty() != (len(tt.want) == 0) {
			t.Errorf("Parse(%q): Len %d IsEmpty %v, want %d entries", tt.in, got.Len(), got.IsEmpty(), len(tt.want))
		}
	}
}

func TestFromList(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string
		wantErr string // substring of the error, "" for success
	}{
		{in: nil, want: []string{}},
		{in: []string{}, want: []string{}},
		{in: []string{"b", "a", "b"}, want: []string{"a", "b"}},
		{in: []string{"mcp:write", "*"}, want: []string{"*", "mcp:write"}},
		{in: []string{"a", ""}, wantErr: `""`},
		{in: []string{"a b"}, wantErr: `"a b"`},
		{in: []string{"ok", "a\tb"}, wantErr: `"a\tb"`},
		{in: []string{`q"`}, wantErr: `"q\""`},
		{in: []string{`a\b`}, wantErr: `"a\\b"`},
		{in: []string{"del\x7f"}, wantErr: `"del\x7f"`},
		{in: []string{"ñ"}, wantErr: `"ñ"`},
		{in: []string{strings.Repeat("z", MaxLength+1)}, wantErr: strings.Repeat("z", MaxLength+1)},
	}
	for _, tt := range tests {
		got, err := FromList(tt.in)
		if tt.wantErr != "" {
			if err == nil {
				t.Errorf("FromList(%q) = %q, want error", tt.in, got.List())
			} else if !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Errorf("FromList(%q) error %q, want it to name %s and wrap ErrInvalid", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("FromList(%q) error: %v", tt.in, err)
			continue
		}
		if !slices.Equal(got.List(), tt.want) {
			t.Errorf("FromList(%q) = %q, want %q", tt.in, got.List(), tt.want)
		}
	}
}

func TestFromListDoesNotRetainInput(t *testing.T) {
	in := []string{"c", "a", "b"}
	s, err := FromList(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in, []string{"c", "a", "b"}) {
		t.Errorf("FromList reordered its input: %q", in)
	}
	in[0] = "zzz"
	if s.String() != "a b c" {
		t.Errorf("Set changed with its input: %q", s)
	}
}

func TestMustParse(t *testing.T) {
	if got := MustParse("b a").String(); got != "a b" {
		t.Errorf("MustParse = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParse of an invalid list did not panic")
		}
	}()
	MustParse("a  b")
}

func TestCovers(t *testing.T) {
	// Every required scope of interest, checked against every granted
	// scope below; anything not listed in a row's covers must be refused.
	required := []string{
		"*", "*:*", "*:read", "*:write",
		"ledgers:read", "ledgers:write", "ledgers:*",
		"balances:read", "balances:*",
		"mcp:read", "mcp:write", "mcp:*", "mcp:admin",
		"openid", "a:b:c", ":x", "x:", "a:b", "ledgers", "read",
	}
	tests := []struct {
		granted string
		covers  []string
	}{
		{"*", required}, // everything, including wildcard requirements
		{"*:*", []string{
			"*:*", "*:read", "*:write", "ledgers:read", "ledgers:write", "ledgers:*",
			"balances:read", "balances:*", "mcp:read", "mcp:write", "mcp:*", "mcp:admin", "a:b",
		}},
		{"*:read", []string{"*:read", "ledgers:read", "balances:read", "mcp:read"}},
		{"*:write", []string{"*:write", "ledgers:write", "mcp:write", "mcp:read"}}, // mcp implication
		{"ledgers:*", []string{"ledgers:read", "ledgers:write", "ledgers:*"}},
		{"ledgers:read", []string{"ledgers:read"}},
		{"ledgers:write", []string{"ledgers:write"}}, // write does not imply read
		{"balances:*", []string{"balances:read", "balances:*"}},
		{"mcp:*", []string{"mcp:read", "mcp:write", "mcp:*", "mcp:admin"}},
		{"mcp:write", []string{"mcp:write", "mcp:read"}},
		{"mcp:read", []string{"mcp:read"}}, // read does not imply write
		{"mcp:admin", []string{"mcp:admin"}},
		{"openid", []string{"openid"}},
		{"a:b:c", []string{"a:b:c"}}, // opaque: two colons
		{":x", []string{":x"}},       // opaque: empty resource
		{"x:", []string{"x:"}},       // opaque: empty action
		{"a:b", []string{"a:b"}},
		{"ledgers", []string{"ledgers"}}, // a bare resource is not a wildcard
		{"read", []string{"read"}},
		{"*:b:c", []string{"*:b:c"}}, // opaque, so its "*" is not a wildcard
		{"a:*:c", []string{"a:*:c"}},
		{":*", []string{":*"}},
		{"*:", []string{"*:"}},
		{"**", []string{"**"}},
	}
	for _, tt := range tests {
		s := MustParse(tt.granted)
		for _, r := range required {
			want := slices.Contains(tt.covers, r)
			if got := s.Covers(r); got != want {
				t.Errorf("%q covers %q = %v, want %v", tt.granted, r, got, want)
			}
		}
		// A scope always covers itself.
		for _, r := range slices.Concat(tt.covers, []string{tt.granted}) {
			if !s.Covers(r) {
				t.Errorf("%q does not cover %q", tt.granted, r)
			}
		}
	}
	// Opaque scopes containing stars are matched only exactly or by "*".
	opaque := []string{"*:b:c", "a:*:c", ":*", "*:", "**"}
	for _, r := range opaque {
		for _, g := range []string{"*:*", "a:*", "*:b", "*:c"} {
			if MustParse(g).Covers(r) {
				t.Errorf("%q covers opaque %q", g, r)
			}
		}
	}
}

func TestCoversSetsAndEdgeCases(t *testing.T) {
	tests := []struct {
		granted, required string
		want              bool
	}{
		{"", "ledgers:read", false}, // empty set covers nothing
		{"", "*", false},
		{"ledgers:read balances:read", "balances:read", true},
		{"ledgers:read balances:read", "ledgers:write", false},
		{"ledgers:read mcp:write", "mcp:read", true},
		{"ledgers:write mcp:read", "mcp:write", false},
		{"ledgers:write ledgers:read", "ledgers:*", false}, // union of actions is not the wildcard
		{"*:read ledgers:*", "ledgers:write", true},
		{"*:read ledgers:*", "balances:write", false},
		// Invalid required scopes are never covered, not even by "*".
		{"*", "", false},
		{"*", "a b", false},
		{"*", "a\x7f", false},
		{"*", strings.Repeat("a", MaxLength+1), false},
		{"*:*", "", false},
	}
	for _, tt := range tests {
		if got := MustParse(tt.granted).Covers(tt.required); got != tt.want {
			t.Errorf("%q covers %q = %v, want %v", tt.granted, tt.required, got, tt.want)
		}
	}
	var zero Set
	if zero.Covers("a") || !zero.IsEmpty() || zero.Len() != 0 || zero.String() != "" {
		t.Error("zero Set is not an empty set")
	}
}

func TestCoversAll(t *testing.T) {
	tests := []struct {
		granted, required string
		want              bool
	}{
		{"", "", true},
		{"a", "", true},
		{"", "a", false},
		{"*", "a b:c *", true},
		{"ledgers:read balances:read", "balances:read ledgers:read", true},
		{"ledgers:read", "balances:read ledgers:read", false},
		{"ledgers:* mcp:write", "ledgers:read ledgers:write mcp:read mcp:write", true},
		{"ledgers:* mcp:write", "ledgers:read mcp:*", false},
		{"*:*", "openid", false},
		{"*:* openid", "openid ledgers:read", true},
	}
	for _, tt := range tests {
		if got := MustParse(tt.granted).CoversAll(MustParse(tt.required)); got != tt.want {
			t.Errorf("%q CoversAll %q = %v, want %v", tt.granted, tt.required, got, tt.want)
		}
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		s, granted, want string
	}{
		{"", "*", ""},
		{"a b", "", ""},
		{"a b c", "*", "a b c"},
		{"a b c", "b c d", "b c"},
		{"ledgers:read ledgers:write balances:read", "ledgers:*", "ledgers:read ledgers:write"},
		{"ledgers:read ledgers:write balances:read", "*:read", "balances:read ledgers:read"},
		{"ledgers:* ledgers:read", "ledgers:read", "ledgers:read"}, // wildcard requested, not granted
		{"ledgers:* ledgers:read", "*:*", "ledgers:* ledgers:read"},
		{"mcp:read mcp:write", "mcp:write", "mcp:read mcp:write"},
		{"mcp:read mcp:write", "mcp:read", "mcp:read"},
		{"* ledgers:read", "*:*", "ledgers:read"},
		{"openid ledgers:read", "*:*", "ledgers:read"},
	}
	for _, tt := range tests {
		s := MustParse(tt.s)
		before := s.String()
		got := s.Filter(MustParse(tt.granted))
		if got.String() != tt.want {
			t.Errorf("%q.Filter(%q) = %q, want %q", tt.s, tt.granted, got, tt.want)
		}
		if s.String() != before {
			t.Errorf("Filter modified its receiver: %q", s)
		}
		if l := got.List(); l == nil {
			t.Errorf("%q.Filter(%q).List() is nil", tt.s, tt.granted)
		}
	}
}

func TestUnion(t *testing.T) {
	tests := []struct {
		a, b, want string
	}{
		{"", "", ""},
		{"a", "", "a"},
		{"", "a", "a"},
		{"a c e", "b d f", "a b c d e f"},
		{"a b", "a b", "a b"},
		{"a b c", "b", "a b c"},
		{"*", "ledgers:read", "* ledgers:read"},
		{"x y", "a z", "a x y z"},
	}
	for _, tt := range tests {
		a, b := MustParse(tt.a), MustParse(tt.b)
		got := a.Union(b)
		if got.String() != tt.want {
			t.Errorf("%q ∪ %q = %q, want %q", tt.a, tt.b, got, tt.want)
		}
		if rev := b.Union(a); rev.String() != tt.want {
			t.Errorf("%q ∪ %q = %q, want %q", tt.b, tt.a, rev, tt.want)
		}
		if a.String() != MustParse(tt.a).String() || b.String() != MustParse(tt.b).String() {
			t.Errorf("Union modified an operand")
		}
	}
}

func TestContains(t *testing.T) {
	s := MustParse("* ledgers:* mcp:write")
	for _, tt := range []struct {
		scope string
		want  bool
	}{
		{"*", true}, {"ledgers:*", true}, {"mcp:write", true},
		{"ledgers:read", false}, // covered, but not a member
		{"mcp:read", false},
		{"", false},
	} {
		if got := s.Contains(tt.scope); got != tt.want {
			t.Errorf("Contains(%q) = %v, want %v", tt.scope, got, tt.want)
		}
	}
}

func TestListIsACopy(t *testing.T) {
	s := MustParse("a b")
	l := s.List()
	l[0] = "zzz"
	if s.String() != "a b" {
		t.Errorf("modifying List() changed the set: %q", s)
	}
	var zero Set
	if l := zero.List(); l == nil || len(l) != 0 {
		t.Errorf("empty List() = %#v, want non-nil empty slice", l)
	}
}

func TestUnionDoesNotAlias(t *testing.T) {
	// Appending to a Union result must never write into an operand's array.
	a := MustParse("a b")
	u := a.Union(MustParse("c"))
	_ = append(u.scopes, "zzz")
	e := MustParse("a").Union(Set{})
	_ = append(e.scopes, "zzz")
	if a.String() != "a b" {
		t.Errorf("operand changed: %q", a)
	}
}

func TestJSON(t *testing.T) {
	tests := []struct {
		set  string
		json string
	}{
		{"", `[]`},
		{"b a", `["a","b"]`},
		{"ledgers:* *", `["*","ledgers:*"]`},
	}
	for _, tt := range tests {
		s := MustParse(tt.set)
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != tt.json {
			t.Errorf("Marshal(%q) = %s, want %s", tt.set, data, tt.json)
		}
		var back Set
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("Unmarshal(%s): %v", data, err)
		}
		if back.String() != s.String() {
			t.Errorf("round trip of %q gave %q", s, back)
		}
	}

	// Marshalling through a pointer and as a struct field.
	s := MustParse("x")
	type wrapper struct {
		Scopes  Set  `json:"scopes"`
		Pointer *Set `json:"pointer"`
	}
	data, err := json.Marshal(wrapper{Scopes: s, Pointer: &s})
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"scopes":["x"],"pointer":["x"]}` {
		t.Errorf("Marshal(wrapper) = %s", data)
	}
	var w wrapper
	if err := json.Unmarshal([]byte(`{"scopes":["b","a","b"],"pointer":null}`), &w); err != nil {
		t.Fatal(err)
	}
	if w.Scopes.String() != "a b" || w.Pointer != nil {
		t.Errorf("Unmarshal(wrapper) = %q, %v", w.Scopes, w.Pointer)
	}
}

func TestUnmarshalJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: `[]`, want: ""},
		{in: `["c","a","c"]`, want: "a c"},
		{in: ` [ "a" ] `, want: "a"},
		{in: `null`, want: "keep"}, // no-op, per the encoding/json convention
		{in: `["a b"]`, wantErr: true},
		{in: `[""]`, wantErr: true},
		{in: `["a\\b"]`, wantErr: true},
		{in: `["\u007f"]`, wantErr: true},
		{in: `[null]`, wantErr: true},
		{in: `[1]`, wantErr: true},
		{in: `"a b"`, wantErr: true}, // a space-delimited string is not accepted here
		{in: `{}`, wantErr: true},
		{in: `[`, wantErr: true},
	}
	for _, tt := range tests {
		s := MustParse("keep")
		err := json.Unmarshal([]byte(tt.in), &s)
		if tt.wantErr {
			if err == nil {
				t.Errorf("Unmarshal(%s) = %q, want error", tt.in, s)
			}
			if s.String() != "keep" {
				t.Errorf("failed Unmarshal(%s) changed the set to %q", tt.in, s)
			}
			continue
		}
		if err != nil {
			t.Errorf("Unmarshal(%s): %v", tt.in, err)
			continue
		}
		if s.String() != tt.want {
			t.Errorf("Unmarshal(%s) = %q, want %q", tt.in, s, tt.want)
		}
	}
	// Direct call too, since some callers bypass encoding/json.
	var s Set
	if err := s.UnmarshalJSON([]byte(`["a\"b"]`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("UnmarshalJSON error %v does not wrap ErrInvalid", err)
	}
}

var sink bool

func TestCoversDoesNotAllocate(t *testing.T) {
	s := MustParse("balances:read ledgers:* *:write openid a:b:c")
	required := []string{"ledgers:read", "mcp:read", "mcp:admin", "openid", "x:y:z", "bad scope", "*"}
	allocs := testing.AllocsPerRun(1000, func() {
		for _, r := range required {
			sink = s.Covers(r)
		}
	})
	if allocs != 0 {
		t.Errorf("Covers allocated %v times per run, want 0", allocs)
	}
	all := MustParse("ledgers:read mcp:read")
	allocs = testing.AllocsPerRun(1000, func() { sink = s.CoversAll(all) })
	if allocs != 0 {
		t.Errorf("CoversAll allocated %v times per run, want 0", allocs)
	}
}

func BenchmarkCovers(b *testing.B) {
	s := MustParse("balances:read identities:read ledgers:* transactions:write mcp:write")
	for _, r := range []string{"ledgers:read", "mcp:read", "accounts:write"} {
		b.Run(r, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = s.Covers(r)
			}
		})
	}
}
