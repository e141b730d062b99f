// Package scope implements OAuth 2.0 scopes (RFC 6749 §3.3) with Blnk Core's
// "resource:action" wildcard semantics.
//
// A granted scope covers a required scope when:
//
//   - the granted scope is "*" (everything); or
//   - both are identical; or
//   - both are structured ("resource:action", exactly one colon, both sides
//     non-empty) and each side of the granted scope is "*" or equal to the
//     corresponding side of the required scope.
//
// Wildcards are only expanded on the granted side: a required "ledgers:*" is
// a literal demand for the wildcard grant itself, so "ledgers:read" does not
// satisfy it. The single implication in the model is that whatever covers
// "mcp:write" also covers "mcp:read"; no other action implies another.
package scope

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxLength is the longest scope token accepted, in bytes. RFC 6749 sets no
// limit; the cap bounds the cost of storing and matching hostile input.
const MaxLength = 128

// All is the scope that covers every other scope.
const All = "*"

// ErrInvalid is wrapped by every error reporting a malformed scope or scope
// list, so callers can answer with "invalid_scope" (RFC 6749 §5.2).
var ErrInvalid = errors.New("scope: invalid scope")

// The only implication between actions: write access to the MCP endpoint
// includes read access.
const (
	mcpRead  = "mcp:read"
	mcpWrite = "mcp:write"
)

// Valid reports whether s is a single scope token as defined by RFC 6749 §3.3
// (scope-token = 1*( %x21 / %x23-5B / %x5D-7E )) and at most MaxLength bytes.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Set is an immutable, sorted, de-duplicated set of valid scopes. The zero
// value is the empty set. Methods never modify a Set; those returning a Set
// build a new one, so a Set may be shared freely between goroutines.
type Set struct {
	scopes []string // sorted, unique, all Valid; never mutated after construction
	// joined is String(), computed once: the request path sets it as a
	// placeholder on every request and must not allocate.
	joined string
}

// newSet wraps a sorted, unique, valid list.
func newSet(list []string) Set {
	if len(list) == 0 {
		return Set{}
	}
	return Set{scopes: list, joined: strings.Join(list, " ")}
}

// Parse parses a scope parameter: scope tokens separated by single spaces
// (RFC 6749 §3.3). It is deliberately strict: leading, trailing or repeated
// spaces yield an empty token and are an error, as is any invalid token. The
// empty string is the empty Set.
func Parse(s string) (Set, error) {
	if s == "" {
		return Set{}, nil
	}
	list := strings.Split(s, " ")
	for _, tok := range list {
		if tok == "" {
			return Set{}, fmt.Errorf("%w: empty scope in %q (scopes must be separated by single spaces)", ErrInvalid, s)
		}
	}
	return fromOwnedList(list)
}

// FromList builds a Set from scope tokens, one per element. Duplicates are
// dropped; an invalid token is an error naming it. The input is not retained.
func FromList(list []string) (Set, error) {
	return fromOwnedList(slices.Clone(list))
}

// fromOwnedList validates, sorts and de-duplicates list in place; the caller
// must not use list afterwards.
func fromOwnedList(list []string) (Set, error) {
	for _, tok := range list {
		if !Valid(tok) {
			return Set{}, fmt.Errorf("%w: %q", ErrInvalid, tok)
		}
	}
	if len(list) == 0 {
		return Set{}, nil
	}
	slices.Sort(list)
	return newSet(slices.Clip(slices.Compact(list))), nil
}

// MustParse is like Parse but panics on error. It is meant for tests and
// package-level constants, where a bad scope is a programming error.
func MustParse(s string) Set {
	set, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return set
}

// split returns the resource and action of a structured scope: exactly one
// colon with non-empty text on both sides. Anything else is opaque and can
// only be matched exactly (or by "*").
func split(s string) (resource, action string, ok bool) {
	resource, action, found := strings.Cut(s, ":")
	if !found || resource == "" || action == "" || strings.IndexByte(action, ':') >= 0 {
		return "", "", false
	}
	return resource, action, true
}

