package caddymodule

import (
	"fmt"
	"slices"
	"testing"
)

// TestBlnkAPIMetadata: a blnk_api route's Protected Resource Metadata lists
// the resource:action scopes Blnk Core checks (it said scopes_supported: []),
// plus the route's own; the api-keys scopes only where manage_api_keys lets
// them be used.
func TestBlnkAPIMetadata(t *testing.T) {
	for _, c := range []struct {
		options  string
		withKeys bool
	}{{"", false}, {"\n\t\t\t\tmanage_api_keys", true}} {
		t.Run(fmt.Sprint("manage_api_keys=", c.withKeys), func(t *testing.T) {
			g, _ := startBlnkKeysGateway(t, kindSQLite, c.options)
			md := g.call("/.well-known/oauth-protected-resource")
			list, _ := md.body["scopes_supported"].([]any)
			got := map[string]bool{}
			for _, s := range list {
				got[s.(string)] = true
			}
			if md.status != 200 || len(list) == 0 {
				t.Fatalf("metadata: %d %s", md.status, md.raw)
			}
			for _, res := range []string{"ledgers", "balances", "accounts", "identities", "transactions", "balance-monitors", "hooks", "search", "reconciliation", "metadata", "backup"} {
				for _, act := range []string{"read", "write", "delete"} {
					if !got[res+":"+act] {
						t.Errorf("scopes_supported lacks %s:%s: %s", res, act, md.raw)
					}
				}
			}
			for _, act := range []string{"read", "write", "delete"} {
				if got["api-keys:"+act] != c.withKeys {
					t.Errorf("manage_api_keys=%v: api-keys:%s listed %v", c.withKeys, act, got["api-keys:"+act])
				}
			}
			if !slices.IsSorted(toStrings(list)) {
				t.Errorf("scopes_supported not sorted: %v", list)
			}
		})
	}
}

func toStrings(l []any) []string {
	out := make([]string, len(l))
	for i, v := range l {
		out[i], _ = v.(string)
	}
	return out
}
