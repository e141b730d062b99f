package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// caddyBinary builds ./caddy once per test run: the multi-process tests run
// the real binary, as an operator would.
func caddyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "blnk-auth-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "caddy")
		out, err := exec.Command("go", "build", "-o", binPath, "../caddy").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ../caddy: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// instance is a gateway running as its own process.
type instance struct {
	authURL, apiURL string
	config, dsn     string
	cmd             *exec.Cmd
	log             *syncBuffer
	env             []string // added to processEnv's, later values winning
}

// syncBuffer is a bytes.Buffer the process's output copier writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const processCaddyfile = `{
	admin off
	auto_https off
	blnk_auth {
		database {env.BLNK_AUTH_DATABASE_URL}
		secret {env.BLNK_AUTH_SECRET}
		secret_previous {env.BLNK_AUTH_SECRET_PREVIOUS}
		issuer %s
	}
}
http://:%d {
	bind 127.0.0.1
	blnk_oauth
}
http://:%d {
	bind 127.0.0.1
	blnk_auth mcp:read
	respond "ok {http.auth.user.id}"
}
`

func writeConfig(t *testing.T, issuer string, authPort, apiPort int) string {
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, fmt.Appendf(nil, processCaddyfile, issuer, authPort, apiPort), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// processEnv is the environment of a gateway or CLI process on dsn; an empty
// dsn means the zero-setup default (embedded database, generated secret) in
// a data directory of the test's own.
func processEnv(dsn string) []string {
	if dsn == "" {
		return append(os.Environ(), "BLNK_AUTH_DATABASE_URL=", "BLNK_AUTH_SECRET=")
	}
	return append(os.Environ(), "BLNK_AUTH_DATABASE_URL="+dsn, "BLNK_AUTH_SECRET="+testSecret)
}

func startInstance(t *testing.T, dsn, issuer string) *instance {
	t.Helper()
	authPort, apiPort := freePort(t), freePort(t)
	if issuer == "" {
		issuer = fmt.Sprintf("http://127.0.0.1:%d", authPort)
	}
	in := &instance{
		authURL: fmt.Sprintf("http://127.0.0.1:%d", authPort),
		apiURL:  fmt.Sprintf("http://127.0.0.1:%d", apiPort),
		config:  writeConfig(t, issuer, authPort, apiPort),
		dsn:     dsn,
	}
	in.run(t)
	return in
}

// run starts (or restarts) the instance's process and waits until it serves.
func (in *instance) run(t *testing.T) {
	t.Helper()
	in.log = new(syncBuffer)
	dsn := in.dsn
	in.cmd = exec.Command(caddyBinary(t), "run", "--config", in.config, "--adapter", "caddyfile")
	in.cmd.Env = append(processEnv(dsn), in.env...)
	in.cmd.Stdout, in.cmd.Stderr = in.log, in.log
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = in.cmd.Process.Kill()
		_ = in.cmd.Wait()
		if t.Failed() {
			t.Logf("instance log:\n%s", in.log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", strings.TrimPrefix(in.apiURL, "http://"))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance did not start: %s", in.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cli runs "caddy blnk-auth ..." and returns its stdout, stderr and exit code.
func cli(t *testing.T, dsn, config string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(caddyBinary(t), append(append([]string{"blnk-auth"}, args...), "--config", config, "--adapter", "caddyfile")...)
	cmd.Env = processEnv(dsn)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func cliJSON(t *testing.T, dsn, config string, args ...string) map[string]any {
	t.Helper()
	out, errOut, code := cli(t, dsn, config, args...)
	if code != 0 {
		t.Fatalf("caddy blnk-auth %v: exit %d: %s", args, code, errOut)
	}
	if errOut != "" {
		t.Errorf("caddy blnk-auth %v succeeded with output on stderr (want JSON on stdout only): %q", args, errOut)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("caddy blnk-auth %v: not one JSON object: %q", args, out)
	}
	return v
}

func fetchToken(t *testing.T, authURL, id, secret string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, authURL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 {
		t.Fatalf("token: %d %v", resp.StatusCode, body)
	}
	return body["access_token"].(string)
}

func statusOf(t *testing.T, url, tok string) int {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTwoInstancesConverge: two gateway processes (each its own pool and cache)
// on one database, started at once; the CLI writes straight to Postgres; a
// revocation reaches both within a second, even after their change-feed
// connections were killed.
func TestTwoInstancesConverge(t *testing.T) {
	dsn := testdb.New(t)
	caddyBinary(t)
	var a, b *instance
	var wg sync.WaitGroup
	wg.Add(2)
	issuerPort := freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", issuerPort)
	go func() { defer wg.Done(); a = startInstance(t, dsn, issuer) }()
	go func() { defer wg.Done(); b = startInstance(t, dsn, issuer) }()
	wg.Wait()

	one := cliJSON(t, dsn, a.config, "client", "create", "--name", "one", "--scopes", "mcp:read")
	two := cliJSON(t, dsn, a.config, "client", "create", "--name", "two", "--scopes", "mcp:read")
	tokOne := fetchToken(t, a.authURL, one["client_id"].(string), one["client_secret"].(string))
	tokTwo := fetchToken(t, b.authURL, two["client_id"].(string), two["client_secret"].(string))
	for _, in := range []*instance{a, b} {
		for _, tok := range []string{tokOne, tokTwo} {
			if s := statusOf(t, in.apiURL, tok); s != 200 {
				t.Fatalf("a token from either instance must work at both (same keys): %d", s)
			}
		}
	}

	cliJSON(t, dsn, a.config, "client", "revoke", one["client_id"].(string))
	for name, in := range map[string]*instance{"a": a, "b": b} {
		took := eventually(t, time.Second, "revocation reaches instance "+name, func() bool { return statusOf(t, in.apiURL, tokOne) == 401 })
		t.Logf("instance %s refused the revoked client after %s", name, took)
	}

	// Kill every change-feed connection, then revoke at once: replay (or the
	// cache distrusting itself while unsynced) still converges.
	conn, err := pgx.Connect(context.Background(), testdb.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var killed int
	if err := conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'blnk_auth_listener' AND datname = $1`,
		dbName(dsn)).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 2 {
		t.Fatalf("terminated %d listener connections, want 2", killed)
	}
	cliJSON(t, dsn, a.config, "client", "revoke", two["client_id"].(string))
	for name, in := range map[string]*instance{"a": a, "b": b} {
		took := eventually(t, time.Second, "revocation after a dropped listener reaches "+name, func() bool { return statusOf(t, in.apiURL, tokTwo) == 401 })
		t.Logf("instance %s (listener killed) refused the revoked client after %s", name, took)
	}
}

