package blnkapi

import (
	"errors"
	"testing"
)

func TestKeysOperation(t *testing.T) {
	for _, c := range []struct {
		method, path string
		want         KeysOp
	}{
		{"POST", "/api-keys", KeysCreate},
		{"GET", "/api-keys", KeysList},
		{"DELETE", "/api-keys/api_key_1", KeysRevoke},
		{"POST", "/api-keys/", KeysOther},
		{"GET", "/api-keys/", KeysOther},
		{"HEAD", "/api-keys", KeysOther},
		{"PUT", "/api-keys", KeysOther},
		{"PATCH", "/api-keys", KeysOther},
		{"DELETE", "/api-keys", KeysOther},
		{"DELETE", "/api-keys/", KeysOther},
		{"DELETE", "/api-keys/a/b", KeysOther},
		{"GET", "/api-keys/api_key_1", KeysOther},
		{"get", "/api-keys", KeysOther},
		{"GET", "/ledgers", NotKeys},
		{"GET", "/api-keysx", NotKeys},
		{"GET", "/Api-Keys", NotKeys},
		{"GET", "/", NotKeys},
	} {
		if got := KeysOperation(c.method, c.path); got != c.want {
			t.Errorf("KeysOperation(%q, %q) = %v, want %v", c.method, c.path, got, c.want)
		}
	}
}

func TestOwnerQuery(t *testing.T) {
	for _, c := range []struct {
		raw, want string
		err       error
	}{
		{"", "owner=blnk_cid_a", nil},
		{"owner=blnk_cid_a", "owner=blnk_cid_a", nil},
		{"owner=blnk_cid_a&owner=blnk_cid_a&x=1", "owner=blnk_cid_a", nil},
		{"Owner=someone", "owner=blnk_cid_a", nil}, // Gin reads "owner" only; dropped
		{"owner=someone", "", ErrForeignOwner},
		{"owner=blnk_cid_a&owner=someone", "", ErrForeignOwner},
		{"owner=", "", ErrForeignOwner},
		{"owner=%zz", "", ErrMalformed},
		{"owner=blnk_cid_a;owner=someone", "", ErrMalformed},
	} {
		got, err := OwnerQuery(c.raw, "blnk_cid_a")
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("OwnerQuery(%q) = %q, %v; want %q, %v", c.raw, got, err, c.want, c.err)
		}
	}
}

func TestBlnkScope(t *testing.T) {
	for s, want := range map[string]bool{
		"ledgers:read": true, "api-keys:delete": true, "*:*": true, "*:write": true, "balances:*": true,
		"ledgers": false, "*": false, "ledgers:read:x": false, ":read": false, "ledgers:": false,
		"mocked-account:read": false, "Ledgers:read": false, "ledgers:Read": false, "mcp:read": false,
		"ledgers:list": false, "": false,
	} {
		if got := blnkScope(s); got != want {
			t.Errorf("blnkScope(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestScopes(t *testing.T) {
	all, some := Scopes(true), Scopes(false)
	if len(all) != 3*len(wantResources) || len(some) != len(all)-3 {
		t.Fatalf("Scopes: %d and %d scopes", len(all), len(some))
	}
	for _, s := range all {
		if !blnkScope(s) {
			t.Errorf("%q is not a Blnk scope", s)
		}
	}
	for _, s := range some {
		if s == "api-keys:read" || s == "api-keys:write" || s == "api-keys:delete" {
			t.Errorf("Scopes(false) lists %s", s)
		}
	}
	all[0] = "mutated"
	if Scopes(true)[0] != "ledgers:read" {
		t.Fatal("Scopes returned a slice that aliases internal state")
	}
}
