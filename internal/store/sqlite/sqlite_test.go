package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/sqlite"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/storetest"
)

// The test binary doubles as "another process" (the CLI writing the file
// while a gateway runs) when these are set; see TestOtherProcess.
const (
	helperDBEnv     = "BLNK_SQLITE_TEST_HELPER_DB"
	helperPrefixEnv = "BLNK_SQLITE_TEST_HELPER_PREFIX"
	helperCountEnv  = "BLNK_SQLITE_TEST_HELPER_COUNT"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(helperDBEnv); path != "" {
		if err := helper(path, os.Getenv(helperPrefixEnv), os.Getenv(helperCountEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper opens the store at path and creates, then revokes, n clients whose
// IDs start with prefix.
func helper(path, prefix, count string) error {
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer s.Close()
	for i := range n {
		c := storetest.NewClient(fmt.Sprintf("%s%04d", prefix, i), store.TypeOAuth, storetest.Base)
		if err := s.CreateClient(ctx, c, store.Audit{Actor: "cli"}); err != nil {
			return fmt.Errorf("create %s: %w", c.ID, err)
		}
		if _, err := s.RevokeClient(ctx, c.ID, storetest.Base, store.Audit{Actor: "cli"}, nil); err != nil {
			return fmt.Errorf("revoke %s: %w", c.ID, err)
		}
	}
	return nil
}

func testCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func dbPath(t testing.TB) string { return filepath.Join(t.TempDir(), "auth.db") }

// open opens a store on path, closed at cleanup.
func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(testCtx(t), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(s.Close)
	return s
}

var audit = store.Audit{Time: storetest.Base, Actor: "test", Source: "127.0.0.1", RequestID: "req"}

func mustCreate(t testing.TB, s store.Store, c *store.Client) {
	t.Helper()
	if err := s.CreateClient(testCtx(t), c, audit); err != nil {
		t.Fatalf("CreateClient(%s): %v", c.ID, err)
	}
}

func count(t testing.TB, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(testCtx(t), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(testCtx(t), dbPath(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func mode(t testing.TB, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The file, its WAL companions and a directory Open creates are private.
func TestFileModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "auth.db")
	s := open(t, path)
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	mustCreate(t, s, storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base))
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if m := mode(t, d); m != 0o700 {
			t.Errorf("directory %s has mode %v, want 0700", d, m)
		}
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if m := mode(t, f); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, m)
		}
	}

	// A relative path is made absolute; an existing directory is left alone.
	existing := t.TempDir()
	if err := os.Chmod(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(cwd, filepath.Join(existing, "rel.db"))
	if err != nil || filepath.IsAbs(rel) {
		t.Fatalf("no relative path to the temporary directory: %q, %v", rel, err)
	}
	s2 := open(t, rel)
	if want := filepath.Join(existing, "rel.db"); s2.Path() != want {
		t.Errorf("Path() = %q, want %q", s2.Path(), want)
	}
	if m := mode(t, existing); m != 0o755 {
		t.Errorf("Open changed the mode of an existing directory to %v", m)
	}
	if m := mode(t, filepath.Join(existing, "rel.db")); m != 0o600 {
		t.Errorf("rel.db has mode %v, want 0600", m)
	}
}

// A path with characters that mean something in a URI is still that path.
func TestOddPath(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a dir %41 ?x=1 #frag", "auth.db")
	s := open(t, path)
	c := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	mustCreate(t, s, c)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at the path given: %v", err)
	}
	s.Close()
	storetest.CheckClient(t, mustGet(t, open(t, path), c.ID), c)
}

func mustGet(t testing.TB, s store.Store, id string) *store.Client {
	t.Helper()
	c, err := s.GetClient(testCtx(t), id)
	if err != nil {
		t.Fatalf("GetClient(%s): %v", id, err)
	}
	return c
}

func pragma(t testing.TB, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(testCtx(t), `PRAGMA `+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestPragmas(t *testing.T) {
	t.Parallel()
	path := dbPath(t)
	s := open(t, path)
	for _, db := range []*sql.DB{s.Writer(), s.Reader()} {
		if v := pragma(t, db, "journal_mode"); v != "wal" {
			t.Errorf("journal_mode = %q, want wal", v)
		}
		if v := pragma(t, db, "busy_timeout"); v != "5000" {
			t.Errorf("busy_timeout = %s, want 5000", v)
		}
		if v := pragma(t, db, "synchronous"); v != "2" {
			t.Errorf("synchronous = %s, want 2 (FULL)", v)
		}
	}
	if v := pragma(t, s.Reader(), "query_only"); v != "1" {
		t.Errorf("query_only on the reader = %s, want 1", v)
	}
	// WAL is a property of the file: a plain connection sees it too.
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v := pragma(t, db, "journal_mode"); v != "wal" {
		t.Errorf("journal_mode of the file = %q, want wal", v)
	}
}

// Two stores on one file, as a gateway and the CLI: each change made
// through one reaches the other's Follow within a second.
func TestFollowSeesOtherStore(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	path := dbPath(t)
	server, cli := open(t, path), open(t, path)
	rec, stop := storetest.StartFollow(t, server)
	defer stop()

	c := storetest.NewClient(credential.NewClientID(), store.TypeAPIKey, storetest.Base)
	name := "renamed"
	for _, op := range []struct {
		what string
		do   func() error
	}{
		{"create", func() error { return cli.CreateClient(ctx, c, audit) }},
		{"update", func() error {
			_, err := cli.UpdateClient(ctx, c.ID, store.ClientUpdate{Name: &name}, audit, nil)
			return err
		}},
		{"roll", func() error {
			_, err := cli.RollSecret(ctx, c.ID, store.SecretRoll{Hash: credential.HashOf("new"), Hint: "new"}, audit, nil)
			return err
		}},
		{"revoke", func() error {
			_, err := cli.RevokeClient(ctx, c.ID, storetest.Base, audit, nil)
			return err
		}},
		{"delete", func() error { return cli.DeleteClient(ctx, c.ID, audit, nil) }},
	} {
		m := rec.Mark()
		start := time.Now()
		if err := op.do(); err != nil {
			t.Fatalf("%s through the other store: %v", op.what, err)
		}
		storetest.WaitChange(t, rec, c.ID, m, time.Second, op.what+" through the other store")
		t.Logf("%s seen after %v", op.what, time.Since(start).Round(time.Millisecond))
	}
	for _, e := range rec.Events(0) {
		if e.Kind == "reset" || (e.Kind == "synced" && !e.Synced) {
			t.Errorf("unexpected %v while following a healthy store", e)
		}
	}
}

// A real second process (this test binary, as the CLI would be) writes the
// file while this one writes too and follows: every write succeeds and every
// change reaches the follower.
func TestOtherProcess(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	path := dbPath(t)
	s := open(t, path)
	rec, stop := storetest.StartFollow(t, s)
	defer stop()

	const n = 25
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperDBEnv+"="+path, helperPrefixEnv+"=blnk_cid_proc", helperCountEnv+"="+strconv.Itoa(n))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	local := make([]*store.Client, 2*n)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for g := range 2 {
		wg.Go(func() {
			for i := g; i < len(local); i += 2 {
				local[i] = storetest.NewClient(fmt.Sprintf("blnk_cid_here%04d", i), store.TypeAPIKey, storetest.Base)
				if err := s.CreateClient(ctx, local[i], audit); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("CreateClient while another process writes: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the other process: %v\n%s", err, out.String())
	}
	// Its last change committed before it exited.
	storetest.Eventually(t, time.Second, func() bool {
		for i := range n {
			if len(rec.ChangesFor(fmt.Sprintf("blnk_cid_proc%04d", i), 0)) != 2 {
				return false
			}
		}
		for _, c := range local {
			if len(rec.ChangesFor(c.ID, 0)) != 1 {
				return false
			}
		}
		return true
	}, "changes missing from the follower; events: %v", rec.Since(0))
	for i := range n {
		c := mustGet(t, s, fmt.Sprintf("blnk_cid_proc%04d", i))
		if c.Status(storetest.Base) != store.StatusRevoked {
			t.Errorf("client %s written by the other process is %s, want revoked", c.ID, c.Status(storetest.Base))
		}
	}
	if got := count(t, s.Reader(), `SELECT count(*) FROM blnk_auth_clients`); got != 3*n {
		t.Errorf("%d clients, want %d", got, 3*n)
	}
	// Change IDs were delivered in increasing order.
	var last int64
	for _, e := range rec.Events(0) {
		if e.Kind == "changed" {
			if e.Change.ID <= last {
				t.Fatalf("change %d delivered after %d", e.Change.ID, last)
			}
			last = e.Change.ID
		}
	}
}

// Processes starting at once on a file that does not exist yet (a gateway and
// a CLI, say): all of them open, migrate once and write.
func TestProcessesOpenNewFileAtOnce(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	path := dbPath(t)
	const procs, each = 3, 5
	cmds := make([]*exec.Cmd, procs)
	outs := make([]strings.Builder, procs)
	for i := range procs {
		cmds[i] = exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), helperDBEnv+"="+path, fmt.Sprintf("%s=blnk_cid_p%d_", helperPrefixEnv, i), helperCountEnv+"="+strconv.Itoa(each))
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
	}
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	// And this process, at the same moment.
	if err := helper(path, "blnk_cid_here_", strconv.Itoa(each)); err != nil {
		t.Errorf("this process: %v", err)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	s := open(t, path)
	checkMigrationRows(t, migrationRows(t, s.Reader()), sqlite.LatestVersion())
	if n := count(t, s.Reader(), `SELECT count(*) FROM blnk_auth_clients WHERE revoked_at IS NOT NULL`); n != (procs+1)*each {
		t.Errorf("%d revoked clients, want %d", n, (procs+1)*each)
	}
	if m := mode(t, path); m != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, m)
	}
}

type migrationRow struct {
	Version int
	Name    string
}

func migrationRows(t testing.TB, db *sql.DB) []migrationRow {
	t.Helper()
	rows, err := db.QueryContext(testCtx(t), `SELECT version, name FROM blnk_auth_schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var r migrationRow
		if err := rows.Scan(&r.Version, &r.Name); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkMigrationRows fails unless the table holds each embedded migration up
// to latest exactly once (version numbers may skip: branches reserve theirs).
func checkMigrationRows(t testing.TB, rows []migrationRow, latest int) {
	t.Helper()
	var want, got []int
	for _, v := range sqlite.MigrationVersions() {
		if v <= latest {
			want = append(want, v)
		}
	}
	for _, r := range rows {
		if r.Name == "" {
			t.Fatalf("blnk_auth_schema_migrations = %v: a row without a name", rows)
		}
		got = append(got, r.Version)
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("blnk_auth_schema_migrations = %v, want versions %v once each", rows, want)
	}
}

func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	path := dbPath(t)
	const n = 8
	stores := make([]*sqlite.Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = sqlite.Open(ctx, path)
		})
	}
	close(start)
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			t.Cleanup(s.Close)
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d of %d concurrent: %v", i, n, err)
		}
	}
	latest := sqlite.LatestVersion()
	if latest < 2 {
		t.Fatalf("latest schema version %d, want at least 2", latest)
	}
	checkMigrationRows(t, migrationRows(t, stores[0].Reader()), latest)
	c := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	mustCreate(t, stores[3], c)
	for _, s := range stores {
		storetest.CheckClient(t, mustGet(t, s, c.ID), c)
	}
}

func TestReopenMigratesNothing(t *testing.T) {
	t.Parallel()
	path := dbPath(t)
	s := open(t, path)
	c := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	mustCreate(t, s, c)
	before := migrationRows(t, s.Reader())
	s.Close()
	s = open(t, path)
	if after := migrationRows(t, s.Reader()); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("reopening changed blnk_auth_schema_migrations:\n\tbefore %v\n\tafter  %v", before, after)
	}
	storetest.CheckClient(t, mustGet(t, s, c.ID), c)
}

func TestOpenRejectsNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	path := dbPath(t)
	s := open(t, path)
	latest := sqlite.LatestVersion()
	future := latest + 1
	if _, err := s.Writer().ExecContext(ctx, `INSERT INTO blnk_auth_schema_migrations (version, name, applied_at) VALUES (?, ?, 0)`,
		future, fmt.Sprintf("%04d_from_the_future.sql", future)); err != nil {
		t.Fatal(err)
	}
	s2, err := sqlite.Open(ctx, path)
	if err == nil {
		s2.Close()
		t.Fatal("Open succeeded on a database whose schema is newer than this build")
	}
	msg := err.Error()
	for _, want := range []string{"newer", fmt.Sprint(future), fmt.Sprint(latest), "upgrade", path} {
		if !strings.Contains(msg, want) {
			t.Errorf("Open error %q does not mention %q", msg, want)
		}
	}
	rows := migrationRows(t, s.Reader())
	if len(rows) != len(sqlite.MigrationVersions())+1 || rows[len(rows)-1].Version != future {
		t.Errorf("blnk_auth_schema_migrations after the refusal = %v", rows)
	}
}

func TestFailedMigrationLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	path := dbPath(t)
	w, err := sqlite.OpenWriter(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// A table in the way of the last statement of the first migration.
	if _, err := w.ExecContext(ctx, `CREATE TABLE blnk_auth_signing_keys (in_the_way INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlite.Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("Open succeeded although its first migration cannot apply")
	} else if !strings.Contains(err.Error(), "0001") {
		t.Errorf("Open error %q does not name the failed migration", err)
	}
	for _, table := range []string{"blnk_auth_schema_migrations", "blnk_auth_clients", "blnk_auth_changes"} {
		if n := count(t, w, `SELECT count(*) FROM sqlite_schema WHERE name = ?`, table); n != 0 {
			t.Errorf("table %s exists after a failed migration: it was half applied", table)
		}
	}
	if _, err := w.ExecContext(ctx, `DROP TABLE blnk_auth_signing_keys`); err != nil {
		t.Fatal(err)
	}
	s := open(t, path)
	checkMigrationRows(t, migrationRows(t, s.Reader()), sqlite.LatestVersion())
}

// A file left at schema version 1 by an older build, with data in it, is
// migrated to the latest version without losing anything.
func TestMigrateFromV1(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	path := dbPath(t)
	w, err := sqlite.OpenWriter(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := sqlite.MigrateTo(ctx, w, 1); err != nil || v != 1 {
		t.Fatalf("MigrateTo(1) = %d, %v", v, err)
	}
	checkMigrationRows(t, migrationRows(t, w), 1)
	if n := count(t, w, `SELECT count(*) FROM sqlite_schema WHERE name = 'blnk_auth_audit'`); n != 0 {
		t.Fatal("version 1 already has the audit table: MigrateTo applied too much")
	}

	// Rows as version 1 wrote them: no previous secret columns.
	full := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	full.Name = `Zahlungs-Client «prod» 'q' "dq"`
	full.Scopes = scope.MustParse("ledgers:read mcp:* *:read")
	full.ExpiresAt = ptr(storetest.Base.Add(90 * 24 * time.Hour))
	full.RevokedAt = ptr(storetest.Base.Add(time.Hour + 7*time.Microsecond))
	full.LastUsedAt = ptr(storetest.Base.Add(time.Minute))
	bare := storetest.NewClient(credential.NewClientID(), store.TypeAPIKey, storetest.Base.Add(-time.Microsecond))
	bare.Name, bare.Scopes, bare.SecretHint = "", scope.Set{}, ""
	optional := func(p *time.Time) any {
		if p == nil {
			return nil
		}
		return p.UnixMicro()
	}
	for _, c := range []*store.Client{full, bare} {
		if _, err := w.ExecContext(ctx, `INSERT INTO blnk_auth_clients (client_id, name, type, scopes, secret_hash, secret_hint, created_at, expires_at, revoked_at, last_used_at)
			VALUES (?,?,?,?,?,?,?,?,?,?)`, c.ID, c.Name, string(c.Type), c.Scopes.String(), c.SecretHash[:], c.SecretHint,
			c.CreatedAt.UnixMicro(), optional(c.ExpiresAt), optional(c.RevokedAt), optional(c.LastUsedAt)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.ExecContext(ctx, `INSERT INTO blnk_auth_changes (client_id, changed_at) VALUES (?, ?)`, c.ID, time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	key := store.SigningKey{KID: "kid-1", Algorithm: "ES256", Sealed: []byte{1, 2, 3}, CreatedAt: storetest.Base}
	if _, err := w.ExecContext(ctx, `INSERT INTO blnk_auth_signing_keys (kid, algorithm, sealed_key, created_at) VALUES (?,?,?,?)`,
		key.KID, key.Algorithm, key.Sealed, key.CreatedAt.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	oldHead := count(t, w, `SELECT max(id) FROM blnk_auth_changes`)
	w.Close()

	s := open(t, path)
	checkMigrationRows(t, migrationRows(t, s.Reader()), sqlite.LatestVersion())
	for _, c := range []*store.Client{full, bare} {
		got := mustGet(t, s, c.ID)
		storetest.CheckClient(t, got, c)
		if got.PreviousSecretHash != nil || got.PreviousSecretExpiresAt != nil {
			t.Errorf("client %s has a previous secret after migrating", c.ID)
		}
	}
	list, err := s.ListClients(ctx, store.ListFilter{Limit: 10}, storetest.Base)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListClients after migrating = %d clients, %v", len(list), err)
	}
	// The signing key is kept byte for byte, in a keyring with a deployment
	// ID and no check value yet (package keyring seals it again on start).
	kr, err := s.Keyring(ctx)
	if err != nil || len(kr.Keys) != 1 || kr.Keys[0].KID != key.KID || string(kr.Keys[0].Sealed) != string(key.Sealed) || !kr.Keys[0].CreatedAt.Equal(key.CreatedAt) {
		t.Fatalf("Keyring after migrating = %+v, %v", kr, err)
	}
	if len(kr.DeploymentID) != 16 || kr.Check != nil || kr.SessionKey != nil {
		t.Errorf("keyring after migrating: deployment ID %x, check %x", kr.DeploymentID, kr.Check)
	}
	if n := count(t, s.Reader(), `SELECT count(*) FROM blnk_auth_changes`); n != 2 {
		t.Errorf("%d changes after migrating, want 2", n)
	}

	// The new columns and table work on the migrated data, and change IDs
	// continue above the old ones.
	rolled, err := s.RollSecret(ctx, bare.ID, store.SecretRoll{Hash: credential.HashOf("next"), Hint: "next", PreviousValidUntil: ptr(storetest.Base.Add(time.Hour))}, audit, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rolled.PreviousSecretHash == nil || *rolled.PreviousSecretHash != bare.SecretHash {
		t.Errorf("RollSecret after migrating kept no previous secret")
	}
	events, err := s.ListAudit(ctx, store.AuditFilter{Limit: 10})
	if err != nil || len(events) != 1 || events[0].Action != store.ActionRollSecret {
		t.Errorf("ListAudit after migrating = %v, %v", events, err)
	}
	if head := count(t, s.Reader(), `SELECT max(id) FROM blnk_auth_changes`); head <= oldHead {
		t.Errorf("new change ID %d not above the migrated %d", head, oldHead)
	}
}

func ptr(t time.Time) *time.Time { return &t }

// 4 goroutines × 50 creates, then updates, through two stores on one file (so
// through two writer connections contending for SQLite's lock, as two
// processes would): every write succeeds and is logged once, with its audit
// event.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	path := dbPath(t)
	stores := []*sqlite.Store{open(t, path), open(t, path)}
	const goroutines, each = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			s := stores[g%len(stores)]
			for i := range each {
				c := storetest.NewClient(fmt.Sprintf("blnk_cid_w%d_%03d", g, i), store.TypeOAuth, storetest.Base.Add(time.Duration(i)*time.Microsecond))
				if err := s.CreateClient(ctx, c, audit); err != nil {
					errs <- fmt.Errorf("goroutine %d, create %d: %w", g, i, err)
				}
			}
		})
	}
	wg.Wait()
	// Then read-then-write transactions (UpdateClient reads the client before
	// changing it) racing through both stores, on one another's clients.
	const updates = 20
	for g := range goroutines {
		wg.Go(func() {
			s := stores[(g+1)%len(stores)]
			for i := range updates {
				name := fmt.Sprintf("updated by %d", g)
				if _, err := s.UpdateClient(ctx, fmt.Sprintf("blnk_cid_w%d_%03d", (g+1)%goroutines, i), store.ClientUpdate{Name: &name}, audit, nil); err != nil {
					errs <- fmt.Errorf("goroutine %d, update %d: %w", g, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	db := stores[0].Reader()
	if n := count(t, db, `SELECT count(*) FROM blnk_auth_clients`); n != goroutines*each {
		t.Errorf("%d clients, want %d", n, goroutines*each)
	}
	for _, table := range []string{"blnk_auth_changes", "blnk_auth_audit"} {
		if n := count(t, db, `SELECT count(*) FROM `+table); n != goroutines*(each+updates) {
			t.Errorf("%s has %d rows, want %d", table, n, goroutines*(each+updates))
		}
	}
}

// Every committed mutation logs exactly one change and one audit event in its
// own transaction; a refused one logs neither and changes nothing.
func TestChangeLogAndAudit(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := open(t, dbPath(t))
	db := s.Reader()
	expect := func(id string, changes int, after string) {
		t.Helper()
		if got := count(t, db, `SELECT count(*) FROM blnk_auth_changes WHERE client_id = ?`, id); got != changes {
			t.Errorf("after %s: %d changes logged, want %d", after, got, changes)
		}
		if got := count(t, db, `SELECT count(*) FROM blnk_auth_audit WHERE client_id = ?`, id); got != changes {
			t.Errorf("after %s: %d audit events, want %d", after, got, changes)
		}
	}
	c := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	mustCreate(t, s, c)
	expect(c.ID, 1, "create")
	if err := s.CreateClient(ctx, c, audit); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	expect(c.ID, 1, "a rejected duplicate create")
	if err := s.TouchLastUsed(ctx, map[string]time.Time{c.ID: storetest.Base}); err != nil {
		t.Fatal(err)
	}
	expect(c.ID, 1, "TouchLastUsed")

	name := "new name"
	scopes := scope.MustParse("balances:read")
	var never *time.Time
	got, err := s.UpdateClient(ctx, c.ID, store.ClientUpdate{Name: &name, Scopes: &scopes, ExpiresAt: &never}, audit, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := *c
	want.Name, want.Scopes, want.LastUsedAt = name, scopes, ptr(storetest.Base)
	storetest.CheckClient(t, got, &want)
	expect(c.ID, 2, "update")
	exp := ptr(storetest.Base.Add(time.Hour))
	if got, err = s.UpdateClient(ctx, c.ID, store.ClientUpdate{ExpiresAt: &exp}, audit, nil); err != nil {
		t.Fatal(err)
	}
	want.ExpiresAt = exp
	storetest.CheckClient(t, got, &want)
	expect(c.ID, 3, "update of the expiry alone")

	until := storetest.Base.Add(time.Hour)
	got, err = s.RollSecret(ctx, c.ID, store.SecretRoll{Hash: credential.HashOf("s2"), Hint: "s2", PreviousValidUntil: &until}, audit, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.SecretHash != credential.HashOf("s2") || got.SecretHint != "s2" || got.PreviousSecretHash == nil ||
		*got.PreviousSecretHash != c.SecretHash || got.PreviousSecretExpiresAt == nil || !got.PreviousSecretExpiresAt.Equal(until) {
		t.Errorf("RollSecret with a grace period returned %+v", got)
	}
	if !got.SecretMatches("s2", storetest.Base) {
		t.Errorf("the new secret does not match")
	}
	expect(c.ID, 4, "roll")
	got, err = s.RollSecret(ctx, c.ID, store.SecretRoll{Hash: credential.HashOf("s3"), Hint: "s3"}, audit, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.SecretHash != credential.HashOf("s3") || got.PreviousSecretHash != nil || got.PreviousSecretExpiresAt != nil {
		t.Errorf("RollSecret without a grace period returned %+v", got)
	}
	storetest.CheckClient(t, mustGet(t, s, c.ID), got)
	expect(c.ID, 5, "roll without grace")

	revokedAt := storetest.Base.Add(2 * time.Hour)
	if _, err := s.RevokeClient(ctx, c.ID, revokedAt, audit, nil); err != nil {
		t.Fatal(err)
	}
	expect(c.ID, 6, "revoke")
	before := mustGet(t, s, c.ID)
	if _, err := s.UpdateClient(ctx, c.ID, store.ClientUpdate{Name: &name}, audit, nil); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("UpdateClient of a revoked client: err = %v, want ErrRevoked", err)
	}
	if _, err := s.RollSecret(ctx, c.ID, store.SecretRoll{Hash: credential.HashOf("s4")}, audit, nil); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("RollSecret of a revoked client: err = %v, want ErrRevoked", err)
	}
	storetest.CheckClient(t, mustGet(t, s, c.ID), before)
	expect(c.ID, 6, "refused changes to a revoked client")

	unknown := credential.NewClientID()
	if _, err := s.UpdateClient(ctx, unknown, store.ClientUpdate{Name: &name}, audit, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateClient(unknown): %v", err)
	}
	if _, err := s.RollSecret(ctx, unknown, store.SecretRoll{}, audit, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RollSecret(unknown): %v", err)
	}
	if _, err := s.RevokeClient(ctx, unknown, storetest.Base, audit, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeClient(unknown): %v", err)
	}
	if err := s.DeleteClient(ctx, unknown, audit, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteClient(unknown): %v", err)
	}
	expect(unknown, 0, "changes to an unknown client")

	if err := s.DeleteClient(ctx, c.ID, audit, nil); err != nil {
		t.Fatal(err)
	}
	expect(c.ID, 7, "delete")

	// A client the database refuses (its type breaks a CHECK) is not half
	// written.
	bad := storetest.NewClient(credential.NewClientID(), store.Type("bogus"), storetest.Base)
	if err := s.CreateClient(ctx, bad, audit); err == nil {
		t.Fatal("CreateClient accepted an unknown type")
	}
	if _, err := s.GetClient(ctx, bad.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient after a failed create: %v", err)
	}
	expect(bad.ID, 0, "a failed create")

	// The audit trail, newest first, with what the caller said.
	events, err := s.ListAudit(ctx, store.AuditFilter{ClientID: c.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	actions := []string{}
	for _, e := range events {
		actions = append(actions, e.Action)
		if !e.Time.Equal(audit.Time) || e.Actor != audit.Actor || e.Source != audit.Source || e.RequestID != audit.RequestID || e.ClientID != c.ID {
			t.Errorf("audit event %+v does not carry the audit identity %+v", e, audit)
		}
	}
	wantActions := []string{store.ActionDelete, store.ActionRevoke, store.ActionRollSecret, store.ActionRollSecret,
		store.ActionUpdate, store.ActionUpdate, store.ActionCreate}
	if fmt.Sprint(actions) != fmt.Sprint(wantActions) {
		t.Errorf("audit actions = %v, want %v", actions, wantActions)
	}
	page, err := s.ListAudit(ctx, store.AuditFilter{ClientID: c.ID, Limit: 2, BeforeID: events[1].ID})
	if err != nil || len(page) != 2 || page[0].ID != events[2].ID || page[1].ID != events[3].ID {
		t.Errorf("ListAudit(before %d, limit 2) = %v, %v", events[1].ID, page, err)
	}
}

// The follower reports a failed poll, then delivers what it missed before it
// reports itself synced again. The change log is renamed away to make polls
// fail.
func TestFollowRecoversFromFailedPolls(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := open(t, dbPath(t))
	rec, stop := storetest.StartFollow(t, s)
	defer stop()
	w := s.Writer()
	mark := rec.Mark()
	if _, err := w.ExecContext(ctx, `ALTER TABLE blnk_auth_changes RENAME TO changes_away`); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, time.Second, func() bool { return !rec.IsSynced() }, "no Synced(false) while polls fail; events: %v", rec.Since(mark))
	missed := credential.NewClientID()
	if _, err := w.ExecContext(ctx, `INSERT INTO changes_away (client_id, changed_at) VALUES (?, ?)`, missed, time.Now().UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ExecContext(ctx, `ALTER TABLE changes_away RENAME TO blnk_auth_changes`); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, time.Second, rec.IsSynced, "not synced again; events: %v", rec.Since(mark))
	ev := rec.Events(mark)
	changed, synced := -1, -1
	for i, e := range ev {
		switch {
		case e.Kind == "changed" && e.Change.ClientID == missed:
			changed = i
		case e.Kind == "synced" && e.Synced && synced < 0:
			synced = i
		case e.Kind == "reset":
			t.Errorf("Reset after a short outage: %v", ev)
		}
	}
	if changed < 0 || changed > synced {
		t.Errorf("the missed change was not delivered before Synced(true): %v", ev)
	}
	// And it keeps following.
	m := rec.Mark()
	c := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	mustCreate(t, s, c)
	storetest.WaitChange(t, rec, c.ID, m, time.Second, "create after recovering")
}

// Pruning removes old entries only, and IDs keep increasing after the log has
// been emptied.
func TestPrune(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := open(t, dbPath(t))
	a := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	mustCreate(t, s, a)
	old := time.Now().Add(-25 * time.Hour).UnixMicro()
	if _, err := s.Writer().ExecContext(ctx, `UPDATE blnk_auth_changes SET changed_at = ?`, old); err != nil {
		t.Fatal(err)
	}
	head := count(t, s.Reader(), `SELECT max(id) FROM blnk_auth_changes`)
	b := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	mustCreate(t, s, b)
	if err := s.Prune(ctx, time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s.Reader(), `SELECT count(*) FROM blnk_auth_changes WHERE client_id = ?`, a.ID); n != 0 {
		t.Errorf("an entry older than 24 h survived pruning")
	}
	if n := count(t, s.Reader(), `SELECT count(*) FROM blnk_auth_changes WHERE client_id = ?`, b.ID); n != 1 {
		t.Errorf("a recent entry was pruned")
	}
	// Empty the log entirely: the next ID is still above every earlier one.
	if err := s.Prune(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rec, stop := storetest.StartFollow(t, s)
	defer stop()
	m := rec.Mark()
	if err := s.DeleteClient(ctx, b.ID, audit, nil); err != nil {
		t.Fatal(err)
	}
	if ch := storetest.WaitChange(t, rec, b.ID, m, time.Second, "delete after pruning"); ch.ID <= int64(head)+1 {
		t.Errorf("change ID %d after pruning reuses an earlier one (the head was %d)", ch.ID, head+1)
	}
}

// ListClients pages through the (created_at, client_id) index rather than
// sorting the table.
func TestListUsesIndex(t *testing.T) {
	t.Parallel()
	s := open(t, dbPath(t))
	rows, err := s.Reader().QueryContext(testCtx(t), `EXPLAIN QUERY PLAN SELECT client_id FROM blnk_auth_clients
		WHERE revoked_at IS NULL AND (created_at, client_id) < (?, ?) ORDER BY created_at DESC, client_id DESC LIMIT ?`, 1, "x", 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	p := strings.Join(plan, "; ")
	if !strings.Contains(p, "blnk_auth_clients_created") || strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("query plan %q does not page through the index", p)
	}
	t.Logf("plan: %s", p)
}

// TestMigrateFillsGaps: a database on which a higher-numbered migration was
// applied before a lower one existed (parallel work lands in any order) gets
// the lower one too, once, when a build that has both opens it.
func TestMigrateFillsGaps(t *testing.T) {
	ctx := testCtx(t)
	versions := sqlite.MigrationVersions()
	if len(versions) < 3 {
		t.Fatal("needs three migrations")
	}
	last, before := versions[len(versions)-1], versions[len(versions)-2]
	path := filepath.Join(t.TempDir(), "gateway.db")
	w, err := sqlite.OpenWriter(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.MigrateTo(ctx, w, before-1); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.ApplyOnly(ctx, w, last); err != nil {
		t.Fatal(err)
	}
	w.Close()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkMigrationRows(t, migrationRows(t, s.Writer()), last)
}
