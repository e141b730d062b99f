package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/sqlite"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// TestClientCommand runs the CLI's client commands, each opening the store
// afresh as the real command does, on both stores: the JSON they print, and
// the errors a person gets for what cannot be done.
func TestClientCommand(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"postgres", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var open func(ctx context.Context, _ *cobra.Command) (store.Store, error)
			if kind == "postgres" {
				dsn := testdb.New(t)
				open = func(ctx context.Context, _ *cobra.Command) (store.Store, error) { return postgres.Open(ctx, dsn) }
			} else {
				path := filepath.Join(t.TempDir(), "gateway.db")
				open = func(ctx context.Context, _ *cobra.Command) (store.Store, error) { return sqlite.Open(ctx, path) }
			}
			run := func(args ...string) (map[string]any, []any, error) {
				t.Helper()
				cmd := admin.ClientCommand(open)
				var out, errs bytes.Buffer
				cmd.SetOut(&out)
				cmd.SetErr(&errs)
				cmd.SetArgs(args)
				if err := cmd.Execute(); err != nil {
					return nil, nil, err
				}
				if errs.Len() != 0 {
					t.Errorf("%v: stderr is not empty on success: %q", args, errs.String())
				}
				var one map[string]any
				if json.Unmarshal(out.Bytes(), &one) == nil {
					return one, nil, nil
				}
				var list []any
				if err := json.Unmarshal(out.Bytes(), &list); err != nil {
					t.Fatalf("%v: output is not JSON: %q", args, out.String())
				}
				return nil, list, nil
			}
			created, _, err := run("create", "--name", "ci job", "--scopes", "mcp:read ledgers:read")
			if err != nil {
				t.Fatal(err)
			}
			id, _ := created["client_id"].(string)
			if id == "" || created["client_secret"] == "" || created["client_secret"] == nil {
				t.Fatalf("create printed %v", created)
			}
			got, _, err := run("get", id)
			if err != nil || got["name"] != "ci job" || got["client_secret"] != nil {
				t.Fatalf("get: %v %v (a secret must never be shown again)", got, err)
			}
			if got, _, err = run("update", id, "--scopes", "mcp:read"); err != nil || len(got["scopes"].([]any)) != 1 {
				t.Fatalf("update: %v %v", got, err)
			}
			// Redirect URIs: repeatable, replaced by update, removed by --no-redirect-uris, refused for API keys.
			if got, _, err = run("update", id, "--redirect-uri", "http://127.0.0.1/callback", "--redirect-uri", "https://app.example/cb"); err != nil || len(got["redirect_uris"].([]any)) != 2 {
				t.Fatalf("update --redirect-uri: %v %v", got, err)
			}
			if got, _, err = run("update", id, "--no-redirect-uris"); err != nil || len(got["redirect_uris"].([]any)) != 0 {
				t.Fatalf("update --no-redirect-uris: %v %v", got, err)
			}
			withURI, _, err := run("create", "--name", "host", "--scopes", "mcp:read", "--redirect-uri", "vscode://blnk/cb")
			if err != nil || withURI["redirect_uris"].([]any)[0] != "vscode://blnk/cb" {
				t.Fatalf("create --redirect-uri: %v %v", withURI, err)
			}
			if _, _, err := run("delete", withURI["client_id"].(string)); err != nil {
				t.Fatal(err)
			}
			for _, bad := range [][]string{
				{"create", "--name", "k", "--scopes", "mcp:read", "--type", "api_key", "--redirect-uri", "https://app.example/cb"},
				{"create", "--name", "k", "--scopes", "mcp:read", "--redirect-uri", "http://app.example/cb"},
				{"create", "--name", "k", "--scopes", "mcp:read", "--redirect-uri", "https://app.example/cb#frag"},
			} {
				if _, _, err := run(bad...); err == nil || !strings.Contains(err.Error(), "redirect_uris") {
					t.Errorf("%v: error %v, want one about redirect_uris", bad, err)
				}
			}
			if got, _, err = run("roll-secret", id, "--grace-period", "1h"); err != nil || got["client_secret"] == nil || got["client_secret"] == created["client_secret"] {
				t.Fatalf("roll-secret: %v %v", got, err)
			}
			if got, _, err = run("revoke", id); err != nil || got["status"] != "revoked" {
				t.Fatalf("revoke: %v %v", got, err)
			}
			if _, list, err := run("list", "--status", "revoked"); err != nil || len(list) != 1 {
				t.Fatalf("list --status revoked: %v %v", list, err)
			}
			if _, list, err := run("list", "--status", "active"); err != nil || len(list) != 0 {
				t.Fatalf("list --status active: %v %v", list, err)
			}
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"update", id, "--name", "x"}, "the client is revoked"},
				{[]string{"get", "cl_nosuchclient"}, "no client"},
				{[]string{"update", id}, "nothing to change"},
				{[]string{"create", "--name", "x", "--scopes", "mcp:read", "--expires", "tomorrow"}, "--expires"},
				{[]string{"roll-secret", id, "--grace-period", "forever"}, "--grace-period"},
			} {
				if _, _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%v: error %v, want one saying %q", tc.args, err, tc.want)
				}
			}
			if got, _, err = run("delete", id); err != nil || got["deleted"] != true {
				t.Fatalf("delete: %v %v", got, err)
			}
			if _, _, err := run("get", id); err == nil {
				t.Fatal("a deleted client is still there")
			}
		})
	}
}
