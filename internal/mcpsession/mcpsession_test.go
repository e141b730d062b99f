package mcpsession

import (
	"strings"
	"testing"
)

func TestWrapUnwrap(t *testing.T) {
	b := New("secret-0123456789abcdef-0123456789abcdef")
	for _, up := range []string{"3d026597-0c0c-4b90-a02c-57c8fcfcd0ac", "YZABOLDLZC32PBG6AKHKRQVXIX", "a.b.c", "!~"} {
		id := b.Wrap("blnk_cid_a", up)
		if !Visible(id) {
			t.Errorf("wrapped %q: %q is not visible ASCII", up, id)
		}
		if got, ok := b.Unwrap("blnk_cid_a", id); !ok || got != up {
			t.Errorf("unwrap %q: %q %v", id, got, ok)
		}
		if _, ok := b.Unwrap("blnk_cid_b", id); ok {
			t.Errorf("%q verified for another client", id)
		}
		if _, ok := New("another-secret-0123456789abcdef-012345").Unwrap("blnk_cid_a", id); ok {
			t.Errorf("%q verified under another secret", id)
		}
		if _, ok := b.Unwrap("blnk_cid_a", id[:len(id)-1]+"A"); ok && !strings.HasSuffix(id, "A") {
			t.Errorf("a tampered %q verified", id)
		}
		if _, ok := b.Unwrap("blnk_cid_a", up); ok {
			t.Errorf("the bare upstream ID %q verified", up)
		}
	}
	for _, bad := range []string{"", ".", "nodot", ".mac", "a b.mac", "x\x00.mac"} {
		if _, ok := b.Unwrap("blnk_cid_a", bad); ok {
			t.Errorf("%q verified", bad)
		}
	}
}

func TestSameKeyEverywhere(t *testing.T) {
	s := "secret-0123456789abcdef-0123456789abcdef"
	id := New(s).Wrap("c", "u")
	if got, ok := New(s).Unwrap("c", id); !ok || got != "u" {
		t.Fatal("another instance with the same secret does not verify the ID")
	}
}

func FuzzUnwrap(f *testing.F) {
	b := New("secret-0123456789abcdef-0123456789abcdef")
	f.Add("c", "u.x")
	f.Fuzz(func(t *testing.T, client, id string) {
		if up, ok := b.Unwrap(client, id); ok && b.Wrap(client, up) != id {
			t.Fatalf("%q unwrapped to %q, which wraps differently", id, up)
		}
	})
}
