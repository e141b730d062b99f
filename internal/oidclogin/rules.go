package oidclogin

import (
	"fmt"
	"strings"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// DefaultScopeClaim is the claim whose values Rules.Grants maps to scopes
// when Rules.ScopeClaim is "".
const DefaultScopeClaim = "groups"

// Rules decide who may sign in and what they may grant.
//
// Who: a person whose provider says their email is verified
// (email_verified true), and whose email address is one of AllowedEmails or
// has its domain (the part after the @, exactly: not its subdomains) in
// AllowedDomains. Addresses and domains compare in ASCII lowercase only:
// no Unicode folding, under which a "K" (U+212A KELVIN SIGN) would pass for
// a "k".
//
// What: DefaultGrant for everyone allowed, plus, for each value of the
// ScopeClaim claim (a string or an array of strings) that Grants names, the
// scopes Grants gives it. A person granted nothing may still sign in (to
// see what they cannot do); they can approve nothing.
type Rules struct {
	AllowedDomains []string
	AllowedEmails  []string
	// ScopeClaim names the claim read for Grants; DefaultScopeClaim when "".
	ScopeClaim string
	// Grants maps a value of ScopeClaim to the scopes it gives.
	Grants map[string]scope.Set
	// DefaultGrant is given to everyone allowed in.
	DefaultGrant scope.Set
}

// Check reports a configuration mistake: no one is named who may sign in
// (without a list, everyone with an account at the provider would get in:
// at a public provider, the whole world), or a malformed entry.
func (r Rules) Check() error {
	if len(r.AllowedDomains) == 0 && len(r.AllowedEmails) == 0 {
		return fmt.Errorf("name who may sign in with allowed_domains or allowed_emails")
	}
	for _, d := range r.AllowedDomains {
		if d == "" || strings.ContainsAny(d, "@ \t") || d != asciiLower(d) || strings.HasPrefix(d, ".") {
			return fmt.Errorf("allowed_domains: %q is not a lowercase domain name (example.com)", d)
		}
	}
	for _, e := range r.AllowedEmails {
		if _, _, ok := splitEmail(e); !ok || e != asciiLower(e) {
			return fmt.Errorf("allowed_emails: %q is not a lowercase email address", e)
		}
	}
	return nil
}

// Claims are what the rules read of a person: the provider's claims,
// decoded from JSON.
type Claims map[string]any

// NotAllowedError is a person the rules refuse; Reason may be shown to them.
type NotAllowedError struct{ Reason string }

func (e *NotAllowedError) Error() string { return "not allowed to sign in: " + e.Reason }

// Decide applies the rules to a person's claims: the scopes they may grant,
// or a *NotAllowedError.
func (r Rules) Decide(c Claims) (scope.Set, error) {
	email, _ := c["email"].(string)
	if email == "" {
		return scope.Set{}, &NotAllowedError{"the provider gave no email address (ask for the email scope)"}
	}
	if !verified(c["email_verified"]) {
		return scope.Set{}, &NotAllowedError{"the provider does not say that the email address is verified"}
	}
	lower := asciiLower(email)
	_, domain, ok := splitEmail(lower)
	if !ok {
		return scope.Set{}, &NotAllowedError{"the email address is malformed"}
	}
	allowed := false
	for _, e := range r.AllowedEmails {
		allowed = allowed || e == lower
	}
	for _, d := range r.AllowedDomains {
		allowed = allowed || d == domain
	}
	if !allowed {
		return scope.Set{}, &NotAllowedError{"this email address may not sign in here"}
	}
	granted := r.DefaultGrant
	claim := r.ScopeClaim
	if claim == "" {
		claim = DefaultScopeClaim
	}
	for _, v := range claimValues(c[claim]) {
		if s, ok := r.Grants[v]; ok {
			granted = granted.Union(s)
		}
	}
	return granted, nil
}

// verified: true, or the string "true" that some providers send.
func verified(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// claimValues are a claim's string values: one string, or the strings of an
// array; anything else has none.
func claimValues(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}

// splitEmail splits an address with exactly one @, a non-empty local part
// and domain, and no spaces or control characters.
func splitEmail(e string) (local, domain string, ok bool) {
	if strings.Count(e, "@") != 1 {
		return "", "", false
	}
	for i := 0; i < len(e); i++ {
		if e[i] <= ' ' || e[i] == 0x7f {
			return "", "", false
		}
	}
	local, domain, _ = strings.Cut(e, "@")
	return local, domain, local != "" && domain != ""
}

// asciiLower lowercases A to Z only.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
