package admin_test

import (
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/keyring"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// keysOptions are how the fixture's service manages the signing keys.
var keysOptions = keyring.Options{
	Secret: "q0mJ3sV9yq8m3Xw1H4nTQm6u9q2L5d8rFh7bKc1sZx4=", Algorithm: token.ES256,
	Policy: keyring.Policy{Period: 30 * 24 * time.Hour, Lead: time.Hour},
}

func TestKeysAPI(t *testing.T) { forEachStore(t, testKeysAPI) }

// testKeysAPI: GET /keys lists the keys with their states and no private
// half, for keys:read (or the master key); POST /keys/rotate needs
// keys:write, publishes a successor, and with now revokes every other key;
// each key event is in the audit log with who did it.
func testKeysAPI(t *testing.T, f *fixture) {
	ring, err := keyring.Open(t.Context(), f.st, keysOptions)
	if err != nil {
		t.Fatal(err)
	}
	first := ring.Signing.KID
	a := newAPI(t, f)
	reader, _ := a.token("key-reader", "keys:read")
	clientsOnly, _ := a.token("clients-admin", "api-keys:read", "api-keys:write")
	writer, writerID := a.token("key-writer", "keys:write")

	list := a.must(a.do("GET", "/keys", reader, ""), 200, "GET /keys with keys:read")
	keys := list.body["keys"].([]any)
	k0 := keys[0].(map[string]any)
	if len(keys) != 1 || k0["kid"] != first || k0["state"] != store.KeyActive || k0["algorithm"] != "ES256" || k0["activates_at"] == nil {
		t.Fatalf("GET /keys: %s", list.raw)
	}
	for _, private := range []string{`"d"`, "sealed", "private"} {
		if contains(list.raw, private) {
			t.Errorf("GET /keys shows %s: %s", private, list.raw)
		}
	}
	a.must(a.do("GET", "/keys", clientsOnly, ""), 403, "GET /keys with api-keys scopes only")
	a.must(a.do("POST", "/keys/rotate", reader, ""), 403, "rotate with keys:read")
	a.must(a.do("POST", "/keys/rotate", writer, `{"now":"yes"}`), 400, "now not a boolean")
	a.must(a.do("POST", "/keys/rotate", writer, `{"later":true}`), 400, "unknown field")
	if kr, _ := f.st.Keyring(t.Context()); len(kr.Keys) != 1 {
		t.Fatalf("refused rotations wrote %d keys", len(kr.Keys))
	}

	rot := a.must(a.do("POST", "/keys/rotate", writer, ""), 200, "rotate")
	keys = rot.body["keys"].([]any)
	if len(keys) != 2 || keys[0].(map[string]any)["state"] != store.KeyPublished || keys[1].(map[string]any)["kid"] != first || keys[1].(map[string]any)["retires_at"] == nil {
		t.Fatalf("after rotate: %s", rot.raw)
	}
	next := keys[0].(map[string]any)["kid"].(string)

	now := a.must(a.do("POST", "/keys/rotate", "master", `{"now":true}`), 200, "rotate now")
	keys = now.body["keys"].([]any)
	if len(keys) != 3 || keys[0].(map[string]any)["state"] != store.KeyActive {
		t.Fatalf("after rotate now: %s", now.raw)
	}
	for _, k := range keys[1:] {
		if m := k.(map[string]any); m["state"] != store.KeyRevoked || m["revoked_at"] == nil {
			t.Errorf("a previous key after rotate now: %v", m)
		}
	}
	evs, err := f.st.ListAudit(t.Context(), store.AuditFilter{ClientID: next, Limit: 10})
	if err != nil || len(evs) != 2 || evs[1].Action != store.ActionKeyCreated || evs[1].Actor != writerID || evs[0].Action != store.ActionKeyRevoked || evs[0].Actor != "master_key" || evs[0].Source != "203.0.113.7" {
		t.Errorf("audit of %s: %+v, %v", next, evs, err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
