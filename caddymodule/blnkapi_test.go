package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// blnkAPIRoutes is a blnk_api route in front of the test's upstream.
const blnkAPIRoutes = `
		blnk_auth {
			blnk_api {
				upstream_key gateway-own-blnk-key
			}
		}
		reverse_proxy {upstream}`

// TestBlnkAPI: in front of Blnk Core each operation needs the scope Blnk
// derives from it, and the caller's credential is replaced by the gateway's.
func TestBlnkAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: blnkAPIRoutes})
		reader := g.create("ledger reader", store.TypeOAuth, []string{"ledgers:read"}, nil)
		anyRead := g.create("reads everything", store.TypeOAuth, []string{"*:read"}, nil)
		key := g.create("writer key", store.TypeAPIKey, []string{"ledgers:*", "transactions:write"}, nil)
		rt := g.token(reader.Client.ID, reader.Secret, nil)
		at := g.token(anyRead.Client.ID, anyRead.Secret, nil)

		send := func(method, path string, headers ...string) tokenResponse {
			req, _ := http.NewRequest(method, g.apiURL+path, nil)
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			return g.do(req)
		}
		cases := []struct {
			method, path string
			cred         []string
			status       int
			need         string
		}{
			{"GET", "/ledgers", bearer(rt), 200, ""},
			{"GET", "/ledgers/ldg_1/balances", bearer(rt), 200, ""},
			{"HEAD", "/ledgers", bearer(rt), 200, ""},
			{"POST", "/ledgers", bearer(rt), 403, "ledgers:write"},
			{"DELETE", "/ledgers/ldg_1", bearer(rt), 403, "ledgers:delete"},
			{"GET", "/balances/bln_1", bearer(rt), 403, "balances:read"},
			{"GET", "/balances/bln_1", bearer(at), 200, ""},
			{"GET", "/mocked-account", bearer(at), 200, ""},
			{"POST", "/transactions", bearer(at), 403, "transactions:write"},
			{"GET", "/nonsense", bearer(at), 403, ""},
			{"OPTIONS", "/ledgers", bearer(at), 403, ""},
			{"POST", "/ledgers", []string{"X-Blnk-Key", key.Secret}, 200, ""},
			{"DELETE", "/ledgers/ldg_1", []string{"X-Blnk-Key", key.Secret}, 200, ""},
			{"POST", "/refund-transaction/txn_1", []string{"X-Blnk-Key", key.Secret}, 200, ""},
			{"GET", "/transactions", []string{"X-Blnk-Key", key.Secret}, 403, "transactions:read"},
			{"GET", "/ledgers", nil, 401, ""},
		}
		for _, tc := range cases {
			r := send(tc.method, tc.path, tc.cred...)
			if r.status != tc.status {
				t.Errorf("%s %s: %d, want %d (%s)", tc.method, tc.path, r.status, tc.status, r.raw)
				continue
			}
			if tc.need != "" && !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="`+tc.need+`"`) {
				t.Errorf("%s %s: challenge %q should ask for %s", tc.method, tc.path, r.header.Get("WWW-Authenticate"), tc.need)
			}
			if r.status == 200 {
				h := g.upstream.lastHeader()
				if h.Get("X-Blnk-Key") != "gateway-own-blnk-key" || h.Get("Authorization") != "" || len(h.Values("X-Blnk-Key")) != 1 {
					t.Errorf("%s %s: upstream saw %v", tc.method, tc.path, h)
				}
			}
		}
	})
}
