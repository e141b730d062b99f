package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/storetest"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

func testCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return c
}

// uniqueName is a listener name no other test uses (and short enough for
// pg_stat_activity, which keeps 63 bytes).
func uniqueName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "blnk_auth_test_listener_" + hex.EncodeToString(b[:])
}

// open opens a store on dsn with a unique listener name, closed at cleanup.
func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(testCtx(t), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.ListenerName = uniqueName()
	t.Cleanup(s.Close)
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(testCtx(t), testdb.New(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		s.ListenerName = uniqueName()
		return s
	})
}

type migrationRow struct {
	Version   int
	Name      string
	AppliedAt time.Time
}

func migrationRows(t testing.TB, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []migrationRow {
	t.Helper()
	rows, err := q.Query(testCtx(t), `SELECT version, name, applied_at FROM blnk_auth_schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("reading blnk_auth_schema_migrations: %v", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[migrationRow])
	if err != nil {
		t.Fatalf("reading blnk_auth_schema_migrations: %v", err)
	}
	return out
}

// checkMigrationRows fails unless the table holds each embedded migration up
// to latest exactly once (version numbers may skip: branches reserve theirs).
func checkMigrationRows(t testing.TB, rows []migrationRow, latest int) {
	t.Helper()
	var want, got []int
	for _, v := range postgres.MigrationVersions() {
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

func TestMigrateTwiceIsNoop(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := testdb.New(t)

	// On a bare database, with no Open.
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	v1, err := postgres.Migrate(ctx, pool)
	if err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	before := migrationRows(t, pool)
	checkMigrationRows(t, before, v1)
	for i := range 2 {
		v, err := postgres.Migrate(ctx, pool)
		if err != nil {
			t.Fatalf("Migrate again (%d): %v", i, err)
		}
		if v != v1 {
			t.Errorf("Migrate again returned version %d, first returned %d", v, v1)
		}
	}
	after := migrationRows(t, pool)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("Migrate again changed blnk_auth_schema_migrations:\n\tbefore %v\n\tafter  %v", before, after)
	}

	// Open on the migrated database migrates nothing, and the data survives.
	s := open(t, dsn)
	c := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	if err := s.CreateClient(ctx, c, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dsn)
	if v, err := postgres.Migrate(ctx, s2.Pool()); err != nil || v != v1 {
		t.Errorf("Migrate after Open = %d, %v; want %d, nil", v, err, v1)
	}
	got, err := s2.GetClient(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckClient(t, got, c)
	if after := migrationRows(t, pool); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("Open changed blnk_auth_schema_migrations:\n\tbefore %v\n\tafter  %v", before, after)
	}
}

func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := testdb.New(t)
	const n = 8
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(ctx, dsn)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if stores[i] != nil {
			t.Cleanup(stores[i].Close)
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d of %d concurrent: %v", i, n, err)
		}
	}
	latest, err := postgres.Migrate(ctx, stores[0].Pool())
	if err != nil {
		t.Fatal(err)
	}
	checkMigrationRows(t, migrationRows(t, stores[0].Pool()), latest)

	// Every store works on the one schema.
	c := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	if err := stores[3].CreateClient(ctx, c, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		got, err := s.GetClient(ctx, c.ID)
		if err != nil {
			t.Fatalf("store %d: GetClient: %v", i, err)
		}
		storetest.CheckClient(t, got, c)
	}
}

func TestOpenRejectsNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := testdb.New(t)
	s := open(t, dsn)
	latest, err := postgres.Migrate(ctx, s.Pool())
	if err != nil {
		t.Fatal(err)
	}
	future := latest + 1
	if _, err := s.Pool().Exec(ctx, `INSERT INTO blnk_auth_schema_migrations (version, name) VALUES ($1, $2)`,
		future, fmt.Sprintf("%04d_from_the_future.sql", future)); err != nil {
		t.Fatal(err)
	}

	s2, err := postgres.Open(ctx, dsn)
	if err == nil {
		s2.Close()
		t.Fatal("Open succeeded on a database whose schema is newer than this build")
	}
	msg := err.Error()
	for _, want := range []string{"newer", fmt.Sprint(future), fmt.Sprint(latest), "upgrade"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Open error %q does not mention %q", msg, want)
		}
	}
	if _, err := postgres.Migrate(ctx, s.Pool()); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Migrate on a newer schema: err = %v, want one saying the schema is newer", err)
	}
	// Refusing changed nothing.
	rows := migrationRows(t, s.Pool())
	if len(rows) != len(postgres.MigrationVersions())+1 || rows[len(rows)-1].Version != future {
		t.Errorf("blnk_auth_schema_migrations after the refusal = %v", rows)
	}
}

func TestFailedMigrationLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := testdb.New(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// A table in the way of the last statement of the first migration: the
	// statements before it succeed, then it fails.
	if _, err := conn.Exec(ctx, `CREATE TABLE blnk_auth_signing_keys (in_the_way int)`); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(ctx, dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded although its first migration cannot apply")
	}
	if !strings.Contains(err.Error(), "0001") {
		t.Errorf("Open error %q does not name the failed migration", err)
	}
	for _, table := range []string{"blnk_auth_schema_migrations", "blnk_auth_clients", "blnk_auth_changes"} {
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("table %s exists after a failed migration: it was half applied", table)
		}
	}
	// Once the obstacle is gone, Open migrates fully.
	if _, err := conn.Exec(ctx, `DROP TABLE blnk_auth_signing_keys`); err != nil {
		t.Fatal(err)
	}
	s = open(t, dsn)
	latest, err := postgres.Migrate(ctx, s.Pool())
	if err != nil {
		t.Fatal(err)
	}
	checkMigrationRows(t, migrationRows(t, s.Pool()), latest)
}

func TestOpenErrorHidesPassword(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"postgres://u:s3cretpw@127.0.0.1:1/x?connect_timeout=1",
		"postgres://u:s3cretpw@127.0.0.1:1/x?connect_timeout=1&sslmode=disable",
		"not a dsn ::: s3cretpw",
		"postgres://u:s3cretpw@127.0.0.1:notaport/x",
		"postgres://u:s3cretpw@127.0.0.1/x?sslmode=nonsense",
		"host=127.0.0.1 port=1 user=u password=s3cretpw dbname=x connect_timeout=1",
		"host=127.0.0.1 port=1 user=u password='s3cretpw' dbname=x connect_timeout=1 sslmode=disable",
		"host=127.0.0.1 port=1 user=u password=s3cretpw dbname=x bogus_option",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := postgres.Open(ctx, dsn)
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("Open(%q) error reveals the password: %v", dsn, err)
		}
	}
}

func TestApplicationName(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := testdb.New(t)
	var name string
	s := open(t, dsn)
	if err := s.Pool().QueryRow(ctx, `SELECT current_setting('application_name')`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != "blnk_auth" {
		t.Errorf("default application_name = %q, want blnk_auth", name)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", "custom_gateway")
	u.RawQuery = q.Encode()
	s2 := open(t, u.String())
	if err := s2.Pool().QueryRow(ctx, `SELECT current_setting('application_name')`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != "custom_gateway" {
		t.Errorf("application_name from the DSN = %q, want custom_gateway", name)
	}
}

// Every committed mutation logs exactly one change, in its own transaction; a
// failed one logs none.
func TestChangeLog(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := open(t, testdb.New(t))
	count := func(id string) int {
		t.Helper()
		var n int
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM blnk_auth_changes WHERE client_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	expect := func(id string, want int, after string) {
		t.Helper()
		if got := count(id); got != want {
			t.Errorf("after %s: %d changes logged for the client, want %d", after, got, want)
		}
	}
	c := storetest.NewClient(credential.NewClientID(), store.TypeOAuth, storetest.Base)
	if err := s.CreateClient(ctx, c, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	expect(c.ID, 1, "create")
	if err := s.CreateClient(ctx, c, store.Audit{Actor: "test"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	expect(c.ID, 1, "a rejected duplicate create")
	if err := s.TouchLastUsed(ctx, map[string]time.Time{c.ID: storetest.Base}); err != nil {
		t.Fatal(err)
	}
	expect(c.ID, 1, "TouchLastUsed")
	if _, err := s.RevokeClient(ctx, c.ID, storetest.Base, store.Audit{Actor: "test"}, nil); err != nil {
		t.Fatal(err)
	}
	expect(c.ID, 2, "revoke")
	if err := s.DeleteClient(ctx, c.ID, store.Audit{Actor: "test"}, nil); err != nil {
		t.Fatal(err)
	}
	expect(c.ID, 3, "delete")
	unknown := credential.NewClientID()
	if _, err := s.RevokeClient(ctx, unknown, storetest.Base, store.Audit{Actor: "test"}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx, unknown, store.Audit{Actor: "test"}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	expect(unknown, 0, "revoking and deleting an unknown client")

	// A client that the database refuses (its type breaks a CHECK) is not
	// half written: neither the row nor its change.
	bad := storetest.NewClient(credential.NewClientID(), store.Type("bogus"), storetest.Base)
	if err := s.CreateClient(ctx, bad, store.Audit{Actor: "test"}); err == nil {
		t.Fatal("CreateClient accepted an unknown type")
	}
	if _, err := s.GetClient(ctx, bad.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient after a failed create: %v", err)
	}
	expect(bad.ID, 0, "a failed create")
}

// TestMigrateFillsGaps: a database on which a higher-numbered migration was
// applied before a lower one existed (parallel work lands in any order) gets
// the lower one too, once, when a build that has both opens it.
func TestMigrateFillsGaps(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	versions := postgres.MigrationVersions()
	if len(versions) < 3 {
		t.Fatal("needs three migrations")
	}
	last, before := versions[len(versions)-1], versions[len(versions)-2]
	pool, err := pgxpool.New(ctx, testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := postgres.MigrateTo(ctx, pool, before-1); err != nil {
		t.Fatal(err)
	}
	if err := postgres.ApplyOnly(ctx, pool, last); err != nil {
		t.Fatal(err)
	}
	v, err := postgres.Migrate(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	checkMigrationRows(t, migrationRows(t, pool), v)
}