func dbName(dsn string) string {
	i := strings.LastIndex(dsn, "/")
	name := dsn[i+1:]
	if j := strings.IndexByte(name, '?'); j >= 0 {
		name = name[:j]
	}
	return name
}

// TestCLI: the bootstrap commands, their JSON and their exit codes.
func TestCLI(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		dsn := newDatabase(t, kind)
		config := writeConfig(t, "http://127.0.0.1:1", freePort(t), freePort(t))

		c := cliJSON(t, dsn, config, "client", "create", "--name", "Production OAuth Client", "--scopes", "mcp:read mcp:write", "--expires", "2031-01-01T00:00:00Z", "--rate-limit", "100/s", "--burst", "200")
		if rl, _ := json.Marshal(c["rate_limit"]); string(rl) != `{"burst":200,"per":"1s","requests":100}` {
			t.Errorf("create --rate-limit 100/s --burst 200: rate_limit %s", rl)
		}
		for _, k := range []string{"client_id", "client_secret", "name", "type", "scopes", "status", "created_at", "expires_at", "rate_limit"} {
			if _, ok := c[k]; !ok {
				t.Errorf("create output lacks %s: %v", k, c)
			}
		}
		if c["type"] != "oauth" || c["status"] != "active" || c["expires_at"] != "2031-01-01T00:00:00Z" {
			t.Errorf("create output %v", c)
		}
		if scopes, _ := c["scopes"].([]any); len(scopes) != 2 {
			t.Errorf("scopes %v", c["scopes"])
		}
		k := cliJSON(t, dsn, config, "client", "create", "--name", "key", "--scopes", "*", "--type", "api_key")
		if _, ok := k["api_key"]; !ok || k["client_secret"] != nil || k["expires_at"] != nil {
			t.Errorf("api key create output %v", k)
		}
		id, secret := c["client_id"].(string), c["client_secret"].(string)

		got := cliJSON(t, dsn, config, "client", "get", id)
		if got["name"] != "Production OAuth Client" || got["client_secret"] != nil {
			t.Errorf("get %v", got)
		}
		if rl, _ := json.Marshal(got["rate_limit"]); string(rl) != `{"burst":200,"per":"1s","requests":100}` {
			t.Errorf("get: rate_limit %s", rl)
		}
		if rl, _ := json.Marshal(cliJSON(t, dsn, config, "client", "update", id, "--rate-limit", "5/m")["rate_limit"]); string(rl) != `{"burst":5,"per":"1m","requests":5}` {
			t.Errorf("update --rate-limit 5/m: rate_limit %s", rl)
		}
		if rl := cliJSON(t, dsn, config, "client", "update", id, "--rate-limit", "none")["rate_limit"]; rl != nil {
			t.Errorf("update --rate-limit none: rate_limit %v", rl)
		}
		out, _, code := cli(t, dsn, config, "client", "list")
		var list []map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[0]["client_id"] != k["client_id"] {
			t.Errorf("list (newest first): exit %d %s", code, out)
		}
		u := cliJSON(t, dsn, config, "client", "update", id, "--name", "Renamed", "--scopes", "mcp:read", "--expires", "never")
		if u["name"] != "Renamed" || u["expires_at"] != nil || len(u["scopes"].([]any)) != 1 || u["client_secret"] != nil {
			t.Errorf("update %v", u)
		}
		rolled := cliJSON(t, dsn, config, "client", "roll-secret", id, "--grace-period", "1h")
		newSecret, _ := rolled["client_secret"].(string)
		if newSecret == "" || newSecret == secret {
			t.Errorf("roll-secret %v", rolled)
		}
		if r := cliJSON(t, dsn, config, "client", "revoke", id); r["status"] != "revoked" || r["revoked_at"] == nil {
			t.Errorf("revoke %v", r)
		}
		out, _, _ = cli(t, dsn, config, "client", "list", "--status", "revoked")
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
			t.Errorf("list --status revoked: %s", out)
		}
		cliJSON(t, dsn, config, "client", "delete", k["client_id"].(string))

		// No secret anywhere after creation.
		for _, args := range [][]string{{"client", "list"}, {"client", "get", id}} {
			out, errOut, _ := cli(t, dsn, config, args...)
			if strings.Contains(out+errOut, secret) || strings.Contains(out+errOut, newSecret) {
				t.Fatalf("%v printed the secret", args)
			}
		}

		// Every CLI change is audited with actor cli.
		st, err := openTestStore(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		events, err := st.ListAudit(context.Background(), store.AuditFilter{ClientID: id, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range events {
			if e.Actor != "cli" {
				t.Errorf("event actor %q", e.Actor)
			}
			actions = append(actions, e.Action)
		}
		if strings.Join(actions, ",") != "client.revoke,client.roll_secret,client.update,client.update,client.update,client.create" {
			t.Errorf("audit %v", actions)
		}

		failures := [][]string{
			{"client", "update", id, "--name", "after revoke"},
			{"client", "roll-secret", id},
			{"client", "update", k["client_id"].(string)},
			{"client", "roll-secret", "blnk_cid_doesnotexist0000000", "--grace-period", "1h"},
			{"client", "get", "blnk_cid_doesnotexist0000000"},
			{"client", "get", k["client_id"].(string)},
			{"client", "revoke", "nope"},
			{"client", "create", "--scopes", "mcp:read"},
			{"client", "create", "--name", "x"},
			{"client", "create", "--name", "x", "--scopes", "bad\"scope"},
			{"client", "create", "--name", "x", "--scopes", "*", "--type", "saml"},
			{"client", "create", "--name", "x", "--scopes", "*", "--expires", "tomorrow"},
			{"client", "create", "--name", "x", "--scopes", "*", "--expires", "2001-01-01T00:00:00Z"},
			{"client", "create", "--name", "x", "--scopes", "*", "--rate-limit", "100/d"},
			{"client", "create", "--name", "x", "--scopes", "*", "--rate-limit", "100"},
			{"client", "create", "--name", "x", "--scopes", "*", "--rate-limit", "0/s"},
			{"client", "create", "--name", "x", "--scopes", "*", "--rate-limit", "10/s", "--burst", "0"},
			{"client", "create", "--name", "x", "--scopes", "*", "--burst", "10"},
			{"client", "update", k["client_id"].(string), "--burst", "10"},
		}
		for _, args := range failures {
			out, errOut, code := cli(t, dsn, config, args...)
			if code == 0 || strings.TrimSpace(errOut) == "" {
				t.Errorf("%v: exit %d, stderr %q, stdout %q: want a failure with a message", args, code, errOut, out)
			}
		}
		// A config without the app.
		bare := filepath.Join(t.TempDir(), "Caddyfile")
		_ = os.WriteFile(bare, []byte("http://:1 {\n\trespond ok\n}\n"), 0o600)
		if _, errOut, code := cli(t, dsn, bare, "client", "list"); code == 0 || !strings.Contains(errOut, "blnk_auth") {
			t.Errorf("config without blnk_auth: exit %d %q", code, errOut)
		}
	})
}

