package caddymodule

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// pgCluster is a PostgreSQL server of a test's own, in a temporary data
// directory on a free port, that the test may stop and start: never the
// machine's shared server, which other tests use.
type pgCluster struct {
	t        *testing.T
	bin, dir string
	port     int
	asUser   []string // runuser prefix when running as root (initdb refuses root)
}

// needTool ends a test that cannot run without an installed program: a
// failure under CI=true (.ci/run installs what it needs), a skip otherwise.
func needTool(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI: %v", what, err)
	}
	t.Skipf("%s unavailable (%v); install it to run this test", what, err)
}

// needNode ends a test that drives a Node.js project (forWhat names it) when
// node or npm is not on PATH, as needTool does.
func needNode(t *testing.T, forWhat string) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			needTool(t, tool+" (Node.js, for "+forWhat+")", err)
		}
	}
}

// newPGCluster initialises and starts a throwaway cluster with initdb and
// pg_ctl from /usr/lib/postgresql/*/bin (the newest), as the postgres user
// when the test runs as root. It is stopped and removed when the test ends.
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		needTool(t, "PostgreSQL server binaries (initdb, pg_ctl in /usr/lib/postgresql/*/bin)", os.ErrNotExist)
	}
	slices.SortFunc(bins, func(a, b string) int { return versionOf(a) - versionOf(b) })
	c := &pgCluster{t: t, bin: filepath.Dir(bins[len(bins)-1]), port: freePort(t)}
	dir, err := os.MkdirTemp("", "blnk-auth-pg")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
		if out, err := exec.Command("chown", "postgres:postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown postgres %s: %v %s", dir, err, out)
		}
	}
	c.run("initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	c.start()
	t.Cleanup(func() {
		// Immediate: nothing to keep, and a cleanup must not wait.
		cmd := c.cmd("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
		_ = cmd.Run()
	})
	return c
}

func versionOf(pgCtl string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(pgCtl))))
	return v
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// dsn is the cluster's maintenance database.
func (c *pgCluster) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

func (c *pgCluster) cmd(tool string, args ...string) *exec.Cmd {
	argv := append(append(slices.Clone(c.asUser), filepath.Join(c.bin, tool)), args...)
	return exec.Command(argv[0], argv[1:]...)
}

func (c *pgCluster) run(tool string, args ...string) {
	c.t.Helper()
	if out, err := c.cmd(tool, args...).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "true" && c.asUser != nil {
			if _, lerr := exec.LookPath("runuser"); lerr != nil {
				needTool(c.t, "runuser (to run "+tool+" as postgres)", lerr)
			}
		}
		c.t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
}

// start starts the server and waits until it accepts connections.
func (c *pgCluster) start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", c.port, c.dir)
	c.run("pg_ctl", "-D", c.data(), "-o", opts, "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "start")
}

// stop stops the server (mode fast or immediate) and waits until it is down.
func (c *pgCluster) stop(mode string) {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data(), "-m", mode, "-w", "-t", "60", "stop")
}
