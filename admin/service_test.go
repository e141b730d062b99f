package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/keyring"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/sqlite"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// clock is a settable Service.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder collects the IDs passed to Service.Invalidate.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) Invalidate(id string) { r.mu.Lock(); r.ids = append(r.ids, id); r.mu.Unlock() }
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.ids
	r.ids = nil
	return ids
}

type fixture struct {
	kind  string // kindPostgres or kindSQLite
	st    store.Store
	raw   *sql.DB // the store's database as the tests read it behind its back
	svc   *admin.Service
	clock *clock
	inv   *recorder
}

const (
	kindPostgres = "postgres"
	kindSQLite   = "sqlite"
)

// forEachStore runs test in parallel against a fresh PostgreSQL store and a
// fresh embedded SQLite store, as the subtests postgres and sqlite.
func forEachStore(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Parallel()
	for _, kind := range []string{kindPostgres, kindSQLite} {
		t.Run(kind, func(t *testing.T) { test(t, setup(t, kind)) })
	}
}

func setup(t *testing.T, kind string) *fixture {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	f := &fixture{kind: kind, clock: &clock{t: time.Now()}, inv: &recorder{}}
	switch kind {
	case kindPostgres:
		st, err := postgres.Open(ctx, testdb.New(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		f.st = st
		f.raw = stdlib.OpenDBFromPool(st.Pool())
	case kindSQLite:
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gateway.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		f.st = st
		raw, err := sql.Open("sqlite", "file:"+filepath.ToSlash(st.Path())+"?_pragma=query_only(1)")
		if err != nil {
			t.Fatal(err)
		}
		f.raw = raw
	default:
		t.Fatalf("unknown store kind %q", kind)
	}
	t.Cleanup(func() { f.raw.Close() })
	f.svc = &admin.Service{Store: f.st, Invalidate: f.inv.Invalidate, Now: f.clock.Now, Keys: &keyring.Offline{Store: f.st, Options: keysOptions}}
	return f
}

func (f *fixture) create(t *testing.T, p admin.CreateParams) *admin.Created {
	t.Helper()
	if p.Name == "" {
		p.Name = "test client"
	}
	if p.Scopes == nil {
		p.Scopes = []string{"ledgers:read"}
	}
	c, err := f.svc.Create(context.Background(), admin.CLI, p)
	if err != nil {
		t.Fatalf("Create(%+v): %v", p, err)
	}
	return c
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var ve *admin.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v (%T), want a *ValidationError for %q", err, err, field)
	}
	if ve.Field != field {
		t.Fatalf("ValidationError.Field = %q (%v), want %q", ve.Field, ve, field)
	}
	if ve.Message == "" || !strings.HasPrefix(ve.Error(), field+": ") {
		t.Errorf("ValidationError.Error() = %q", ve.Error())
	}
}

func TestCreateValidation(t *testing.T) { forEachStore(t, testCreateValidation) }

func testCreateValidation(t *testing.T, f *fixture) {
	now := f.clock.Now()
	past, justNow := now.Add(-time.Second), now
	manyScopes := make([]string, admin.MaxScopes+1)
	for i := range manyScopes {
		manyScopes[i] = fmt.Sprintf("s%d:read", i)
	}
	cases := []struct {
		name  string
		p     admin.CreateParams
		field string
	}{
		{"empty name", admin.CreateParams{Name: "", Scopes: []string{"a"}}, "name"},
		{"blank name", admin.CreateParams{Name: "   ", Scopes: []string{"a"}}, "name"},
		{"whitespace name", admin.CreateParams{Name: "\t\n \u3000", Scopes: []string{"a"}}, "name"},
		{"129 ASCII characters", admin.CreateParams{Name: strings.Repeat("a", 129), Scopes: []string{"a"}}, "name"},
		{"129 runes", admin.CreateParams{Name: strings.Repeat("é", 129), Scopes: []string{"a"}}, "name"},
		{"NUL", admin.CreateParams{Name: "a\x00b", Scopes: []string{"a"}}, "name"},
		{"newline", admin.CreateParams{Name: "line\nbreak", Scopes: []string{"a"}}, "name"},
		{"tab", admin.CreateParams{Name: "a\tb", Scopes: []string{"a"}}, "name"},
		{"escape", admin.CreateParams{Name: "red \x1b[31m", Scopes: []string{"a"}}, "name"},
		{"DEL", admin.CreateParams{Name: "a\x7f", Scopes: []string{"a"}}, "name"},
		{"C1 control", admin.CreateParams{Name: "a\u0085b", Scopes: []string{"a"}}, "name"},
		{"bidi override", admin.CreateParams{Name: "abc\u202edef", Scopes: []string{"a"}}, "name"},
		{"invalid UTF-8", admin.CreateParams{Name: "bad \xff byte", Scopes: []string{"a"}}, "name"},
		{"truncated UTF-8", admin.CreateParams{Name: "caf\xc3", Scopes: []string{"a"}}, "name"},
		{"nil scopes", admin.CreateParams{Name: "n", Scopes: nil}, "scopes"},
		{"empty scopes", admin.CreateParams{Name: "n", Scopes: []string{}}, "scopes"},
		{"scope with a space", admin.CreateParams{Name: "n", Scopes: []string{"a b"}}, "scopes"},
		{"scope with a quote", admin.CreateParams{Name: "n", Scopes: []string{`bad"quote`}}, "scopes"},
		{"scope with a backslash", admin.CreateParams{Name: "n", Scopes: []string{`back\slash`}}, "scopes"},
		{"empty scope", admin.CreateParams{Name: "n", Scopes: []string{"ok", ""}}, "scopes"},
		{"non-ASCII scope", admin.CreateParams{Name: "n", Scopes: []string{"lédger"}}, "scopes"},
		{"scope too long", admin.CreateParams{Name: "n", Scopes: []string{strings.Repeat("s", 129)}}, "scopes"},
		{"65 scopes", admin.CreateParams{Name: "n", Scopes: manyScopes}, "scopes"},
		{"bogus type", admin.CreateParams{Name: "n", Scopes: []string{"a"}, Type: "bogus"}, "type"},
		{"type in capitals", admin.CreateParams{Name: "n", Scopes: []string{"a"}, Type: "OAUTH"}, "type"},
		{"expires in the past", admin.CreateParams{Name: "n", Scopes: []string{"a"}, ExpiresAt: &past}, "expires_at"},
		{"expires now", admin.CreateParams{Name: "n", Scopes: []string{"a"}, ExpiresAt: &justNow}, "expires_at"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := f.svc.Create(context.Background(), admin.CLI, c.p)
			if got != nil {
				t.Errorf("Create returned %+v with an error", got)
			}
			wantField(t, err, c.field)
		})
	}
	// Nothing was stored and nobody was told of a change.
	list, _, err := f.svc.List(context.Background(), admin.ListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("%d clients stored by invalid requests", len(list))
	}
	if ids := f.inv.take(); len(ids) != 0 {
		t.Errorf("Invalidate called for rejected requests: %v", ids)
	}
}

func TestCreateAcceptsBoundaries(t *testing.T) { forEachStore(t, testCreateAcceptsBoundaries) }

