// Package mcpsession binds MCP sessions (Streamable HTTP, Mcp-Session-Id) to
// the client that opened them. The gateway hands a client not the upstream's
// session ID but that ID followed by a MAC over the client ID and the ID, and
// takes the MAC off again on the way in: a session ID learned by another
// client does not verify for it, and the upstream never sees it. Every
// instance derives the MAC key from one random key kept sealed in the
// database (package keyring), so any of them checks any session ID. Never
// from the secret itself: every client holds session IDs, which would let
// it guess the secret offline at the speed of a hash.
package mcpsession

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// macLen is the MAC's length in bytes: 128 bits is beyond forging online.
const macLen = 16

// sep separates the upstream's ID from the MAC; the MAC (base64url) never
// contains it, so the last one splits even when the upstream's ID has some.
const sep = '.'

// Binder wraps and unwraps session IDs. It is safe for concurrent use.
type Binder struct {
	key []byte
}

// New derives the binder's key from key, a random key of its own, under a
// label so that it serves nothing else.
func New(key string) *Binder {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("blnk-auth-gateway mcp-session-id v1"))
	return &Binder{key: m.Sum(nil)}
}

func (b *Binder) mac(clientID, upstream string) string {
	m := hmac.New(sha256.New, b.key)
	// clientID names the session's owner: a client ID, or a client ID, NUL
	// and the person it acts for (resourceserver). An unwrapped upstream ID
	// is visible ASCII, never NUL, so the input parses one way only.
	m.Write([]byte(clientID))
	m.Write([]byte{0})
	m.Write([]byte(upstream))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:macLen])
}

// Wrap returns the session ID to give clientID for the upstream's ID. It
// keeps to visible ASCII (0x21–0x7E) when the upstream's ID does.
func (b *Binder) Wrap(clientID, upstream string) string {
	return upstream + string(sep) + b.mac(clientID, upstream)
}

// Unwrap returns the upstream's session ID inside id if id was wrapped for
// clientID, comparing the MAC in constant time.
func (b *Binder) Unwrap(clientID, id string) (upstream string, ok bool) {
	i := strings.LastIndexByte(id, sep)
	if i <= 0 {
		return "", false
	}
	upstream, got := id[:i], id[i+1:]
	if !Visible(upstream) {
		return "", false
	}
	if !hmac.Equal([]byte(got), []byte(b.mac(clientID, upstream))) {
		return "", false
	}
	return upstream, true
}

// Visible reports whether s is a non-empty run of visible ASCII, the
// characters the MCP specification allows in a session ID.
func Visible(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
