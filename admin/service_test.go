package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
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
	st    *postgres.Store
	svc   *admin.Service
	clock *clock
	inv   *recorder
}

func setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	f := &fixture{st: st, clock: &clock{t: time.Now()}, inv: &recorder{}}
	f.svc = &admin.Service{Store: st, Invalidate: f.inv.Invalidate, Now: f.clock.Now}
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

func TestCreateValidation(t *testing.T) {
	f := setup(t)
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

func TestCreateAcceptsBoundaries(t *testing.T) {
	f := setup(t)
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
	ctx := context.Background()
	needles := secretPieces(secret)
	for _, table := range []string{"blnk_auth_clients", "blnk_auth_changes"} {
		rows, err := f.st.Pool().Query(ctx, `SELECT * FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				col := rows.FieldDescriptions()[i].Name
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
		if table == "blnk_auth_clients" && n == 0 {
			t.Fatal("no client rows to scan")
		}
		// The same through PostgreSQL's own text rendering of each row.
		var dump string
		if err := f.st.Pool().QueryRow(ctx, `SELECT coalesce(string_agg(t::text, E'\n'), '') FROM `+table+` t`).Scan(&dump); err != nil {
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
	if err := f.st.Pool().QueryRow(context.Background(), `SELECT secret_hash FROM blnk_auth_clients WHERE client_id = $1`, c.ID).Scan(&rawHash); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(secret)); !bytes.Equal(rawHash, sum[:]) {
		t.Errorf("secret_hash column = %x, want SHA-256 of the secret %x", rawHash, sum)
	}
	assertSecretNotStored(t, f, secret)
}

func TestCreateOAuth(t *testing.T) {
	f := setup(t)
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

func TestCreateAPIKey(t *testing.T) {
	f := setup(t)
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

func TestCreateUniqueCredentials(t *testing.T) {
	f := setup(t)
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

func TestInvalidateOnEveryChange(t *testing.T) {
	f := setup(t)
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

func TestRevokeIdempotent(t *testing.T) {
	f := setup(t)
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

func TestNotFound(t *testing.T) {
	f := setup(t)
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

func TestListLimits(t *testing.T) {
	f := setup(t)
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

func TestListPagination(t *testing.T) {
	f := setup(t)
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

func TestListFilters(t *testing.T) {
	f := setup(t)
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