// covers reports whether the single granted scope g covers required scope r,
// without the mcp:write implication.
func covers(g, r string) bool {
	if g == All || g == r {
		return true
	}
	gRes, gAct, ok := split(g)
	if !ok {
		return false
	}
	rRes, rAct, ok := split(r)
	if !ok {
		return false
	}
	return (gRes == All || gRes == rRes) && (gAct == All || gAct == rAct)
}

// Covers reports whether the set grants the required scope. An invalid
// required scope is never covered, not even by "*", so a typo in
// configuration fails closed. Covers does not allocate: it runs on every
// request.
func (s Set) Covers(required string) bool {
	if !Valid(required) {
		return false
	}
	return s.covers(required)
}

// covers is Covers for a required scope already known to be valid.
func (s Set) covers(required string) bool {
	for _, g := range s.scopes {
		if covers(g, required) {
			return true
		}
	}
	if required == mcpRead {
		return s.covers(mcpWrite)
	}
	return false
}

// CoversAll reports whether every scope in required is covered by s. The
// empty set is covered by anything.
func (s Set) CoversAll(required Set) bool {
	for _, r := range required.scopes { // members of a Set are valid
		if !s.covers(r) {
			return false
		}
	}
	return true
}

// Filter returns the scopes of s that granted covers. It narrows the scopes
// of an issued token to what its client is still allowed, e.g. after the
// client's grant was reduced.
func (s Set) Filter(granted Set) Set {
	var out []string
	for _, r := range s.scopes {
		if granted.Covers(r) {
			out = append(out, r)
		}
	}
	return newSet(out) // a subsequence of a sorted unique list stays so
}

// Union returns the scopes in s or o.
func (s Set) Union(o Set) Set {
	switch {
	case len(o.scopes) == 0:
		return s
	case len(s.scopes) == 0:
		return o
	}
	// Merge the two sorted lists, dropping duplicates.
	out := make([]string, 0, len(s.scopes)+len(o.scopes))
	a, b := s.scopes, o.scopes
	for len(a) > 0 && len(b) > 0 {
		switch c := strings.Compare(a[0], b[0]); {
		case c < 0:
			out, a = append(out, a[0]), a[1:]
		case c > 0:
			out, b = append(out, b[0]), b[1:]
		default:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	out = append(out, a...)
	out = append(out, b...)
	return newSet(slices.Clip(out))
}

// List returns the scopes in sorted order. The result is a fresh copy the
// caller may modify, and never nil, so it encodes to JSON as [] when empty.
func (s Set) List() []string {
	out := make([]string, len(s.scopes))
	copy(out, s.scopes)
	return out
}

// String returns the scopes sorted and joined by single spaces, the form of
// the "scope" parameter and response field (RFC 6749 §3.3, §5.1).
func (s Set) String() string {
	return s.joined
}

// Len returns the number of scopes in s.
func (s Set) Len() int {
	return len(s.scopes)
}

// IsEmpty reports whether s has no scopes.
func (s Set) IsEmpty() bool {
	return len(s.scopes) == 0
}

// Contains reports whether scope is literally a member of s, ignoring
// wildcards; use Covers for authorization decisions.
func (s Set) Contains(scope string) bool {
	_, found := slices.BinarySearch(s.scopes, scope)
	return found
}

// MarshalJSON encodes s as a JSON array of strings, [] when empty.
func (s Set) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.List())
}

// UnmarshalJSON decodes a JSON array of scope strings, validating each. As
// encoding/json expects of Unmarshalers, null leaves s unchanged.
func (s *Set) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("%w: want a JSON array of strings: %w", ErrInvalid, err)
	}
	set, err := fromOwnedList(list)
	if err != nil {
		return err
	}
	*s = set
	return nil
}