func testCreateAcceptsBoundaries(t *testing.T, f *fixture) {
	scopes := make([]string, admin.MaxScopes)
	for i := range scopes {
		scopes[i] = fmt.Sprintf("s%02d:read", i)
	}
	for _, p := range []admin.CreateParams{
		{Name: strings.Repeat("é", admin.MaxNameLength), Scopes: []string{"*"}},
		{Name: strings.Repeat("a", admin.MaxNameLength), Scopes: scopes},
		{Name: "Ledger sync (prod) — 日本語 ✓", Scopes: []string{strings.Repeat("s", 128)}},
		{Name: " padded ", Scopes: []string{"a"}},
	} {
		c := f.create(t, p)
		got, err := f.svc.Get(context.Background(), c.Client.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != p.Name || got.Scopes.Len() != len(p.Scopes) {
			t.Errorf("stored %q with %d scopes, want %q with %d", got.Name, got.Scopes.Len(), p.Name, len(p.Scopes))
		}
	}
}

// randomPart is the secret's random body: what must never be stored.
func randomPart(secret string) string {
	if strings.HasPrefix(secret, credential.APIKeyPrefix) {
		return secret[len(credential.APIKeyPrefix)+22 : len(secret)-6] // after the embedded client ID
	}
	return secret[len(credential.SecretPrefix) : len(secret)-6]
}

// secretPieces are the secret and every 12-character run of its random body
// (71 random bits each): finding any of them means the secret leaked.
func secretPieces(secret string) []string {
	out := []string{secret}
	body := randomPart(secret)
	for i := 0; i+12 <= len(body); i++ {
		out = append(out, body[i:i+12])
	}
	return out
}

// assertSecretNotStored scans every column of every row of the tables, as
// the database returns them, for the secret or its random body.
func assertSecretNotStored(t *testing.T, f *fixture, secret string) {
	t.Helper()
	ctx := t.Context()
	needles := secretPieces(secret)
	for _, table := range []string{"blnk_auth_clients", "blnk_auth_changes", "blnk_auth_audit"} {
		rows, err := f.raw.QueryContext(ctx, `SELECT * FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				col := cols[i]
				var text []byte
				switch v := v.(type) {
				case []byte:
					text = v
				case string:
					text = []byte(v)
				default:
					text = fmt.Appendf(nil, "%v", v)
				}
				for _, needle := range needles {
					if bytes.Contains(text, []byte(needle)) {
						t.Errorf("%s.%s holds the secret: %q", table, col, text)
						break
					}
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if table == "blnk_auth_clients" && n == 0 {
			t.Fatal("no client rows to scan")
		}
		// The same through the database's own text rendering of each row.
		q := `SELECT coalesce(string_agg(t::text, E'\n'), '') FROM ` + table + ` t`
		if f.kind == kindSQLite {
			q = `SELECT coalesce(group_concat(` + strings.Join(castsToText(cols), ` || '|' || `) + `, char(10)), '') FROM ` + table
		}
		var dump string
		if err := f.raw.QueryRowContext(ctx, q).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		for _, needle := range needles {
			if strings.Contains(dump, needle) {
				t.Errorf("%s text dump holds the secret", table)
				break
			}
		}
	}
}

// castsToText renders each SQLite column as text (NULL as an empty string).
func castsToText(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = `coalesce(CAST("` + c + `" AS TEXT), '')`
	}
	return out
}

func checkStoredClient(t *testing.T, f *fixture, created *admin.Created) {
	t.Helper()
	c, secret := created.Client, created.Secret
	got, err := f.st.GetClient(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.Name != c.Name || got.Type != c.Type || got.Scopes.String() != c.Scopes.String() ||
		!got.CreatedAt.Equal(c.CreatedAt) || got.SecretHint != c.SecretHint || got.RevokedAt != nil || got.LastUsedAt != nil {
		t.Errorf("stored client %+v differs from the created %+v", got, c)
	}
	if got.SecretHash != credential.HashOf(secret) || !got.SecretHash.Matches(secret) || got.SecretHash != sha256.Sum256([]byte(secret)) {
		t.Error("stored hash does not match the secret")
	}
	if got.SecretHash.Matches(secret + "x") {
		t.Error("stored hash matches another secret")
	}
	if got.SecretHint != credential.Hint(secret) || got.SecretHint == "" {
		t.Errorf("SecretHint = %q, want %q", got.SecretHint, credential.Hint(secret))
	}
	for name, v := range map[string]string{"ID": got.ID, "Name": got.Name, "SecretHint": got.SecretHint, "Scopes": got.Scopes.String(), "Type": string(got.Type)} {
		for _, piece := range secretPieces(secret) {
			if strings.Contains(v, piece) {
				t.Errorf("stored %s %q holds part of the secret", name, v)
				break
			}
		}
	}
	var rawHash []byte
	q := `SELECT secret_hash FROM blnk_auth_clients WHERE client_id = $1`
	if f.kind == kindSQLite {
		q = `SELECT secret_hash FROM blnk_auth_clients WHERE client_id = ?`
	}
	if err := f.raw.QueryRowContext(t.Context(), q, c.ID).Scan(&rawHash); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(secret)); !bytes.Equal(rawHash, sum[:]) {
		t.Errorf("secret_hash column = %x, want SHA-256 of the secret %x", rawHash, sum)
	}
	assertSecretNotStored(t, f, secret)
}

func TestCreateOAuth(t *testing.T) { forEachStore(t, testCreateOAuth) }

func testCreateOAuth(t *testing.T, f *fixture) {
	for _, typ := range []store.Type{"", store.TypeOAuth} {
		created := f.create(t, admin.CreateParams{Name: "billing", Type: typ, Scopes: []string{"ledgers:read", "balances:*", "ledgers:read"}})
		c := created.Client
		if c.Type != store.TypeOAuth {
			t.Errorf("Type = %q, want oauth", c.Type)
		}
		if !credential.ValidClientID(c.ID) {
			t.Errorf("ID %q is not a client ID", c.ID)
		}
		if err := credential.CheckSecret(created.Secret); err != nil {
			t.Errorf("Secret %q: %v", created.Secret, err)
		}
		if c.Scopes.String() != "balances:* ledgers:read" {
			t.Errorf("Scopes = %q", c.Scopes)
		}
		if c.ExpiresAt != nil || c.RevokedAt != nil || c.LastUsedAt != nil {
			t.Errorf("new client has timestamps: %+v", c)
		}
		if want := f.clock.Now().UTC().Truncate(time.Microsecond); !c.CreatedAt.Equal(want) {
			t.Errorf("CreatedAt = %v, want %v", c.CreatedAt, want)
		}
		if c.Status(f.clock.Now()) != store.StatusActive {
			t.Errorf("status %q", c.Status(f.clock.Now()))
		}
		if ids := f.inv.take(); !slices.Equal(ids, []string{c.ID}) {
			t.Errorf("Invalidate calls %v, want [%s]", ids, c.ID)
		}
		checkStoredClient(t, f, created)
	}
}

func TestCreateAPIKey(t *testing.T) { forEachStore(t, testCreateAPIKey) }

func testCreateAPIKey(t *testing.T, f *fixture) {
	exp := f.clock.Now().Add(24*time.Hour + 123456789*time.Nanosecond)
	created := f.create(t, admin.CreateParams{Name: "ci", Type: store.TypeAPIKey, Scopes: []string{"*"}, ExpiresAt: &exp})
	c := created.Client
	if c.Type != store.TypeAPIKey {
		t.Errorf("Type = %q", c.Type)
	}
	id, err := credential.ParseAPIKey(created.Secret)
	if err != nil {
		t.Fatalf("Secret %q: %v", created.Secret, err)
	}
	if id != c.ID {
		t.Errorf("API key names client %q, want %q", id, c.ID)
	}
	if credential.CheckSecret(created.Secret) == nil {
		t.Error("an API key passes as a client secret")
	}
	// Expiry is kept to the microsecond, in UTC.
	want := exp.UTC().Truncate(time.Microsecond)
	if c.ExpiresAt == nil || !c.ExpiresAt.Equal(want) || c.ExpiresAt.Location() != time.UTC {
		t.Errorf("ExpiresAt = %v, want %v", c.ExpiresAt, want)
	}
	if c.ExpiresAt == &exp {
		t.Error("ExpiresAt aliases the caller's time")
	}
	got, err := f.svc.Get(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExpiresAt == nil || !got.ExpiresAt.Equal(want) {
		t.Errorf("stored ExpiresAt = %v, want %v", got.ExpiresAt, want)
	}
	if ids := f.inv.take(); !slices.Equal(ids, []string{c.ID}) {
		t.Errorf("Invalidate calls %v, want [%s]", ids, c.ID)
	}
	checkStoredClient(t, f, created)
}

func TestCreateUniqueCredentials(t *testing.T) { forEachStore(t, testCreateUniqueCredentials) }

func testCreateUniqueCredentials(t *testing.T, f *fixture) {
	ids, secrets := map[string]bool{}, map[string]bool{}
	for i := range 10 {
		typ := store.TypeOAuth
		if i%2 == 1 {
			typ = store.TypeAPIKey
		}
		c := f.create(t, admin.CreateParams{Type: typ})
		if ids[c.Client.ID] || secrets[c.Secret] {
			t.Fatal("repeated client ID or secret")
		}
		ids[c.Client.ID], secrets[c.Secret] = true, true
	}
}

func TestInvalidateOnEveryChange(t *testing.T) { forEachStore(t, testInvalidateOnEveryChange) }

func testInvalidateOnEveryChange(t *testing.T, f *fixture) {
	ctx := context.Background()
	c := f.create(t, admin.CreateParams{}).Client
	if ids := f.inv.take(); !slices.Equal(ids, []string{c.ID}) {
		t.Fatalf("after create: %v", ids)
	}
	if _, err := f.svc.Revoke(ctx, admin.CLI, c.ID); err != nil {
		t.Fatal(err)
	}
	if ids := f.inv.take(); !slices.Equal(ids, []string{c.ID}) {
		t.Fatalf("after revoke: %v", ids)
	}
	if err := f.svc.Delete(ctx, admin.CLI, c.ID); err != nil {
		t.Fatal(err)
	}
	if ids := f.inv.take(); !slices.Equal(ids, []string{c.ID}) {
		t.Fatalf("after delete: %v", ids)
	}
	// Failed changes invalidate nothing.
	_, _ = f.svc.Revoke(ctx, admin.CLI, c.ID)
	_ = f.svc.Delete(ctx, admin.CLI, c.ID)
	_, _ = f.svc.Revoke(ctx, admin.CLI, "nope")
	if ids := f.inv.take(); len(ids) != 0 {
		t.Fatalf("after failed changes: %v", ids)
	}
	// A nil Invalidate is allowed.
	quiet := &admin.Service{Store: f.st}
	q, err := quiet.Create(ctx, admin.CLI, admin.CreateParams{Name: "q", Scopes: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := quiet.Revoke(ctx, admin.CLI, q.Client.ID); err != nil {
		t.Fatal(err)
	}
	if err := quiet.Delete(ctx, admin.CLI, q.Client.ID); err != nil {
		t.Fatal(err)
	}
}

func TestRevokeIdempotent(t *testing.T) { forEachStore(t, testRevokeIdempotent) }

func testRevokeIdempotent(t *testing.T, f *fixture) {
	ctx := context.Background()
	c := f.create(t, admin.CreateParams{}).Client
	f.clock.Add(time.Minute + 1234*time.Nanosecond)
	first := f.clock.Now().UTC().Truncate(time.Microsecond)
	r1, err := f.svc.Revoke(ctx, admin.CLI, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r1.RevokedAt == nil || !r1.RevokedAt.Equal(first) {
		t.Fatalf("RevokedAt = %v, want %v", r1.RevokedAt, first)
	}
	if r1.Status(f.clock.Now()) != store.StatusRevoked {
		t.Errorf("status %q", r1.Status(f.clock.Now()))
	}
	f.clock.Add(time.Hour)
	r2, err := f.svc.Revoke(ctx, admin.CLI, c.ID)
	if err != nil {
		t.Fatalf("revoking again: %v", err)
	}
	if r2.RevokedAt == nil || !r2.RevokedAt.Equal(first) {
		t.Errorf("second revoke moved RevokedAt to %v, want %v", r2.RevokedAt, first)
	}
	got, err := f.svc.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt == nil || !got.RevokedAt.Equal(first) {
		t.Errorf("stored RevokedAt = %v, want %v", got.RevokedAt, first)
	}
	if got.SecretHash != c.SecretHash || got.Name != c.Name {
		t.Error("revoking changed other fields")
	}
}

func TestNotFound(t *testing.T) { forEachStore(t, testNotFound) }

func testNotFound(t *testing.T, f *fixture) {
	ctx := context.Background()
	real := f.create(t, admin.CreateParams{})
	f.inv.take()
	valid := real.Client.ID
	malformed := []string{
		"", "x", "blnk_cid_", valid[:len(valid)-1], valid + "A", " " + valid, valid + " ",
		strings.ToUpper(valid[:9]) + valid[9:], "blnk_cid_" + strings.Repeat("-", 22),
		"blnk_cid_" + strings.Repeat("é", 11), valid[:len(valid)-1] + "%", "' OR 1=1 --",
		real.Secret, strings.Repeat("a", 10000),
	}
	unknown := []string{credential.NewClientID(), credential.NewClientID()}
	for _, id := range append(malformed, unknown...) {
		if c, err := f.svc.Get(ctx, id); !errors.Is(err, store.ErrNotFound) || c != nil || !admin.IsNotFound(err) {
			t.Errorf("Get(%q) = %v, %v; want store.ErrNotFound", id, c, err)
		}
		if c, err := f.svc.Revoke(ctx, admin.CLI, id); !errors.Is(err, store.ErrNotFound) || c != nil {
			t.Errorf("Revoke(%q) = %v, %v; want store.ErrNotFound", id, c, err)
		}
		if err := f.svc.Delete(ctx, admin.CLI, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Delete(%q) = %v; want store.ErrNotFound", id, err)
		}
	}
	if ids := f.inv.take(); len(ids) != 0 {
		t.Errorf("Invalidate called for missing clients: %v", ids)
	}
	// The real client was untouched; once deleted it is not found either.
	if c, err := f.svc.Get(ctx, valid); err != nil || c.RevokedAt != nil {
		t.Fatalf("Get(real) = %+v, %v", c, err)
	}
	if err := f.svc.Delete(ctx, admin.CLI, valid); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(ctx, valid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := f.svc.Delete(ctx, admin.CLI, valid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
	if _, err := f.svc.Revoke(ctx, admin.CLI, valid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Revoke after Delete: %v", err)
	}
	if admin.IsNotFound(errors.New("other")) || admin.IsNotFound(nil) {
		t.Error("IsNotFound of another error")
	}
	if !admin.IsNotFound(fmt.Errorf("wrapped: %w", store.ErrNotFound)) {
		t.Error("IsNotFound of a wrapped ErrNotFound = false")
	}
}

func TestListLimits(t *testing.T) { forEachStore(t, testListLimits) }

func testListLimits(t *testing.T, f *fixture) {
	ctx := context.Background()
	for range admin.DefaultListLimit + 5 {
		f.create(t, admin.CreateParams{})
		f.clock.Add(time.Millisecond)
	}
	page, next, err := f.svc.List(ctx, admin.ListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != admin.DefaultListLimit || next == nil {
		t.Errorf("limit 0: %d clients, next %v; want %d and a cursor", len(page), next, admin.DefaultListLimit)
	}
	for _, limit := range []int{1, 54, 55, 56, admin.MaxListLimit} {
		page, next, err := f.svc.List(ctx, admin.ListParams{Limit: limit})
		if err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		want := min(limit, 55)
		if len(page) != want || (next == nil) != (limit >= 55) {
			t.Errorf("limit %d: %d clients, next %v; want %d", limit, len(page), next, want)
		}
	}
	for _, limit := range []int{-1, -50, admin.MaxListLimit + 1, 1 << 30} {
		page, next, err := f.svc.List(ctx, admin.ListParams{Limit: limit})
		if page != nil || next != nil {
			t.Errorf("limit %d returned a page", limit)
		}
		wantField(t, err, "limit")
	}
	for _, p := range []admin.ListParams{
		{Status: "bogus"}, {Status: "Active"}, {Status: " "},
	} {
		_, _, err := f.svc.List(ctx, p)
		wantField(t, err, "status")
	}
	for _, p := range []admin.ListParams{{Type: "bogus"}, {Type: "API_KEY"}} {
		_, _, err := f.svc.List(ctx, p)
		wantField(t, err, "type")
	}
}

func TestListPagination(t *testing.T) { forEachStore(t, testListPagination) }

func testListPagination(t *testing.T, f *fixture) {
	ctx := context.Background()
	// Clients created in groups of five at the same instant: the cursor must
	// break ties by client ID.
	want := map[string]bool{}
	for i := range 23 {
		if i%5 == 0 {
			f.clock.Add(time.Second)
		}
		want[f.create(t, admin.CreateParams{}).Client.ID] = true
	}
	for _, limit := range []int{1, 2, 4, 5, 22, 23, 24} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			var all []*store.Client
			var after *store.Cursor
			for pages := 1; ; pages++ {
				if pages > 30 {
					t.Fatal("pagination does not end")
				}
				page, next, err := f.svc.List(ctx, admin.ListParams{Limit: limit, After: after})
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > limit || len(page) == 0 {
					t.Fatalf("page %d has %d clients (limit %d)", pages, len(page), limit)
				}
				all = append(all, page...)
				if next == nil {
					if len(all) != len(want) {
						t.Fatalf("last page after %d clients, want %d", len(all), len(want))
					}
					break
				}
				if len(page) != limit {
					t.Fatalf("short page %d (%d of %d) with a next cursor", pages, len(page), limit)
				}
				last := page[len(page)-1]
				if next.ID != last.ID || !next.CreatedAt.Equal(last.CreatedAt) {
					t.Fatalf("cursor %+v is not the last client of the page", next)
				}
				after = next
			}
			seen := map[string]bool{}
			for i, c := range all {
				if !want[c.ID] || seen[c.ID] {
					t.Fatalf("client %s listed twice or unknown", c.ID)
				}
				seen[c.ID] = true
				if i > 0 {
					prev := all[i-1]
					if c.CreatedAt.After(prev.CreatedAt) || c.CreatedAt.Equal(prev.CreatedAt) && c.ID > prev.ID {
						t.Fatalf("not newest first at %d", i)
					}
				}
			}
		})
	}
}

func TestListFilters(t *testing.T) { forEachStore(t, testListFilters) }

func testListFilters(t *testing.T, f *fixture) {
	ctx := context.Background()
	soon := f.clock.Now().Add(time.Hour)
	active := f.create(t, admin.CreateParams{}).Client.ID
	key := f.create(t, admin.CreateParams{Type: store.TypeAPIKey}).Client.ID
	expiring := f.create(t, admin.CreateParams{ExpiresAt: &soon}).Client.ID
	revoked := f.create(t, admin.CreateParams{Type: store.TypeAPIKey, ExpiresAt: &soon}).Client.ID
	if _, err := f.svc.Revoke(ctx, admin.CLI, revoked); err != nil {
		t.Fatal(err)
	}
	list := func(p admin.ListParams) []string {
		t.Helper()
		page, _, err := f.svc.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range page {
			ids = append(ids, c.ID)
		}
		slices.Sort(ids)
		return ids
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	check := func(name string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	check("all", list(admin.ListParams{}), sorted(active, key, expiring, revoked))
	check("active", list(admin.ListParams{Status: store.StatusActive}), sorted(active, key, expiring))
	check("revoked", list(admin.ListParams{Status: store.StatusRevoked}), sorted(revoked))
	check("expired", list(admin.ListParams{Status: store.StatusExpired}), nil)
	check("api_key", list(admin.ListParams{Type: store.TypeAPIKey}), sorted(key, revoked))
	check("oauth", list(admin.ListParams{Type: store.TypeOAuth}), sorted(active, expiring))
	f.clock.Add(2 * time.Hour) // the expiring client expires; revoked stays revoked
	check("active later", list(admin.ListParams{Status: store.StatusActive}), sorted(active, key))
	check("expired later", list(admin.ListParams{Status: store.StatusExpired}), sorted(expiring))
	check("revoked later", list(admin.ListParams{Status: store.StatusRevoked}), sorted(revoked))
	check("active api_key later", list(admin.ListParams{Status: store.StatusActive, Type: store.TypeAPIKey}), sorted(key))
}

// ptrTo returns a pointer to a copy of v.
func ptrTo[T any](v T) *T { return &v }

// auditCount is the number of audit events stored.
func (f *fixture) auditCount(t *testing.T) int {
	t.Helper()
	evs, err := f.st.ListAudit(context.Background(), store.AuditFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// mustGet returns the stored client.
func (f *fixture) mustGet(t *testing.T, id string) *store.Client {
	t.Helper()
	c, err := f.st.GetClient(context.Background(), id)
	if err != nil {
		t.Fatalf("GetClient(%s): %v", id, err)
	}
	return c
}

// sameClient fails unless got and want agree on every stored field.
func sameClient(t *testing.T, what string, got, want *store.Client) {
	t.Helper()
	eqTime := func(a, b *time.Time) bool {
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		return a.Equal(*b)
	}
	eqHash := func(a, b *credential.Hash) bool {
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		return *a == *b
	}
	if got.ID != want.ID || got.Name != want.Name || got.Type != want.Type || got.Scopes.String() != want.Scopes.String() ||
		got.SecretHash != want.SecretHash || got.SecretHint != want.SecretHint || !got.CreatedAt.Equal(want.CreatedAt) ||
		!eqTime(got.ExpiresAt, want.ExpiresAt) || !eqTime(got.RevokedAt, want.RevokedAt) || !eqTime(got.LastUsedAt, want.LastUsedAt) ||
		!eqHash(got.PreviousSecretHash, want.PreviousSecretHash) || !eqTime(got.PreviousSecretExpiresAt, want.PreviousSecretExpiresAt) {
		t.Errorf("%s: client\n\t%+v\nwant\n\t%+v", what, got, want)
	}
}

// unchanged fails unless the stored client is still want, nobody was told of
// a change, and the audit log still has events events.
func (f *fixture) unchanged(t *testing.T, what string, want *store.Client, events int) {
	t.Helper()
	sameClient(t, what, f.mustGet(t, want.ID), want)
	if ids := f.inv.take(); len(ids) != 0 {
		t.Errorf("%s: Invalidate called for %v", what, ids)
	}
	if n := f.auditCount(t); n != events {
		t.Errorf("%s: %d audit events written", what, n-events)
	}
}

func TestUpdateValidation(t *testing.T) { forEachStore(t, testUpdateValidation) }

func testUpdateValidation(t *testing.T, f *fixture) {
	ctx := context.Background()
	now := f.clock.Now()
	soon := now.Add(time.Hour)
	c := f.create(t, admin.CreateParams{Name: "original", Scopes: []string{"ledgers:read"}, ExpiresAt: &soon}).Client
	f.inv.take()
	events := f.auditCount(t)
	manyScopes := make([]string, admin.MaxScopes+1)
	for i := range manyScopes {
		manyScopes[i] = fmt.Sprintf("s%d:read", i)
	}
	cases := []struct {
		name  string
		p     admin.UpdateParams
		field string
	}{
		{"empty name", admin.UpdateParams{Name: ptrTo("")}, "name"},
		{"blank name", admin.UpdateParams{Name: ptrTo(" \t ")}, "name"},
		{"129 characters", admin.UpdateParams{Name: ptrTo(strings.Repeat("é", admin.MaxNameLength+1))}, "name"},
		{"control character", admin.UpdateParams{Name: ptrTo("a\x1bb")}, "name"},
		{"invalid UTF-8", admin.UpdateParams{Name: ptrTo("bad \xff")}, "name"},
		{"no scopes", admin.UpdateParams{Scopes: &[]string{}}, "scopes"},
		{"nil scopes", admin.UpdateParams{Scopes: new([]string)}, "scopes"},
		{"invalid scope", admin.UpdateParams{Scopes: &[]string{"a b"}}, "scopes"},
		{"65 scopes", admin.UpdateParams{Scopes: &manyScopes}, "scopes"},
		{"expires in the past", admin.UpdateParams{ExpiresAt: ptrTo(ptrTo(now.Add(-time.Second)))}, "expires_at"},
		{"expires now", admin.UpdateParams{ExpiresAt: ptrTo(ptrTo(now))}, "expires_at"},
		{"valid name, past expiry", admin.UpdateParams{Name: ptrTo("fine"), ExpiresAt: ptrTo(ptrTo(now.Add(-time.Hour)))}, "expires_at"},
		{"valid scopes, invalid name", admin.UpdateParams{Name: ptrTo(""), Scopes: &[]string{"a"}}, "name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.svc.Update(ctx, admin.CLI, c.ID, tc.p)
			if got != nil {
				t.Errorf("Update returned %+v with an error", got)
			}
			wantField(t, err, tc.field)
			f.unchanged(t, "rejected update", c, events)
		})
	}

	// Nothing to change is not an error here.
	got, err := f.svc.Update(ctx, admin.CLI, c.ID, admin.UpdateParams{})
	if err != nil {
		t.Fatalf("Update with nothing to change: %v", err)
	}
	sameClient(t, "update with nothing to change", got, c)
	sameClient(t, "stored after an update with nothing to change", f.mustGet(t, c.ID), c)

	// Valid changes are stored, each alone.
	want := *c
	want.Name = "  renamed ✓ "
	if got, err = f.svc.Update(ctx, admin.CLI, c.ID, admin.UpdateParams{Name: ptrTo(want.Name)}); err != nil {
		t.Fatal(err)
	}
	sameClient(t, "rename", got, &want)
	want.Scopes = scope.MustParse("balances:* ledgers:write")
	if got, err = f.svc.Update(ctx, admin.CLI, c.ID, admin.UpdateParams{Scopes: &[]string{"ledgers:write", "balances:*", "ledgers:write"}}); err != nil {
		t.Fatal(err)
	}
	sameClient(t, "new scopes", got, &want)
	later := now.Add(48*time.Hour + 1234*time.Nanosecond)
	want.ExpiresAt = ptrTo(later.UTC().Truncate(time.Microsecond))
	if got, err = f.svc.Update(ctx, admin.CLI, c.ID, admin.UpdateParams{ExpiresAt: ptrTo(&later)}); err != nil {
		t.Fatal(err)
	}
	sameClient(t, "new expiry", got, &want)
	if got.ExpiresAt == &later {
		t.Error("ExpiresAt aliases the caller's time")
	}
	want.ExpiresAt = nil
	if got, err = f.svc.Update(ctx, admin.CLI, c.ID, admin.UpdateParams{ExpiresAt: new(*time.Time)}); err != nil {
		t.Fatal(err)
	}
	sameClient(t, "never expires", got, &want)
	sameClient(t, "stored after the updates", f.mustGet(t, c.ID), &want)

	// Unknown and malformed IDs are not found.
	for _, id := range []string{credential.NewClientID(), "nope", "", c.ID + "x"} {
		if got, err := f.svc.Update(ctx, admin.CLI, id, admin.UpdateParams{Name: ptrTo("x")}); !errors.Is(err, store.ErrNotFound) || got != nil {
			t.Errorf("Update(%q) = %v, %v; want store.ErrNotFound", id, got, err)
		}
	}
}

func TestUpdateAndRollInvalidate(t *testing.T) { forEachStore(t, testUpdateAndRollInvalidate) }

func testUpdateAndRollInvalidate(t *testing.T, f *fixture) {
	ctx := context.Background()
	c := f.create(t, admin.CreateParams{}).Client
	f.inv.take()
	if _, err := f.svc.Update(ctx, admin.CLI, c.ID, admin.UpdateParams{Name: ptrTo("renamed")}); err != nil {
		t.Fatal(err)
	}
	if ids := f.inv.take(); !slices.Equal(ids, []string{c.ID}) {
		t.Fatalf("after update: Invalidate calls %v, want [%s]", ids, c.ID)
	}
	if _, err := f.svc.Update(ctx, admin.CLI, c.ID, admin.UpdateParams{}); err != nil {
		t.Fatal(err)
	}
	if ids := f.inv.take(); !slices.Equal(ids, []string{c.ID}) {
		t.Fatalf("after an update with nothing to change: Invalidate calls %v, want [%s]", ids, c.ID)
	}
	if _, err := f.svc.RollSecret(ctx, admin.CLI, c.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ids := f.inv.take(); !slices.Equal(ids, []string{c.ID}) {
		t.Fatalf("after roll: Invalidate calls %v, want [%s]", ids, c.ID)
	}
	// Failed changes invalidate nothing.
	reader := admin.Actor{ID: c.ID, Scopes: scope.MustParse("ledgers:read")}
	_, _ = f.svc.Update(ctx, admin.CLI, c.ID, admin.UpdateParams{Name: ptrTo("")})
	_, _ = f.svc.Update(ctx, reader, c.ID, admin.UpdateParams{Scopes: &[]string{"*"}})
	_, _ = f.svc.Update(ctx, admin.CLI, credential.NewClientID(), admin.UpdateParams{Name: ptrTo("x")})
	_, _ = f.svc.RollSecret(ctx, admin.CLI, c.ID, -time.Second)
	_, _ = f.svc.RollSecret(ctx, admin.CLI, credential.NewClientID(), 0)
	if ids := f.inv.take(); len(ids) != 0 {
		t.Fatalf("after failed changes: %v", ids)
	}
	// A nil Invalidate is allowed.
	quiet := &admin.Service{Store: f.st}
	if _, err := quiet.Update(ctx, admin.CLI, c.ID, admin.UpdateParams{Name: ptrTo("quiet")}); err != nil {
		t.Fatal(err)
	}
	if _, err := quiet.RollSecret(ctx, admin.CLI, c.ID, 0); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateAndRollRevoked(t *testing.T) { forEachStore(t, testUpdateAndRollRevoked) }

func testUpdateAndRollRevoked(t *testing.T, f *fixture) {
	ctx := context.Background()
	created := f.create(t, admin.CreateParams{})
	c, err := f.svc.Revoke(ctx, admin.CLI, created.Client.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.inv.take()
	events := f.auditCount(t)
	later := f.clock.Now().Add(time.Hour)
	for name, p := range map[string]admin.UpdateParams{
		"name":    {Name: ptrTo("renamed")},
		"scopes":  {Scopes: &[]string{"*"}},
		"expiry":  {ExpiresAt: ptrTo(&later)},
		"never":   {ExpiresAt: new(*time.Time)},
		"nothing": {},
	} {
		got, err := f.svc.Update(ctx, admin.CLI, c.ID, p)
		if !errors.Is(err, store.ErrRevoked) || got != nil {
			t.Errorf("Update(revoked, %s) = %v, %v; want store.ErrRevoked", name, got, err)
		}
		f.unchanged(t, "update of a revoked client", c, events)
	}
	for _, grace := range []time.Duration{0, time.Hour} {
		got, err := f.svc.RollSecret(ctx, admin.CLI, c.ID, grace)
		if !errors.Is(err, store.ErrRevoked) || got != nil {
			t.Errorf("RollSecret(revoked, %v) = %v, %v; want store.ErrRevoked", grace, got, err)
		}
		f.unchanged(t, "roll of a revoked client", c, events)
	}
	if !f.mustGet(t, c.ID).SecretMatches(created.Secret, f.clock.Now()) {
		t.Error("the revoked client's secret changed")
	}
}

func TestRollSecret(t *testing.T) { forEachStore(t, testRollSecret) }

func testRollSecret(t *testing.T, f *fixture) {
	ctx := context.Background()
	for _, typ := range []store.Type{store.TypeOAuth, store.TypeAPIKey} {
		t.Run(string(typ), func(t *testing.T) {
			exp := f.clock.Now().Add(90 * 24 * time.Hour)
			created := f.create(t, admin.CreateParams{Name: "rolled " + string(typ), Type: typ, Scopes: []string{"ledgers:read", "mcp:*"}, ExpiresAt: &exp})
			orig, old := created.Client, created.Secret
			f.inv.take()
			f.clock.Add(time.Minute + 1234*time.Nanosecond)
			rolledAt := f.clock.Now().UTC().Truncate(time.Microsecond)
			const grace = time.Hour
			rolled, err := f.svc.RollSecret(ctx, admin.CLI, orig.ID, grace)
			if err != nil {
				t.Fatalf("RollSecret: %v", err)
			}
			secret := rolled.Secret
			if secret == old {
				t.Fatal("the new secret is the old one")
			}
			switch typ {
			case store.TypeOAuth:
				if err := credential.CheckSecret(secret); err != nil {
					t.Errorf("new secret %q: %v", secret, err)
				}
				if credential.IsAPIKey(secret) {
					t.Errorf("an OAuth client got an API key")
				}
			case store.TypeAPIKey:
				id, err := credential.ParseAPIKey(secret)
				if err != nil || id != orig.ID {
					t.Errorf("new API key %q: client %q, %v; want %q", secret, id, err, orig.ID)
				}
				if credential.CheckSecret(secret) == nil {
					t.Errorf("an API key client got a client secret")
				}
			}
			want := *orig
			want.SecretHash, want.SecretHint = credential.HashOf(secret), credential.Hint(secret)
			want.PreviousSecretHash = ptrTo(credential.HashOf(old))
			until := rolledAt.Add(grace)
			want.PreviousSecretExpiresAt = &until
			sameClient(t, "returned by RollSecret", rolled.Client, &want)
			stored := f.mustGet(t, orig.ID)
			sameClient(t, "stored after RollSecret", stored, &want)
			if want.SecretHint == orig.SecretHint {
				t.Errorf("the hint did not change")
			}
			if ids := f.inv.take(); !slices.Equal(ids, []string{orig.ID}) {
				t.Errorf("Invalidate calls %v, want [%s]", ids, orig.ID)
			}

			// The new secret works from now on; the old one only during the grace period.
			now := f.clock.Now()
			for _, tc := range []struct {
				what   string
				secret string
				at     time.Time
				want   bool
			}{
				{"new secret now", secret, now, true},
				{"new secret after the grace period", secret, now.Add(2 * grace), true},
				{"old secret now", old, now, true},
				{"old secret just before the end of the grace period", old, until.Add(-time.Microsecond), true},
				{"old secret at the end of the grace period", old, until, false},
				{"old secret once the grace period has passed", old, now.Add(grace), false},
				{"another secret", credential.NewSecret(), now, false},
			} {
				if got := stored.SecretMatches(tc.secret, tc.at); got != tc.want {
					t.Errorf("%s: SecretMatches = %t, want %t", tc.what, got, tc.want)
				}
			}
			// Neither secret is stored anywhere, audit log included.
			assertSecretNotStored(t, f, secret)
			assertSecretNotStored(t, f, old)

			// Rolling again without a grace period ends both at once.
			f.clock.Add(time.Second)
			again, err := f.svc.RollSecret(ctx, admin.CLI, orig.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			stored = f.mustGet(t, orig.ID)
			if stored.PreviousSecretHash != nil || stored.PreviousSecretExpiresAt != nil {
				t.Errorf("a roll without grace kept a previous secret until %v", stored.PreviousSecretExpiresAt)
			}
			now = f.clock.Now()
			if !stored.SecretMatches(again.Secret, now) || stored.SecretMatches(secret, now) || stored.SecretMatches(old, now) {
				t.Errorf("after a roll without grace only the newest secret may match")
			}
			if again.Secret == secret || again.Secret == old {
				t.Error("a roll repeated a secret")
			}
		})
	}
}

func TestRollSecretGracePeriod(t *testing.T) { forEachStore(t, testRollSecretGracePeriod) }

func testRollSecretGracePeriod(t *testing.T, f *fixture) {
	ctx := context.Background()
	c := f.create(t, admin.CreateParams{}).Client
	f.inv.take()
	events := f.auditCount(t)
	for _, grace := range []time.Duration{-time.Nanosecond, -time.Hour, admin.MaxGracePeriod + time.Nanosecond, admin.MaxGracePeriod * 2, 1 << 62} {
		got, err := f.svc.RollSecret(ctx, admin.CLI, c.ID, grace)
		if got != nil {
			t.Errorf("RollSecret(grace %v) returned a secret", grace)
		}
		wantField(t, err, "grace_period")
		f.unchanged(t, fmt.Sprintf("RollSecret(grace %v)", grace), c, events)
	}
	// The longest grace period is allowed.
	now := f.clock.Now().UTC().Truncate(time.Microsecond)
	got, err := f.svc.RollSecret(ctx, admin.CLI, c.ID, admin.MaxGracePeriod)
	if err != nil {
		t.Fatalf("RollSecret(MaxGracePeriod): %v", err)
	}
	if e := got.Client.PreviousSecretExpiresAt; e == nil || !e.Equal(now.Add(admin.MaxGracePeriod)) {
		t.Errorf("PreviousSecretExpiresAt = %v, want %v", e, now.Add(admin.MaxGracePeriod))
	}
	// Unknown and malformed IDs are not found.
	for _, id := range []string{credential.NewClientID(), "nope", ""} {
		if got, err := f.svc.RollSecret(ctx, admin.CLI, id, time.Hour); !errors.Is(err, store.ErrNotFound) || got != nil {
			t.Errorf("RollSecret(%q) = %v, %v; want store.ErrNotFound", id, got, err)
		}
	}
}

// forbidden fails unless err is ErrForbidden (and not a validation error).
func forbidden(t *testing.T, what string, err error) {
	t.Helper()
	var ve *admin.ValidationError
	if !errors.Is(err, admin.ErrForbidden) || errors.As(err, &ve) {
		t.Errorf("%s: err = %v, want admin.ErrForbidden", what, err)
	}
}

func TestNoEscalation(t *testing.T) { forEachStore(t, testNoEscalation) }

func testNoEscalation(t *testing.T, f *fixture) {
	ctx := context.Background()
	// Clients acting through the admin API, each with its own scopes.
	as := func(scopes string) admin.Actor {
		c := f.create(t, admin.CreateParams{Name: "actor " + scopes, Scopes: strings.Fields(scopes)}).Client
		return admin.Actor{ID: c.ID, Scopes: c.Scopes, Source: "192.0.2.10:4242", RequestID: "req-" + scopes}
	}
	reader := as("mcp:read")
	writer := as("mcp:write")
	ledgers := as("ledgers:*")
	anyResource := as("*:*")
	star := as("*")
	f.inv.take()
	clients := func() int {
		t.Helper()
		list, _, err := f.svc.List(ctx, admin.ListParams{Limit: admin.MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	stored, events := clients(), f.auditCount(t)

	// Create: only scopes the actor holds.
	for _, tc := range []struct {
		actor  admin.Actor
		scopes []string
	}{
		{reader, []string{"mcp:write"}},
		{reader, []string{"*"}},
		{reader, []string{"mcp:*"}},
		{reader, []string{"mcp:read", "mcp:write"}},
		{reader, []string{"*:read"}},
		{reader, []string{"ledgers:read"}},
		{writer, []string{"mcp:*"}},
		{writer, []string{"mcp:admin"}},
		{ledgers, []string{"balances:read"}},
		{ledgers, []string{"ledgers:read", "balances:read"}},
		{ledgers, []string{"*"}},
		{anyResource, []string{"*"}}, // a "*" client needs "*"
		{admin.Actor{ID: "nobody"}, []string{"mcp:read"}},
		{admin.Actor{ID: "empty scopes", Scopes: scope.MustParse("")}, []string{"mcp:read"}},
	} {
		for _, typ := range []store.Type{store.TypeOAuth, store.TypeAPIKey} {
			got, err := f.svc.Create(ctx, tc.actor, admin.CreateParams{Name: "escalated", Type: typ, Scopes: tc.scopes})
			if got != nil {
				t.Errorf("actor %s created a client with %v", tc.actor.Scopes, tc.scopes)
			}
			forbidden(t, fmt.Sprintf("actor %q creating %v", tc.actor.Scopes, tc.scopes), err)
		}
	}
	if n := clients(); n != stored {
		t.Errorf("forbidden creations stored %d clients", n-stored)
	}
	if n := f.auditCount(t); n != events {
		t.Errorf("forbidden creations wrote %d audit events", n-events)
	}
	if ids := f.inv.take(); len(ids) != 0 {
		t.Errorf("forbidden creations invalidated %v", ids)
	}
	// Invalid input is still reported as such to any actor.
	_, err := f.svc.Create(ctx, reader, admin.CreateParams{Name: "", Scopes: []string{"mcp:read"}})
	wantField(t, err, "name")

	// What an actor holds, or what it covers, it may grant.
	for _, tc := range []struct {
		actor  admin.Actor
		scopes []string
	}{
		{reader, []string{"mcp:read"}},
		{writer, []string{"mcp:read"}}, // mcp:write implies mcp:read
		{writer, []string{"mcp:write", "mcp:read"}},
		{ledgers, []string{"ledgers:read"}},
		{ledgers, []string{"ledgers:write", "ledgers:*"}},
		{anyResource, []string{"balances:read", "ledgers:*", "mcp:write"}},
		{star, []string{"*"}},
		{star, []string{"anything", "mcp:write"}},
	} {
		got, err := f.svc.Create(ctx, tc.actor, admin.CreateParams{Name: "granted", Scopes: tc.scopes})
		if err != nil {
			t.Errorf("actor %q creating %v: %v", tc.actor.Scopes, tc.scopes, err)
			continue
		}
		want, _ := scope.FromList(tc.scopes)
		if got.Client.Scopes.String() != want.String() {
			t.Errorf("created scopes %q, want %q", got.Client.Scopes, want)
		}
	}

	// Update: nobody sets scopes beyond their own, on another client or on itself.
	target := f.create(t, admin.CreateParams{Name: "target", Scopes: []string{"mcp:read"}}).Client
	self := f.mustGet(t, reader.ID)
	f.inv.take()
	events = f.auditCount(t)
	for _, tc := range []struct {
		actor  admin.Actor
		id     string
		scopes []string
	}{
		{reader, target.ID, []string{"mcp:write"}},
		{reader, target.ID, []string{"*"}},
		{reader, target.ID, []string{"mcp:read", "ledgers:read"}},
		{reader, reader.ID, []string{"mcp:write"}},
		{reader, reader.ID, []string{"*"}},
		{ledgers, target.ID, []string{"mcp:read"}},
		{anyResource, target.ID, []string{"*"}},
	} {
		got, err := f.svc.Update(ctx, tc.actor, tc.id, admin.UpdateParams{Name: ptrTo("escalated"), Scopes: &tc.scopes})
		if got != nil {
			t.Errorf("actor %q set %v", tc.actor.Scopes, tc.scopes)
		}
		forbidden(t, fmt.Sprintf("actor %q updating scopes to %v", tc.actor.Scopes, tc.scopes), err)
	}
	f.unchanged(t, "forbidden update", target, events)
	sameClient(t, "actor after a forbidden update of itself", f.mustGet(t, reader.ID), self)
	// Within its own scopes it may.
	if got, err := f.svc.Update(ctx, writer, target.ID, admin.UpdateParams{Scopes: &[]string{"mcp:write"}}); err != nil || got.Scopes.String() != "mcp:write" {
		t.Errorf("writer updating scopes to mcp:write: %v, %v", got, err)
	}
	// Managing a client needs its scopes too: the reader may not even narrow
	// the (now mcp:write) target, but may manage a client within its power.
	_, err = f.svc.Update(ctx, reader, target.ID, admin.UpdateParams{Scopes: &[]string{"mcp:read"}})
	forbidden(t, "reader narrowing an mcp:write client", err)
	_, err = f.svc.Update(ctx, reader, target.ID, admin.UpdateParams{ExpiresAt: ptrTo[*time.Time](nil)})
	forbidden(t, "reader extending an mcp:write client's life", err)
	small := f.create(t, admin.CreateParams{Name: "small", Scopes: []string{"mcp:read"}})
	if got, err := f.svc.Update(ctx, reader, small.Client.ID, admin.UpdateParams{Name: ptrTo("renamed"), Scopes: &[]string{"mcp:read"}}); err != nil || got.Name != "renamed" {
		t.Errorf("reader updating an mcp:read client: %v, %v", got, err)
	}

	// RollSecret: the actor needs every scope of the client, since the new
	// secret carries them all.
	starClient := f.create(t, admin.CreateParams{Name: "star", Scopes: []string{"*"}})
	writeClient := f.create(t, admin.CreateParams{Name: "writer", Scopes: []string{"mcp:write"}})
	mixed := f.create(t, admin.CreateParams{Name: "mixed", Type: store.TypeAPIKey, Scopes: []string{"mcp:read", "ledgers:read"}})
	readClient := f.create(t, admin.CreateParams{Name: "reader", Type: store.TypeAPIKey, Scopes: []string{"mcp:read"}})
	f.inv.take()
	events = f.auditCount(t)
	for _, tc := range []struct {
		actor  admin.Actor
		target *admin.Created
	}{
		{reader, starClient},
		{reader, writeClient},
		{reader, mixed},
		{ledgers, mixed},
		{writer, mixed},
		{anyResource, starClient},
	} {
		got, err := f.svc.RollSecret(ctx, tc.actor, tc.target.Client.ID, time.Hour)
		if got != nil {
			t.Errorf("actor %q rolled the secret of a %q client: %+v", tc.actor.Scopes, tc.target.Client.Scopes, got)
		}
		forbidden(t, fmt.Sprintf("actor %q rolling a %q client", tc.actor.Scopes, tc.target.Client.Scopes), err)
		f.unchanged(t, "forbidden roll", tc.target.Client, events)
		if !f.mustGet(t, tc.target.Client.ID).SecretMatches(tc.target.Secret, f.clock.Now()) {
			t.Errorf("a forbidden roll changed the secret")
		}
	}
	for _, tc := range []struct {
		actor  admin.Actor
		target *admin.Created
	}{
		{reader, readClient},
		{writer, readClient}, // mcp:write covers mcp:read
		{star, starClient},
		{star, mixed},
		{anyResource, mixed},
	} {
		got, err := f.svc.RollSecret(ctx, tc.actor, tc.target.Client.ID, 0)
		if err != nil {
			t.Errorf("actor %q rolling a %q client: %v", tc.actor.Scopes, tc.target.Client.Scopes, err)
			continue
		}
		if !f.mustGet(t, tc.target.Client.ID).SecretMatches(got.Secret, f.clock.Now()) {
			t.Errorf("the rolled secret does not match")
		}
	}
	// An actor may roll its own secret: it holds its own scopes.
	if _, err := f.svc.RollSecret(ctx, reader, reader.ID, time.Minute); err != nil {
		t.Errorf("rolling one's own secret: %v", err)
	}
}

// TestNoEscalationRevokeDelete: revoking and deleting a client need every
// scope of that client, as updating it and rolling its secret do, except that
// a client may always revoke itself. Issue #8, item 5.
func TestNoEscalationRevokeDelete(t *testing.T) { forEachStore(t, testNoEscalationRevokeDelete) }

func testNoEscalationRevokeDelete(t *testing.T, f *fixture) {
	ctx := context.Background()
	delegateClient := f.create(t, admin.CreateParams{Name: "delegate", Scopes: []string{"api-keys:write", "api-keys:delete", "mcp:read"}}).Client
	delegate := admin.Actor{ID: delegateClient.ID, Scopes: delegateClient.Scopes, Source: "192.0.2.1:1", RequestID: "req-delegate"}
	star := f.create(t, admin.CreateParams{Name: "star", Scopes: []string{"*"}}).Client
	wider := f.create(t, admin.CreateParams{Name: "wider", Type: store.TypeAPIKey, Scopes: []string{"mcp:read", "ledgers:read"}}).Client
	f.inv.take()
	events := f.auditCount(t)

	for _, target := range []*store.Client{star, wider} {
		got, err := f.svc.Revoke(ctx, delegate, target.ID)
		if got != nil {
			t.Errorf("delegate revoked a %q client: %+v", target.Scopes, got)
		}
		forbidden(t, fmt.Sprintf("delegate revoking a %q client", target.Scopes), err)
		f.unchanged(t, "forbidden revoke", target, events)
		forbidden(t, fmt.Sprintf("delegate deleting a %q client", target.Scopes), f.svc.Delete(ctx, delegate, target.ID))
		f.unchanged(t, "forbidden delete", target, events)
	}
	// Already revoked makes no difference: revoking stays the target's
	// holder's business.
	if _, err := f.svc.Revoke(ctx, admin.CLI, wider.ID); err != nil {
		t.Fatal(err)
	}
	f.inv.take()
	revokedWider, events := f.mustGet(t, wider.ID), f.auditCount(t)
	_, err := f.svc.Revoke(ctx, delegate, wider.ID)
	forbidden(t, "delegate revoking a revoked wider client", err)
	forbidden(t, "delegate deleting a revoked wider client", f.svc.Delete(ctx, delegate, wider.ID))
	f.unchanged(t, "forbidden revoke or delete of a revoked client", revokedWider, events)

	// Within its scopes it may revoke and delete.
	small := f.create(t, admin.CreateParams{Name: "small", Scopes: []string{"mcp:read"}}).Client
	other := f.create(t, admin.CreateParams{Name: "other", Type: store.TypeAPIKey, Scopes: []string{"api-keys:write"}}).Client
	if got, err := f.svc.Revoke(ctx, delegate, small.ID); err != nil || got.RevokedAt == nil {
		t.Errorf("delegate revoking an mcp:read client: %v, %v", got, err)
	}
	if err := f.svc.Delete(ctx, delegate, other.ID); err != nil {
		t.Errorf("delegate deleting an api-keys:write client: %v", err)
	}
	if err := f.svc.Delete(ctx, delegate, small.ID); err != nil {
		t.Errorf("delegate deleting the revoked mcp:read client: %v", err)
	}

	// A client may revoke itself even through a token narrowed to fewer
	// scopes than it holds, but a narrowed token is still held to the rule
	// for deleting itself.
	narrowed := admin.Actor{ID: delegate.ID, Scopes: scope.MustParse("api-keys:write api-keys:delete")}
	err = f.svc.Delete(ctx, narrowed, delegate.ID)
	forbidden(t, "a narrowed token deleting its own client", err)
	if got, err := f.svc.Revoke(ctx, narrowed, delegate.ID); err != nil || got.RevokedAt == nil {
		t.Errorf("a client revoking itself: %v, %v", got, err)
	}
	// Unknown clients are not found, whoever asks.
	if _, err := f.svc.Revoke(ctx, delegate, credential.NewClientID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delegate revoking an unknown client: %v, want store.ErrNotFound", err)
	}
	if err := f.svc.Delete(ctx, delegate, credential.NewClientID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delegate deleting an unknown client: %v, want store.ErrNotFound", err)
	}
}

func TestUnrestrictedActors(t *testing.T) { forEachStore(t, testUnrestrictedActors) }

func testUnrestrictedActors(t *testing.T, f *fixture) {
	ctx := context.Background()
	for _, actor := range []admin.Actor{
		admin.CLI,
		{ID: "master_key", Unrestricted: true, Source: "203.0.113.5", RequestID: "req-m"},
		// Unrestricted wins over whatever scopes the actor lists.
		{ID: "master_key", Unrestricted: true, Scopes: scope.MustParse("mcp:read")},
	} {
		name := fmt.Sprintf("%s %q", actor.ID, actor.Scopes)
		c, err := f.svc.Create(ctx, actor, admin.CreateParams{Name: "star", Scopes: []string{"*"}})
		if err != nil {
			t.Fatalf("%s creating a * client: %v", name, err)
		}
		id := c.Client.ID
		k, err := f.svc.Create(ctx, actor, admin.CreateParams{Name: "key", Type: store.TypeAPIKey, Scopes: []string{"ledgers:write", "mcp:*"}})
		if err != nil {
			t.Fatalf("%s creating an API key: %v", name, err)
		}
		if _, err := f.svc.Update(ctx, actor, k.Client.ID, admin.UpdateParams{Scopes: &[]string{"*", "mcp:write"}}); err != nil {
			t.Errorf("%s updating scopes to *: %v", name, err)
		}
		if _, err := f.svc.Update(ctx, actor, id, admin.UpdateParams{Name: ptrTo("renamed"), ExpiresAt: new(*time.Time)}); err != nil {
			t.Errorf("%s updating a * client: %v", name, err)
		}
		if _, err := f.svc.RollSecret(ctx, actor, id, admin.MaxGracePeriod); err != nil {
			t.Errorf("%s rolling a * client: %v", name, err)
		}
		if _, err := f.svc.RollSecret(ctx, actor, k.Client.ID, 0); err != nil {
			t.Errorf("%s rolling an API key: %v", name, err)
		}
		if _, err := f.svc.Revoke(ctx, actor, id); err != nil {
			t.Errorf("%s revoking: %v", name, err)
		}
		if err := f.svc.Delete(ctx, actor, k.Client.ID); err != nil {
			t.Errorf("%s deleting: %v", name, err)
		}
		evs, _, err := f.svc.Audit(ctx, admin.AuditParams{ClientID: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 4 || evs[0].Actor != actor.ID || evs[0].Source != actor.Source || evs[0].RequestID != actor.RequestID {
			t.Errorf("%s: audit events %+v", name, evs)
		}
	}
}

func TestAuditRecordsActor(t *testing.T) { forEachStore(t, testAuditRecordsActor) }

func testAuditRecordsActor(t *testing.T, f *fixture) {
	ctx := context.Background()
	star := f.create(t, admin.CreateParams{Name: "operator", Scopes: []string{"*"}}).Client
	api := admin.Actor{ID: star.ID, Scopes: star.Scopes, Source: "198.51.100.7:51234", RequestID: "req-7f3a «x»"}
	master := admin.Actor{ID: "master_key", Unrestricted: true, Source: "[2001:db8::1]:443", RequestID: "req-master"}

	type step struct {
		actor  admin.Actor
		action string
		at     time.Time
	}
	var steps []step
	do := func(actor admin.Actor, action string, op func() error) {
		t.Helper()
		f.clock.Add(time.Minute + 1234*time.Nanosecond)
		if err := op(); err != nil {
			t.Fatalf("%s by %s: %v", action, actor.ID, err)
		}
		steps = append(steps, step{actor, action, f.clock.Now().UTC().Truncate(time.Microsecond)})
	}
	var id string
	do(api, store.ActionCreate, func() error {
		c, err := f.svc.Create(ctx, api, admin.CreateParams{Name: "audited", Scopes: []string{"ledgers:read"}})
		if err == nil {
			id = c.Client.ID
		}
		return err
	})
	do(master, store.ActionUpdate, func() error {
		_, err := f.svc.Update(ctx, master, id, admin.UpdateParams{Name: ptrTo("renamed")})
		return err
	})
	do(api, store.ActionRollSecret, func() error { _, err := f.svc.RollSecret(ctx, api, id, time.Hour); return err })
	do(admin.CLI, store.ActionRevoke, func() error { _, err := f.svc.Revoke(ctx, admin.CLI, id); return err })
	do(api, store.ActionRevoke, func() error { _, err := f.svc.Revoke(ctx, api, id); return err })
	// Refused changes are not recorded.
	events := f.auditCount(t)
	_, _ = f.svc.Update(ctx, api, id, admin.UpdateParams{Name: ptrTo("again")})                                                                  // revoked
	_, _ = f.svc.RollSecret(ctx, admin.Actor{ID: "weak", Scopes: scope.MustParse("mcp:read")}, id, 0)                                            // forbidden
	_, _ = f.svc.Create(ctx, admin.Actor{ID: "weak", Scopes: scope.MustParse("mcp:read")}, admin.CreateParams{Name: "x", Scopes: []string{"*"}}) // forbidden
	_, _ = f.svc.Update(ctx, master, id, admin.UpdateParams{Name: ptrTo("")})                                                                    // invalid
	if n := f.auditCount(t); n != events {
		t.Errorf("refused changes wrote %d audit events", n-events)
	}
	do(master, store.ActionDelete, func() error { return f.svc.Delete(ctx, master, id) })

	evs, next, err := f.svc.Audit(ctx, admin.AuditParams{ClientID: id})
	if err != nil {
		t.Fatal(err)
	}
	if next != 0 {
		t.Errorf("next cursor %d on the only page", next)
	}
	if len(evs) != len(steps) {
		t.Fatalf("%d audit events for the client, want %d: %+v", len(evs), len(steps), evs)
	}
	for i, e := range evs {
		s := steps[len(steps)-1-i]
		if e.ClientID != id || e.Action != s.action || e.Actor != s.actor.ID || e.Source != s.actor.Source ||
			e.RequestID != s.actor.RequestID || !e.Time.Equal(s.at) {
			t.Errorf("audit event %d = %+v,\n\twant action %s by %q from %q, request %q, at %v", i, e, s.action, s.actor.ID, s.actor.Source, s.actor.RequestID, s.at)
		}
	}
	if evs[len(evs)-1].Actor != star.ID || evs[2].Actor != "cli" || evs[2].Source != "" || evs[2].RequestID != "" {
		t.Errorf("actor IDs not recorded as given: %+v", evs)
	}
}

func TestAuditPaging(t *testing.T) { forEachStore(t, testAuditPaging) }

func testAuditPaging(t *testing.T, f *fixture) {
	ctx := context.Background()
	const total = 55 // more than DefaultListLimit, a multiple of 11 and 5
	var ids []string
	for range 3 {
		ids = append(ids, f.create(t, admin.CreateParams{}).Client.ID)
	}
	for i := range total - 3 {
		if _, err := f.svc.Update(ctx, admin.CLI, ids[i%3], admin.UpdateParams{Name: ptrTo(fmt.Sprint("name ", i))}); err != nil {
			t.Fatal(err)
		}
	}
	all, next, err := f.svc.Audit(ctx, admin.AuditParams{Limit: admin.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != total || next != 0 {
		t.Fatalf("Audit(limit %d) = %d events, next %d; want %d and 0", admin.MaxListLimit, len(all), next, total)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatalf("audit events not newest first at %d", i)
		}
	}

	// Limits.
	page, next, err := f.svc.Audit(ctx, admin.AuditParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != admin.DefaultListLimit || next != page[len(page)-1].ID {
		t.Errorf("limit 0: %d events, next %d; want %d and a cursor", len(page), next, admin.DefaultListLimit)
	}
	for _, limit := range []int{1, total - 1, total, total + 1, admin.MaxListLimit} {
		page, next, err := f.svc.Audit(ctx, admin.AuditParams{Limit: limit})
		if err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		if len(page) != min(limit, total) || (next != 0) != (limit < total) {
			t.Errorf("limit %d: %d events, next %d", limit, len(page), next)
		}
	}
	for _, limit := range []int{-1, admin.MaxListLimit + 1, 1 << 30} {
		page, next, err := f.svc.Audit(ctx, admin.AuditParams{Limit: limit})
		if page != nil || next != 0 {
			t.Errorf("limit %d returned a page", limit)
		}
		wantField(t, err, "limit")
	}
	for _, before := range []int64{-1, -1 << 62} {
		_, _, err := f.svc.Audit(ctx, admin.AuditParams{BeforeID: before})
		wantField(t, err, "cursor")
	}

	// walk follows the cursor through every page.
	walk := func(clientID string, limit int) []store.AuditEvent {
		t.Helper()
		var out []store.AuditEvent
		var before int64
		for pages := 1; ; pages++ {
			if pages > total+1 {
				t.Fatal("paging does not end")
			}
			page, next, err := f.svc.Audit(ctx, admin.AuditParams{ClientID: clientID, Limit: limit, BeforeID: before})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 || len(page) > limit {
				t.Fatalf("page %d has %d events (limit %d)", pages, len(page), limit)
			}
			out = append(out, page...)
			if next == 0 {
				return out
			}
			if len(page) != limit || next != page[len(page)-1].ID {
				t.Fatalf("page %d: %d events, cursor %d; want %d and the last event's ID", pages, len(page), next, limit)
			}
			before = next
		}
	}
	sameIDs := func(a, b []store.AuditEvent) bool {
		return slices.EqualFunc(a, b, func(x, y store.AuditEvent) bool {
			return x.ID == y.ID && x.ClientID == y.ClientID && x.Action == y.Action
		})
	}
	for _, limit := range []int{1, 4, 11, total - 1, total} {
		if got := walk("", limit); !sameIDs(got, all) {
			t.Errorf("walking by %d listed %d events, want every one of %d once", limit, len(got), len(all))
		}
	}

	// The client_id filter.
	for _, id := range ids {
		var want []store.AuditEvent
		for _, e := range all {
			if e.ClientID == id {
				want = append(want, e)
			}
		}
		if len(want) < 10 {
			t.Fatalf("test data: %d events for a client", len(want))
		}
		if got := walk(id, 4); !sameIDs(got, want) {
			t.Errorf("walking the events of %s: %d events, want %d", id, len(got), len(want))
		}
	}
	page, next, err = f.svc.Audit(ctx, admin.AuditParams{ClientID: credential.NewClientID()})
	if err != nil || len(page) != 0 || next != 0 {
		t.Errorf("Audit(unknown client) = %d events, next %d, %v", len(page), next, err)
	}
	secret := f.create(t, admin.CreateParams{}).Secret
	for _, bad := range []string{"x", "blnk_cid_", ids[0] + "A", ids[0][:len(ids[0])-1], " " + ids[0], "' OR 1=1 --", "%", secret} {
		page, next, err := f.svc.Audit(ctx, admin.AuditParams{ClientID: bad})
		if page != nil || next != 0 {
			t.Errorf("Audit(client_id %q) returned a page", bad)
		}
		wantField(t, err, "client_id")
	}

	// Events outlive their client.
	if err := f.svc.Delete(ctx, admin.CLI, ids[0]); err != nil {
		t.Fatal(err)
	}
	page, _, err = f.svc.Audit(ctx, admin.AuditParams{ClientID: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) == 0 || page[0].Action != store.ActionDelete || page[len(page)-1].Action != store.ActionCreate {
		t.Errorf("events of a deleted client: %+v", page)
	}
}
