package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// TestHealthProbes: through real Caddy on PostgreSQL, in a site that
// blnk_auth guards (the probes run first, without a credential), /readyz answers 200
// once the gateway is synced and 503 (with the reason, never the database's
// address) once its database is gone, while /livez keeps answering 200.
func TestHealthProbes(t *testing.T) {
	port := freePort(t)
	g := startGateway(t, gatewayOptions{extraConfig: fmt.Sprintf(`http://127.0.0.1:%d {
	bind 127.0.0.1
	blnk_auth mcp:read
	blnk_health /readyz ready
	blnk_health /livez live
	respond "guarded" 200
}`, port)})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	probe := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Status, Reason string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.Header.Get("Cache-Control") != "no-store" && path != "/other" {
			t.Errorf("%s may be cached", path)
		}
		return resp.StatusCode, body.Status + ": " + body.Reason
	}
	eventually(t, 10*time.Second, "ready", func() bool { code, _ := probe("/readyz"); return code == 200 })
	if code, _ := probe("/livez"); code != 200 {
		t.Fatalf("/livez %d", code)
	}
	if code, _ := probe("/other"); code != 401 {
		t.Fatalf("the rest of the site answered %d without a credential", code)
	}

	// The database goes away.
	u, err := url.Parse(g.dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, testdb.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, `DROP DATABASE `+strings.TrimPrefix(u.Path, "/")+` WITH (FORCE)`); err != nil {
		t.Fatal(err)
	}
	var last string
	eventually(t, 10*time.Second, "not ready without a database", func() bool {
		code, body := probe("/readyz")
		last = body
		return code == 503
	})
	if strings.Contains(last, "127.0.0.1") || strings.Contains(last, "postgres") {
		t.Errorf("the reason leaks the database's address: %q", last)
	}
	if code, _ := probe("/livez"); code != 200 {
		t.Fatalf("/livez %d without a database: an orchestrator would restart a healthy process", code)
	}
}
