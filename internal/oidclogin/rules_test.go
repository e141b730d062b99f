package oidclogin

import (
	"errors"
	"strings"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// TestRulesDecide: only verified addresses named by the rules get in, in
// ASCII lowercase and without Unicode folding; groups map to scopes.
func TestRulesDecide(t *testing.T) {
	r := Rules{
		AllowedDomains: []string{"example.com"},
		AllowedEmails:  []string{"contractor@other.org"},
		Grants: map[string]scope.Set{
			"mcp-users": scope.MustParse("mcp:read"),
			"admins":    scope.MustParse("api-keys:read api-keys:write"),
		},
		DefaultGrant: scope.MustParse("ledgers:read"),
	}
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		claims Claims
		want   string // scopes, or "refused"
	}{
		{"domain", Claims{"email": "jane@example.com", "email_verified": true}, "ledgers:read"},
		{"uppercase", Claims{"email": "Jane@EXAMPLE.com", "email_verified": true}, "ledgers:read"},
		{"verified as a string", Claims{"email": "jane@example.com", "email_verified": "true"}, "ledgers:read"},
		{"listed address", Claims{"email": "contractor@other.org", "email_verified": true}, "ledgers:read"},
		{"groups", Claims{"email": "jane@example.com", "email_verified": true, "groups": []any{"mcp-users", "admins", 7, "unknown"}}, "api-keys:read api-keys:write ledgers:read mcp:read"},
		{"one group as a string", Claims{"email": "jane@example.com", "email_verified": true, "groups": "mcp-users"}, "ledgers:read mcp:read"},
		{"unverified", Claims{"email": "jane@example.com", "email_verified": false}, "refused"},
		{"verified missing", Claims{"email": "jane@example.com"}, "refused"},
		{"verified as another string", Claims{"email": "jane@example.com", "email_verified": "yes"}, "refused"},
		{"no email", Claims{"email_verified": true}, "refused"},
		{"other domain", Claims{"email": "jane@example.org", "email_verified": true}, "refused"},
		{"subdomain", Claims{"email": "jane@evil.example.com", "email_verified": true}, "refused"},
		{"suffix", Claims{"email": "jane@evilexample.com", "email_verified": true}, "refused"},
		{"two @", Claims{"email": "jane@evil.org@example.com", "email_verified": true}, "refused"},
		{"unicode look-alike", Claims{"email": "jane@exampl\u0435.com", "email_verified": true}, "refused"},
		{"kelvin", Claims{"email": "jane@\u212aexample.com", "email_verified": true}, "refused"},
		{"space", Claims{"email": "jane @example.com", "email_verified": true}, "refused"},
		{"email not a string", Claims{"email": []any{"jane@example.com"}, "email_verified": true}, "refused"},
	} {
		got, err := r.Decide(c.claims)
		var na *NotAllowedError
		switch {
		case c.want == "refused" && !errors.As(err, &na):
			t.Errorf("%s: Decide = %v, %v; want refused", c.name, got, err)
		case c.want != "refused" && (err != nil || got.String() != c.want):
			t.Errorf("%s: Decide = %q, %v; want %q", c.name, got.String(), err, c.want)
		}
	}
	// A domain list written with a K (U+212A) must not admit the ASCII k
	// either: the rules compare bytes.
	k := Rules{AllowedDomains: []string{"\u212aexample.com"}}
	if _, err := k.Decide(Claims{"email": "a@kexample.com", "email_verified": true}); err == nil {
		t.Error("a Kelvin sign in the rules matched an ASCII k")
	}
}

// TestRulesCheck: a configuration that names no one, or names them wrongly,
// is refused.
func TestRulesCheck(t *testing.T) {
	for _, r := range []Rules{
		{},
		{AllowedDomains: []string{"Example.com"}},
		{AllowedDomains: []string{"@example.com"}},
		{AllowedDomains: []string{""}},
		{AllowedEmails: []string{"nobody"}},
		{AllowedEmails: []string{"A@example.com"}},
	} {
		if err := r.Check(); err == nil {
			t.Errorf("Check(%+v) = nil, want an error", r)
		}
	}
}

// TestNewChecksIssuer: the provider is https, or http on loopback only.
func TestNewChecksIssuer(t *testing.T) {
	rules := Rules{AllowedDomains: []string{"example.com"}}
	for _, iss := range []string{"", "http://idp.example.com", "idp.example.com", "https://idp.example.com?x=1", "https://u:p@idp.example.com"} {
		if _, err := New(Config{Issuer: iss, ClientID: "a", ClientSecret: "b", Rules: rules}); err == nil {
			t.Errorf("New(issuer %q) = nil error", iss)
		}
	}
	for _, iss := range []string{"https://idp.example.com", "http://127.0.0.1:9000", "http://localhost:9000/realms/x"} {
		if _, err := New(Config{Issuer: iss, ClientID: "a", ClientSecret: "b", Rules: rules}); err != nil {
			t.Errorf("New(issuer %q): %v", iss, err)
		}
	}
	if _, err := New(Config{Issuer: "https://idp.example.com", ClientID: "a", Rules: rules}); err == nil {
		t.Error("New without a client secret = nil error")
	}
}

// TestDisplayName: a name is kept as text to show: no control characters,
// valid UTF-8, bounded.
func TestDisplayName(t *testing.T) {
	for in, want := range map[string]string{
		"Jane Doe":               "Jane Doe",
		"Jane\r\nSet-Cookie: x":  "JaneSet-Cookie: x",
		"Zoë \u202eevil\x00":     "Zoë evil",
		"bad \xff utf8":          "bad  utf8",
		strings.Repeat("é", 300): strings.Repeat("é", maxName),
	} {
		if got := displayName(in); got != want {
			t.Errorf("displayName(%q) = %q, want %q", in, got, want)
		}
	}
}
