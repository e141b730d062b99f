package caddymodule

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// rawRequest sends exactly the given request-target (no client-side
// cleaning or re-encoding) and returns the answer.
func rawRequest(t *testing.T, baseURL, method, target string, headers ...string) tokenResponse {
	t.Helper()
	addr := strings.TrimPrefix(baseURL, "http://")
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, addr)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := tokenResponse{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// TestBlnkAPINonCanonicalPath: on a blnk_api route the gateway judges a
// request by its path, so a path that a normalising hop could read as
// another (dot segments, empty segments, encoded "/", "." or "\",
// double encoding, ";" parameters) is refused with 400 invalid_request and
// never reaches the upstream, whatever the caller's scopes. Before the fix,
// GET /ledgers/../api-keys passed with ledgers:read and reached the upstream
// unchanged, carrying the gateway's upstream key.
func TestBlnkAPINonCanonicalPath(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: blnkAPIRoutes})
		reader := g.create("ledger reader", store.TypeOAuth, []string{"ledgers:read"}, nil)
		cred := bearer(g.token(reader.Client.ID, reader.Secret, nil))

		for _, target := range []string{
			"/ledgers/../api-keys",
			"/ledgers/%2E%2E/api-keys",
			"/ledgers/%2e%2e/api-keys",
			"/ledgers/..%2Fapi-keys",
			"/ledgers/..%2fapi-keys",
			"/ledgers%2F..%2Fapi-keys",
			"/ledgers%2Fldg_1",
			"/ledgers/.%2E/api-keys",
			"/ledgers/./ldg_1",
			"/ledgers/%2E/ldg_1",
			"/ledgers//ldg_1",
			"/ledgers/ldg_1//",
			"//ledgers",
			"/ledgers/ldg_1/..",
			"/ledgers/ldg_1/.",
			"/ledgers/ldg_1/%2e",
			"/ledgers/...",
			"/ledgers/..\\api-keys",
			"/ledgers/%5C..%5Capi-keys",
			"/ledgers/%5c",
			"/ledgers/..;/api-keys",
			"/ledgers;x/ldg_1",
			"/ledgers/ldg_1%3B",
			"/ledgers/%252e%252e/api-keys",
			"/ledgers/%252F",
			"/ledgers/ldg%00",
			"/ledgers/ldg%0A1",
			"/ledgers/ldg%201",
			"/ledgers/%C0%AE%C0%AE/api-keys",
			"/ledgers/%EF%BC%8E%EF%BC%8E/api-keys",
			"/ledgers/ldg_1%3F/../../api-keys",
			"/ledgers/ldg_1%23",
		} {
			before := g.upstream.hitCount()
			r := rawRequest(t, g.apiURL, "GET", target, cred...)
			if r.status != http.StatusBadRequest || r.body["error"] != "invalid_request" ||
				!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_request"`) {
				t.Errorf("GET %s: %d %s %q, want 400 invalid_request", target, r.status, r.raw, r.header.Get("WWW-Authenticate"))
			}
			if g.upstream.hitCount() != before {
				t.Errorf("GET %s reached the upstream", target)
			}
		}

		// Canonical paths still pass, escapes of harmless characters included.
		for _, target := range []string{
			"/ledgers",
			"/ledgers/",
			"/ledgers/ldg_1",
			"/ledgers/ldg_1/",
			"/ledgers/ref:2024@x",
			"/ledgers/ref%3A2024%40x",
			"/ledgers/a.b..c",
			"/ledgers?name=..%2F..",
		} {
			before := g.upstream.hitCount()
			if r := rawRequest(t, g.apiURL, "GET", target, cred...); r.status != http.StatusOK || g.upstream.hitCount() != before+1 {
				t.Errorf("GET %s: %d %s, want 200 from the upstream", target, r.status, r.raw)
			}
		}
	})
}