// TestCLIQuiet: the CLI prints its JSON on stdout and nothing on stderr when
// it succeeds, however it finds and adapts its config (no log lines of
// Caddy's config loading); when it fails, stderr holds the error and nothing
// else.
func TestCLIQuiet(t *testing.T) {
	t.Parallel()
	dsn := newDatabase(t, kindSQLite)
	dir := t.TempDir()
	caddyfile := writeConfig(t, "http://127.0.0.1:1", freePort(t), freePort(t))
	src, err := os.ReadFile(caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	// The same config, unformatted (the Caddyfile adapter warns about that),
	// as ./Caddyfile and under a name that says Caddyfile.
	unformatted := strings.ReplaceAll(string(src), "\t", "  ")
	for _, name := range []string{"Caddyfile", "gateway.caddyfile"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(unformatted), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// And as JSON.
	jsonConfig := filepath.Join(dir, "gateway.json")
	adapted := caddyAdapt(t, src)
	if err := os.WriteFile(jsonConfig, adapted, 0o600); err != nil {
		t.Fatal(err)
	}

	run := func(stdin []byte, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(caddyBinary(t), append([]string{"blnk-auth", "client"}, args...)...)
		cmd.Dir = dir
		cmd.Env = processEnv(dsn)
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), code
	}
	created := ""
	for _, c := range []struct {
		what  string
		stdin []byte
		args  []string
	}{
		{"--config with --adapter", nil, []string{"--config", caddyfile, "--adapter", "caddyfile"}},
		{"--config named *.caddyfile", nil, []string{"--config", "gateway.caddyfile"}},
		{"./Caddyfile", nil, nil},
		{"JSON --config", nil, []string{"--config", jsonConfig}},
		{"JSON on stdin", adapted, []string{"--config", "-"}},
		{"Caddyfile on stdin", src, []string{"--config", "-", "--adapter", "caddyfile"}},
	} {
		args := []string{"list"}
		if created == "" {
			args = []string{"create", "--name", "quiet", "--scopes", "mcp:read"}
		}
		out, errOut, code := run(c.stdin, append(args, c.args...)...)
		if code != 0 || errOut != "" {
			t.Errorf("%s: %v: exit %d, stderr %q (want exit 0 and nothing on stderr)", c.what, args, code, errOut)
			continue
		}
		if created == "" {
			var v map[string]any
			if err := json.Unmarshal([]byte(out), &v); err != nil || v["client_id"] == nil {
				t.Fatalf("%s: create printed %q, want the client as JSON", c.what, out)
			}
			created = v["client_id"].(string)
			continue
		}
		var list []map[string]any
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0]["client_id"] != created {
			t.Errorf("%s: list printed %q, want the one client as JSON", c.what, out)
		}
	}

	// Failures: an error on stderr, exit non-zero, no log lines.
	for _, args := range [][]string{
		{"get", "blnk_cid_doesnotexist0000000", "--config", caddyfile, "--adapter", "caddyfile"},
		{"list", "--config", filepath.Join(dir, "missing.json")},
		{"list", "--config", caddyfile, "--adapter", "nosuchadapter"},
		{"list", "--adapter", "caddyfile"},
	} {
		out, errOut, code := run(nil, args...)
		if code == 0 || out != "" || !strings.HasPrefix(errOut, "Error: ") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q: want a failure with one error line on stderr", args, code, out, errOut)
		}
	}
}

