package admin_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// TestAdminAPIDatabaseDown: while the database refuses connections (its
// server going down, here a database that no longer accepts them and whose
// sessions were ended), the admin API says 503 temporarily_unavailable with
// Retry-After, as every other surface of the gateway does for an outage: not
// 500 server_error, which tells an operator's script the request itself is
// at fault and not to retry.
func TestAdminAPIDatabaseDown(t *testing.T) {
	f := setup(t, kindPostgres)
	a := newAPI(t, f)
	c := f.create(t, admin.CreateParams{Name: "outage"})

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dbName := currentDB(t, ctx, f)
	u, err := url.Parse(testdb.New(t)) // another database, to reach the server from
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	ident := pgx.Identifier{dbName}.Sanitize()
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+ident+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), `ALTER DATABASE `+ident+` ALLOW_CONNECTIONS true`)
	})
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, dbName); err != nil {
		t.Fatal(err)
	}

	for _, req := range []struct{ method, path, body string }{
		{"GET", "/clients", ""},
		{"GET", "/clients/" + c.Client.ID, ""},
		{"POST", "/clients", `{"name":"during the outage","scopes":["ledgers:read"]}`},
		{"POST", "/clients/" + c.Client.ID + "/revoke", ""},
	} {
		r := a.do(req.method, req.path, "master", req.body)
		if r.status != 503 || r.body["error"] != "temporarily_unavailable" || r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s with the database down: %d Retry-After %q %s, want 503 temporarily_unavailable with Retry-After",
				req.method, req.path, r.status, r.header.Get("Retry-After"), strings.TrimSpace(r.raw))
		}
	}
}

func currentDB(t *testing.T, ctx context.Context, f *fixture) string {
	t.Helper()
	var name string
	if err := f.raw.QueryRowContext(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}
