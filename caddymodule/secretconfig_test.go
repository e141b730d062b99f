package caddymodule

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// adaptStderr runs "caddy adapt" on caddyfile with env added, and returns the
// JSON and what it printed on stderr.
func adaptStderr(t *testing.T, caddyfile string, env ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(caddyBinary(t), "adapt", "--config", "-", "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(caddyfile)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("caddy adapt: %v: %s", err, e.String())
	}
	return o.String(), e.String()
}

const secretsCaddyfile = `{
	blnk_auth {
		database %s
		secret %s
		issuer https://auth.example.com
	}
}
api.example.com {
	blnk_auth /ledgers* {
		blnk_api {
			upstream_key %s
		}
	}
	handle_path /admin/* {
		blnk_admin {
			master_key %s
		}
	}
	blnk_auth
	reverse_proxy 127.0.0.1:8000
}
`

// TestAdapterWarnsLiteralSecrets (issue #15, item 3): Caddy keeps the adapted
// config in autosave.json and serves it on its admin endpoint, so a secret
// written literally, or as {$VAR} (which the Caddyfile adapter expands), ends
// up there. The adapter warns, naming the option, for secret, master_key,
// upstream_key and a database password; {env.*} and {file.*} stay
// placeholders in the stored config, and draw no warning.
func TestAdapterWarnsLiteralSecrets(t *testing.T) {
	const literal = "lIt3ralSecretValue-0123456789abcdefXYZ"
	t.Run("literal", func(t *testing.T) {
		cf := strings.NewReplacer("database %s", "database postgres://gw:"+literal+"@db.internal/blnk",
			"secret %s", "secret "+literal, "upstream_key %s", "upstream_key "+literal, "master_key %s", "master_key {$BLNK_TEST_MASTER}").Replace(secretsCaddyfile)
		_, stderr := adaptStderr(t, cf, "BLNK_TEST_MASTER="+literal)
		for _, option := range []string{"secret", "master_key", "upstream_key", "database"} {
			if !strings.Contains(stderr, `"option":"`+option+`"`) {
				t.Errorf("no warning naming %s:\n%s", option, stderr)
			}
		}
		if strings.Count(stderr, "{env.") < 4 || strings.Contains(stderr, literal) {
			t.Errorf("the warnings should advise {env.*} and never show the value:\n%s", stderr)
		}
	})
	t.Run("key=value DSN", func(t *testing.T) {
		cf := strings.NewReplacer("database %s", "database \"host=db.internal user=gw password="+literal+" dbname=blnk\"",
			"secret %s", "secret {env.S}", "upstream_key %s", "upstream_key {env.U}", "master_key %s", "master_key {file./run/secrets/master}").Replace(secretsCaddyfile)
		_, stderr := adaptStderr(t, cf)
		if !strings.Contains(stderr, `"option":"database"`) || strings.Count(stderr, "literal") != 1 {
			t.Errorf("want one warning, for the database password:\n%s", stderr)
		}
	})
	t.Run("placeholders", func(t *testing.T) {
		cf := strings.NewReplacer("database %s", "database postgres://gw:{env.PGPASSWORD}@db.internal/blnk",
			"secret %s", "secret {file./run/secrets/blnk_auth_secret}", "upstream_key %s", "upstream_key {env.BLNK_API_KEY}", "master_key %s", "master_key {env.BLNK_AUTH_MASTER_KEY}").Replace(secretsCaddyfile)
		out, stderr := adaptStderr(t, cf)
		if strings.Contains(stderr, "literal") {
			t.Errorf("warned about placeholders:\n%s", stderr)
		}
		for _, p := range []string{"{env.PGPASSWORD}", "{file./run/secrets/blnk_auth_secret}", "{env.BLNK_API_KEY}", "{env.BLNK_AUTH_MASTER_KEY}"} {
			if !strings.Contains(out, p) {
				t.Errorf("the adapted config does not keep %s unexpanded:\n%s", p, out)
			}
		}
	})
}

// TestSecretFromFile (issue #15, items 3 and 7): secret {file.PATH} reads the
// secret from a file when the config loads, so it need not sit in the config
// nor beside the database: the keys it seals open with the file's content.
func TestSecretFromFile(t *testing.T) {
	caddyMu.Lock()
	defer caddyMu.Unlock()
	dsn := testdb.New(t)
	path := filepath.Join(t.TempDir(), "blnk_auth_secret")
	if err := os.WriteFile(path, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(secret string) error {
		cfg, _ := json.Marshal(map[string]any{"admin": map[string]any{"disabled": true}, "apps": map[string]any{"blnk_auth": map[string]any{
			"database": dsn, "secret": secret, "issuer": "https://auth.example.com"}}})
		err := caddy.Load(cfg, true)
		if err == nil {
			_ = caddy.Stop()
		}
		return err
	}
	if err := load("{file." + path + "}"); err != nil {
		t.Fatalf("secret from a file: %v", err)
	}
	if err := load(testSecret); err != nil {
		t.Fatalf("the file's secret given literally does not open the keys sealed under it: %v", err)
	}
	if err := load("{file." + filepath.Join(t.TempDir(), "missing") + "}"); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("a missing secret file: %v, want the secret refused", err)
	}
}

// TestREADMESecrets (issue #15, items 3 and 7): the README tells an operator
// which forms keep secrets out of stored configs, lists every field that
// takes them, says how to run Caddy's admin endpoint in production, and that
// a backup of the embedded default's directory holds both the sealed keys
// and the secret.
func TestREADMESecrets(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i := strings.Index(readme, "placeholders work in")
	if i < 0 {
		t.Fatal("README.md lists no fields that take placeholders")
	}
	list := readme[i:min(len(readme), i+300)]
	for _, field := range []string{"`database`", "`secret`", "`issuer`", "`audience`", "`master_key`", "`upstream_key`", "`{file.*}`"} {
		if !strings.Contains(readme[i-40:i+300], field) {
			t.Errorf("README.md's list of fields taking placeholders lacks %s: %q", field, list)
		}
	}
	for _, want := range []string{"autosave.json", "GET /config/", "admin off", "admin unix//", "{$VAR}", "## Secrets and keys at rest", "**Backups.**", "beside the database"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
}
