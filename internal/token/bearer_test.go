package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIsB64Token(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"abc.DEF-_~+/09", true},
		{"abc==", true},
		{"", false},
		{"=", false},
		{"ab=c", false},
		{"a b", false},
		{"a\"b", false},
		{"é", false},
		{strings.Repeat("a", MaxTokenLength), true},
		{strings.Repeat("a", MaxTokenLength+1), false},
	} {
		if got := IsB64Token(tc.s); got != tc.want {
			t.Errorf("IsB64Token(%.20q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// TestVerifyBearer: a value that is no b64token is malformed, not merely
// invalid; a valid token verifies and is then served from the cache.
func TestVerifyBearer(t *testing.T) {
	k := genKey(t, ES256)
	v := newVerifier(t, []*Key{k}, time.Second, 100)
	now := time.Now()
	tok := issue(t, k, time.Minute, now)

	if _, err := v.VerifyBearer(tok.Token+"\"", now); !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed: %v, want ErrMalformed", err)
	}
	if _, err := v.VerifyBearer("abc.def.ghi", now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("garbage: %v, want ErrInvalid", err)
	}
	got, err := v.VerifyBearer(tok.Token, now)
	if err != nil || got.ClientID != testClient {
		t.Fatalf("valid: %v %v", got, err)
	}
	cached := waitCached(t, v, tok.Token, now)
	if again, err := v.VerifyBearer(tok.Token, now); err != nil || again != cached {
		t.Fatalf("cached: %p %v, want %p", again, err, cached)
	}
	if _, err := v.VerifyBearer(tok.Token, now.Add(2*time.Minute)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired: %v, want ErrInvalid", err)
	}
}
