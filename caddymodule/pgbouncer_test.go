package caddymodule

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// startPgBouncer runs Debian's pgbouncer in transaction pooling mode on a
// free port, in front of the test PostgreSQL server, with a small pool so
// that clients share server connections, as in production; it stops when the
// test ends. It returns the URL of database db through it.
func startPgBouncer(t *testing.T, db string) string {
	t.Helper()
	return startPgBouncerFor(t, testdb.ServerURL(), db)
}

// startPgBouncerFor is startPgBouncer in front of the server at serverURL.
func startPgBouncerFor(t *testing.T, serverURL, db string) string {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		needTool(t, "pgbouncer (apt-get install pgbouncer)", err)
	}
	server, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	host, port := server.Hostname(), server.Port()
	if port == "" {
		port = "5432"
	}
	user := server.User.Username()
	dir, err := os.MkdirTemp("", "blnk-auth-pgbouncer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	listen := freePort(t)
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s user=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 3
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
logfile = %s
`, host, port, user, listen, filepath.Join(dir, "pgbouncer.log"))
	iniPath := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(iniPath, []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}
	argv := []string{bin, iniPath}
	if os.Geteuid() == 0 { // pgbouncer refuses to run as root
		argv = append([]string{"runuser", "-u", "postgres", "--"}, argv...)
		if out, err := exec.Command("chown", "-R", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	out := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting pgbouncer: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			t.Logf("pgbouncer output:\n%s\n%s", out.String(), log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", listen))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			t.Fatalf("pgbouncer did not start: %s\n%s", out.String(), log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", user, listen, db)
}

// TestPgBouncerTransactionPooling: two gateway processes and the CLI reach
// PostgreSQL only through a transaction-pooling PgBouncer (where LISTEN does
// not work and prepared statements do not stay on a connection). Told so
// with change_feed poll, or not told and finding it out with the probe at
// start, they follow the change log by polling: a client revoked with the
// CLI, and a token revoked at one instance (RFC 7009), are refused by both
// within the poll interval plus a margin. Told change_feed listen, the CLI
// (as a server) refuses to start, saying why.
func TestPgBouncerTransactionPooling(t *testing.T) {
	dsn := startPgBouncer(t, dbName(testdb.New(t)))
	caddyBinary(t)
	t.Run("told", func(t *testing.T) { testPgBouncer(t, dsn, "change_feed poll 100ms", 100*time.Millisecond) })
	t.Run("detected", func(t *testing.T) { testPgBouncer(t, dsn, "", 150*time.Millisecond) })
	t.Run("listen", func(t *testing.T) {
		config := pgBouncerConfig(t, "http://127.0.0.1:1", freePort(t), freePort(t), "change_feed listen")
		_, errOut, code := cli(t, dsn, config, "client", "list")
		if code == 0 || !strings.Contains(errOut, "LISTEN/NOTIFY does not work") {
			t.Fatalf("change_feed listen through a transaction pooler: exit %d, stderr %q; want a failure naming LISTEN/NOTIFY", code, errOut)
		}
	})
}

// pgBouncerConfig writes processCaddyfile with feed (a change_feed line, or
// nothing) in the blnk_auth block.
func pgBouncerConfig(t *testing.T, issuer string, authPort, apiPort int, feed string) string {
	t.Helper()
	cfg := strings.Replace(fmt.Sprintf(processCaddyfile, issuer, authPort, apiPort), "\t\tissuer", "\t\t"+feed+"\n\t\tissuer", 1)
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func testPgBouncer(t *testing.T, dsn, feed string, poll time.Duration) {
	issuer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	start := func() *instance {
		authPort, apiPort := freePort(t), freePort(t)
		in := &instance{
			authURL: fmt.Sprintf("http://127.0.0.1:%d", authPort),
			apiURL:  fmt.Sprintf("http://127.0.0.1:%d", apiPort),
			dsn:     dsn,
			config:  pgBouncerConfig(t, issuer, authPort, apiPort, feed),
		}
		in.run(t)
		return in
	}
	a, b := start(), start()
	instances := map[string]*instance{"a": a, "b": b}
	if feed == "" {
		for name, in := range instances {
			if !strings.Contains(in.log.String(), "LISTEN/NOTIFY does not work through this connection") {
				t.Errorf("instance %s does not say that it fell back to polling:\n%s", name, in.log.String())
			}
		}
	}
	bound := poll + 900*time.Millisecond // a poll, its query and the request's own time on a busy machine

	one := cliJSON(t, dsn, a.config, "client", "create", "--name", "one", "--scopes", "mcp:read")
	two := cliJSON(t, dsn, a.config, "client", "create", "--name", "two", "--scopes", "mcp:read")
	tokOne := fetchToken(t, a.authURL, one["client_id"].(string), one["client_secret"].(string))
	id2, secret2 := two["client_id"].(string), two["client_secret"].(string)
	tokTwo := fetchToken(t, b.authURL, id2, secret2)
	tokTwoKept := fetchToken(t, b.authURL, id2, secret2)
	for name, in := range instances {
		for _, tok := range []string{tokOne, tokTwo, tokTwoKept} {
			if s := statusOf(t, in.apiURL, tok); s != 200 {
				t.Fatalf("instance %s before any revocation: %d", name, s)
			}
		}
	}

	cliJSON(t, dsn, a.config, "client", "revoke", one["client_id"].(string))
	for name, in := range instances {
		took := eventually(t, bound, "the client revoked with the CLI is refused by "+name, func() bool { return statusOf(t, in.apiURL, tokOne) == 401 })
		t.Logf("instance %s refused the revoked client after %s", name, took)
	}

	req, _ := http.NewRequest(http.MethodPost, a.authURL+"/oauth/revoke", strings.NewReader("token="+tokTwo))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id2, secret2)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoking the token at a: %d", resp.StatusCode)
	}
	for name, in := range instances {
		took := eventually(t, bound, "the token revoked at a is refused by "+name, func() bool { return statusOf(t, in.apiURL, tokTwo) == 401 })
		t.Logf("instance %s refused the revoked token after %s", name, took)
		if s := statusOf(t, in.apiURL, tokTwoKept); s != 200 {
			t.Errorf("instance %s: the client's other token: %d, want 200", name, s)
		}
	}
	for name, in := range instances {
		if strings.Contains(in.log.String(), "prepared statement") {
			t.Errorf("instance %s logged a prepared statement error:\n%s", name, in.log.String())
		}
	}
}
