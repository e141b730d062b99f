package caddymodule

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// TestConfigErrors: a bad blnk_auth setting stops the config from loading,
// with a message that says what to do.
func TestConfigErrors(t *testing.T) {
	caddyMu.Lock()
	defer caddyMu.Unlock()
	dsn := testdb.New(t)
	good := map[string]any{"database": dsn, "secret": testSecret, "issuer": "https://auth.example.com"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name string
		app  map[string]any
		want string
	}{
		{"no issuer", with("issuer", nil), "issuer must be an absolute URL"},
		{"issuer with slash", with("issuer", "https://auth.example.com/"), "trailing slash"},
		{"plain http issuer", with("issuer", "http://auth.example.com"), "https"},
		{"short secret", with("secret", "short"), "at least 32 characters"},
		{"secret placeholder naming nothing", with("secret", "{env.BLNK_AUTH_TEST_UNSET_SECRET}"), "expands to nothing"},
		{"embedded, secret placeholder naming nothing", map[string]any{"database": "sqlite://" + filepath.Join(t.TempDir(), "g.db"), "secret": "{file./nonexistent/blnk-secret}", "issuer": "https://auth.example.com"}, "expands to nothing"},
		{"postgres without secret", with("secret", nil), "secret is required with PostgreSQL"},
		{"bad database", with("database", "mysql://x"), "database: want"},
		{"token ttl too long", with("token_ttl", "48h"), "token_ttl"},
		{"leeway too long", with("leeway", "2m"), "leeway"},
		{"unknown algorithm", with("signing_algorithm", "HS256"), "signing_algorithm"},
		{"negative cache", with("client_cache_size", -5), "must not be negative"},
		{"negative max_stale", with("max_stale", "-1s"), "max_stale must not be negative"},
		{"unknown change feed", with("change_feed", map[string]any{"mode": "notify"}), "change_feed mode"},
		{"poll interval too short", with("change_feed", map[string]any{"mode": "poll", "poll_interval": "1ms"}), "at least 10ms"},
		{"poll interval when listening", with("change_feed", map[string]any{"mode": "listen", "poll_interval": "1s"}), "only with mode poll"},
		{"listen on SQLite", map[string]any{"database": "sqlite://" + filepath.Join(t.TempDir(), "l.db"), "issuer": "https://auth.example.com", "change_feed": map[string]any{"mode": "listen"}}, "change_feed listen needs PostgreSQL"},
		{"publish lead not past the JWKS max-age", with("signing_key_publish_lead", "5m"), "must be longer than jwks_max_age"},
		{"rotation period not past the lead", with("signing_key_rotation", "30m"), "must be longer than the publish lead"},
		{"negative JWKS max-age", with("jwks_max_age", "-1s"), "jwks_max_age"},
		{"consent_url with query", with("consent_url", "/admin/authorize?x=1"), "consent_url"},
		{"consent_url relative", with("consent_url", "admin/authorize"), "consent_url"},
		{"consent_url plain http", with("consent_url", "http://dash.example.com/admin/authorize"), "consent_url"},
		{"refresh_token_ttl too long", with("refresh_token_ttl", "9000h"), "refresh_token_ttl"},
		{"client_metadata without consent_url", with("client_metadata", map[string]any{}), "needs consent_url"},
		{"unreachable database", with("database", "postgres://u:pw@127.0.0.1:1/x?connect_timeout=1"), "connecting"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := json.Marshal(map[string]any{"admin": map[string]any{"disabled": true}, "apps": map[string]any{"blnk_auth": tc.app}})
			err := caddy.Load(cfg, true)
			if err == nil {
				_ = caddy.Stop()
				t.Fatal("config loaded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error leaks a credential: %v", err)
			}
		})
	}

	// The first start stores a signing key sealed under the secret; another
	// secret on the same database is refused, plainly.
	cfg, _ := json.Marshal(map[string]any{"admin": map[string]any{"disabled": true}, "apps": map[string]any{"blnk_auth": good}})
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	_ = caddy.Stop()
	cfg, _ = json.Marshal(map[string]any{"admin": map[string]any{"disabled": true}, "apps": map[string]any{"blnk_auth": with("secret", strings.Repeat("z", 40))}})
	err := caddy.Load(cfg, true)
	if err == nil {
		_ = caddy.Stop()
		t.Fatal("loaded with another secret")
	}
	if !strings.Contains(err.Error(), "same secret") {
		t.Fatalf("wrong-secret error %q", err)
	}
}