// caddyAdapt adapts a Caddyfile to JSON with "caddy adapt".
func caddyAdapt(t *testing.T, caddyfile []byte) []byte {
	t.Helper()
	cmd := exec.Command(caddyBinary(t), "adapt", "--config", "-", "--adapter", "caddyfile")
	cmd.Stdin = bytes.NewReader(caddyfile)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("caddy adapt: %v: %s", err, e.String())
	}
	return o.Bytes()
}

// TestZeroSetup: with no database and no secret the gateway runs on an
// embedded database in Caddy's data directory, with a generated secret, both
// private to the user; the CLI writing the same file while the server runs
// takes effect within a second.
func TestZeroSetup(t *testing.T) {
	dataHome := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dataHome)
	in := startInstance(t, "", "")
	c := cliJSON(t, "", in.config, "client", "create", "--name", "newcomer", "--scopes", "mcp:read")
	tok := fetchToken(t, in.authURL, c["client_id"].(string), c["client_secret"].(string))
	if s := statusOf(t, in.apiURL, tok); s != 200 {
		t.Fatalf("call: %d", s)
	}
	cliJSON(t, "", in.config, "client", "revoke", c["client_id"].(string))
	took := eventually(t, time.Second, "the CLI's revocation reaches the running server", func() bool { return statusOf(t, in.apiURL, tok) == 401 })
	t.Logf("revocation through the embedded database took effect after %s", took)

	dir := filepath.Join(dataHome, "caddy", "blnk_auth")
	for _, name := range []string{"blnk_auth.db", "blnk_auth.secret"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	// A restart keeps clients and keys: a token issued before still works.
	d := cliJSON(t, "", in.config, "client", "create", "--name", "survivor", "--scopes", "mcp:read")
	dtok := fetchToken(t, in.authURL, d["client_id"].(string), d["client_secret"].(string))
	_ = in.cmd.Process.Kill()
	_ = in.cmd.Wait()
	in.run(t)
	if s := statusOf(t, in.apiURL, dtok); s != 200 {
		t.Fatalf("token issued before the restart: %d", s)
	}
	if s := statusOf(t, in.apiURL, tok); s != 401 {
		t.Fatalf("revoked client after the restart: %d", s)
	}
}

// TestTokenRevocationAcrossProcesses: a token revoked at one gateway process
// (RFC 7009) is refused by another on the same database within a second.
func TestTokenRevocationAcrossProcesses(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		dsn := newDatabase(t, kind)
		caddyBinary(t)
		issuer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		a := startInstance(t, dsn, issuer)
		b := startInstance(t, dsn, issuer)
		c := cliJSON(t, dsn, a.config, "client", "create", "--name", "revoker", "--scopes", "mcp:read")
		id, secret := c["client_id"].(string), c["client_secret"].(string)
		tok := fetchToken(t, a.authURL, id, secret)
		if s := statusOf(t, b.apiURL, tok); s != 200 {
			t.Fatalf("before: %d", s)
		}
		req, _ := http.NewRequest(http.MethodPost, a.authURL+"/oauth/revoke", strings.NewReader("token="+tok))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		if s := statusOf(t, a.apiURL, tok); s != 401 {
			t.Fatalf("revoking instance still accepts the token: %d", s)
		}
		took := eventually(t, time.Second, "the other process refuses the revoked token", func() bool { return statusOf(t, b.apiURL, tok) == 401 })
		t.Logf("%s: revoked token refused by the other process after %s", kind, took)
	})
}
