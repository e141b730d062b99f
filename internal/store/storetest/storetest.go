// Package storetest is the conformance suite for store.Store. Every
// implementation (PostgreSQL, and any embedded store added later) must pass
// Run. The suite only uses the store.Store interface, so it says nothing about
// how an implementation keeps its data.
//
// Its helpers (Recorder, StartFollow, Eventually, NewClient, CheckClient) are
// exported so implementation-specific tests can reuse them.
package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// Base is the reference instant of the suite: UTC, microsecond precision (the
// precision every store must keep).
var Base = time.Date(2025, time.March, 14, 15, 9, 26, 535897000, time.UTC)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called; it may use t.Cleanup to dispose of what it created. Run
// closes every store it opens when its subtest ends, before open's own
// cleanups run. Subtests run in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateGetRoundTrip", testRoundTrip},
		{"NoAliasing", testNoAliasing},
		{"CreateDuplicate", testDuplicate},
		{"NotFound", testNotFound},
		{"Revoke", testRevoke},
		{"Delete", testDelete},
		{"ListPagination", testPagination},
		{"ListFilters", testFilters},
		{"TouchLastUsed", testTouchLastUsed},
		{"SigningKeys", testSigningKeys},
		{"SigningKeysConcurrent", testSigningKeysConcurrent},
		{"Follow", testFollow},
		{"Update", testUpdate},
		{"UpdateRevoked", testUpdateRevoked},
		{"RollSecret", testRollSecret},
		{"RollSecretRevoked", testRollSecretRevoked},
		{"SecretMatches", testSecretMatches},
		{"MutationRacesRevoke", testMutationRacesRevoke},
		{"Audit", testAuditEvents},
		{"AuditPaging", testAuditPaging},
		{"RevokeToken", testRevokeToken},
		{"TokenRevoked", testTokenRevoked},
		{"Guard", testGuard},
		{"GuardSeesConcurrentChange", testGuardSeesConcurrentChange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(s.Close)
			tc.fn(t, s)
		})
	}
}

// ctx returns a context for store calls that ends with the test, or after a
// minute so that a hung store fails the test rather than the whole binary.
// One context per test, created on first use.
func ctx(t testing.TB) context.Context {
	if c, ok := contexts.Load(t); ok {
		return c.(context.Context)
	}
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	if prev, loaded := contexts.LoadOrStore(t, c); loaded {
		cancel()
		return prev.(context.Context)
	}
	t.Cleanup(func() {
		cancel()
		contexts.Delete(t)
	})
	return c
}

var contexts sync.Map // testing.TB → context.Context

func ptr(t time.Time) *time.Time { return &t }

func hashPtr(h credential.Hash) *credential.Hash { return &h }

// NewClient returns an active client of type typ with a fresh secret and the
// given ID and creation time.
func NewClient(id string, typ store.Type, createdAt time.Time) *store.Client {
	secret := credential.NewSecret()
	return &store.Client{
		ID:         id,
		Name:       "client " + id,
		Type:       typ,
		Scopes:     scope.MustParse("ledgers:read transactions:write"),
		SecretHash: credential.HashOf(secret),
		SecretHint: credential.Hint(secret),
		CreatedAt:  createdAt,
	}
}

// diffClient lists how got differs from want; times are compared with Equal.
func diffClient(got, want *store.Client) []string {
	var d []string
	if got == nil {
		return []string{"client is nil"}
	}
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID = %q, want %q", got.ID, want.ID))
	}
	if got.Name != want.Name {
		d = append(d, fmt.Sprintf("Name = %q, want %q", got.Name, want.Name))
	}
	if got.Type != want.Type {
		d = append(d, fmt.Sprintf("Type = %q, want %q", got.Type, want.Type))
	}
	if !slices.Equal(got.Scopes.List(), want.Scopes.List()) || got.Scopes.String() != want.Scopes.String() {
		d = append(d, fmt.Sprintf("Scopes = %q, want %q", got.Scopes.List(), want.Scopes.List()))
	}
	if got.SecretHash != want.SecretHash {
		d = append(d, fmt.Sprintf("SecretHash = %x, want %x", got.SecretHash, want.SecretHash))
	}
	if got.SecretHint != want.SecretHint {
		d = append(d, fmt.Sprintf("SecretHint = %q, want %q", got.SecretHint, want.SecretHint))
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		d = append(d, fmt.Sprintf("CreatedAt = %v, want %v", got.CreatedAt, want.CreatedAt))
	}
	for _, f := range []struct {
		name      string
		got, want *time.Time
	}{
		{"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
		{"RevokedAt", got.RevokedAt, want.RevokedAt},
		{"LastUsedAt", got.LastUsedAt, want.LastUsedAt},
		{"PreviousSecretExpiresAt", got.PreviousSecretExpiresAt, want.PreviousSecretExpiresAt},
	} {
		if !sameTime(f.got, f.want) {
			d = append(d, fmt.Sprintf("%s = %s, want %s", f.name, fmtTime(f.got), fmtTime(f.want)))
		}
	}
	if !sameHash(got.PreviousSecretHash, want.PreviousSecretHash) {
		d = append(d, fmt.Sprintf("PreviousSecretHash = %s, want %s", fmtHash(got.PreviousSecretHash), fmtHash(want.PreviousSecretHash)))
	}
	return d
}

func sameHash(a, b *credential.Hash) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func fmtHash(h *credential.Hash) string {
	if h == nil {
		return "nil"
	}
	return fmt.Sprintf("%x", *h)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func fmtTime(p *time.Time) string {
	if p == nil {
		return "nil"
	}
	return p.UTC().Format(time.RFC3339Nano)
}

// CheckClient fails the test unless got has every field of want.
func CheckClient(t testing.TB, got, want *store.Client) {
	t.Helper()
	if d := diffClient(got, want); len(d) > 0 {
		t.Errorf("client %s:\n\t%s", want.ID, strings.Join(d, "\n\t"))
	}
}

func mustCreate(t testing.TB, s store.Store, cs ...*store.Client) {
	t.Helper()
	for _, c := range cs {
		if err := s.CreateClient(ctx(t), c, testAudit); err != nil {
			t.Fatalf("CreateClient(%s): %v", c.ID, err)
		}
	}
}

func mustGet(t testing.TB, s store.Store, id string) *store.Client {
	t.Helper()
	c, err := s.GetClient(ctx(t), id)
	if err != nil {
		t.Fatalf("GetClient(%s): %v", id, err)
	}
	return c
}

func testRoundTrip(t *testing.T, s store.Store) {
	// Every field set, with values that are easy to mangle: Unicode and
	// quotes, a maximal scope token, wildcards, sub-second times.
	secret := credential.NewSecret()
	long := strings.Repeat("x", scope.MaxLength-len(":read")) + ":read"
	full := &store.Client{
		ID:         credential.NewClientID(),
		Name:       `Zahlungs-Client «prod» 💳 'single' "double" \back`,
		Type:       store.TypeOAuth,
		Scopes:     scope.MustParse("ledgers:read ledgers:write mcp:* *:read " + long + " balances:*"),
		SecretHash: credential.HashOf(secret),
		SecretHint: credential.Hint(secret),
		CreatedAt:  Base,
		ExpiresAt:  ptr(Base.Add(90 * 24 * time.Hour).Add(123 * time.Microsecond)),
		RevokedAt:  ptr(Base.Add(time.Hour + 999999*time.Microsecond)),
		LastUsedAt: ptr(Base.Add(30*time.Minute + time.Microsecond)),
		// A secret being rolled: the previous one still accepted for a while.
		PreviousSecretHash:      hashPtr(credential.HashOf(credential.NewSecret())),
		PreviousSecretExpiresAt: ptr(Base.Add(2*time.Hour + 3*time.Microsecond)),
	}
	// The least a client can have: no scopes, no name, no hint, no optional time.
	minimal := &store.Client{
		ID:        credential.NewClientID(),
		Type:      store.TypeAPIKey,
		CreatedAt: Base.Add(-time.Microsecond),
	}
	key, err := credential.NewAPIKey(minimal.ID)
	if err != nil {
		t.Fatal(err)
	}
	minimal.SecretHash = credential.HashOf(key)
	// Far from the reference instant, and at a whole second.
	old := NewClient(credential.NewClientID(), store.TypeOAuth, time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC))
	old.ExpiresAt = ptr(time.Date(2199, 1, 1, 0, 0, 0, 1000, time.UTC))

	mustCreate(t, s, full, minimal, old)
	for _, want := range []*store.Client{full, minimal, old} {
		got := mustGet(t, s, want.ID)
		CheckClient(t, got, want)
	}
	if got := mustGet(t, s, full.ID); got.Status(Base) != store.StatusRevoked {
		t.Errorf("status of a client created revoked = %q, want revoked", got.Status(Base))
	}
	// Listing returns the same fields as GetClient.
	list, err := s.ListClients(ctx(t), store.ListFilter{Limit: 10}, Base)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("ListClients returned %d clients, want 3", len(list))
	}
	for i, want := range []*store.Client{full, minimal, old} {
		CheckClient(t, list[i], want)
	}
}

func testNoAliasing(t *testing.T, s store.Store) {
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	c.ExpiresAt = ptr(Base.Add(time.Hour))
	want := *c
	want.ExpiresAt = ptr(*c.ExpiresAt)
	mustCreate(t, s, c)
	// Changing the caller's value after CreateClient must not change the store.
	c.Name = "changed"
	*c.ExpiresAt = Base.Add(-time.Hour)
	c.SecretHash[0] ^= 0xff
	got := mustGet(t, s, want.ID)
	CheckClient(t, got, &want)
	// Nor must changing what GetClient returned.
	got.Name = "changed too"
	*got.ExpiresAt = Base.Add(-2 * time.Hour)
	got.SecretHash[1] ^= 0xff
	CheckClient(t, mustGet(t, s, want.ID), &want)
}

func testDuplicate(t *testing.T, s store.Store) {
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	mustCreate(t, s, c)
	dup := NewClient(c.ID, store.TypeAPIKey, Base.Add(time.Hour))
	dup.Name = "impostor"
	if err := s.CreateClient(ctx(t), dup, testAudit); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateClient with a taken ID: err = %v, want ErrExists", err)
	}
	// The original is untouched and still the only one.
	CheckClient(t, mustGet(t, s, c.ID), c)
	list, err := s.ListClients(ctx(t), store.ListFilter{Limit: 10}, Base)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("after a rejected duplicate, ListClients returned %d clients, want 1", len(list))
	}
	// The store still works after the failed insert.
	other := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	mustCreate(t, s, other)
	CheckClient(t, mustGet(t, s, other.ID), other)
}

func testNotFound(t *testing.T, s store.Store) {
	mustCreate(t, s, NewClient(credential.NewClientID(), store.TypeOAuth, Base))
	unknown := credential.NewClientID()
	if _, err := s.GetClient(ctx(t), unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient(unknown): err = %v, want ErrNotFound", err)
	}
	if _, err := s.RevokeClient(ctx(t), unknown, Base, testAudit, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeClient(unknown): err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteClient(ctx(t), unknown, testAudit, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteClient(unknown): err = %v, want ErrNotFound", err)
	}
	// A failed revoke must not have created anything.
	if _, err := s.GetClient(ctx(t), unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient(unknown) after RevokeClient(unknown): err = %v, want ErrNotFound", err)
	}
}

func testRevoke(t *testing.T, s store.Store) {
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	c.ExpiresAt = ptr(Base.Add(24 * time.Hour))
	c.LastUsedAt = ptr(Base.Add(time.Minute))
	bystander := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	mustCreate(t, s, c, bystander)
	now := Base.Add(time.Hour)
	if got := mustGet(t, s, c.ID).Status(now); got != store.StatusActive {
		t.Fatalf("status before revoking = %q, want active", got)
	}

	first := Base.Add(time.Hour + 7*time.Microsecond)
	want := *c
	want.RevokedAt = ptr(first)
	got, err := s.RevokeClient(ctx(t), c.ID, first, testAudit, nil)
	if err != nil {
		t.Fatalf("RevokeClient: %v", err)
	}
	CheckClient(t, got, &want)
	if st := got.Status(now); st != store.StatusRevoked {
		t.Errorf("status returned by RevokeClient = %q, want revoked", st)
	}
	CheckClient(t, mustGet(t, s, c.ID), &want)

	// Revoking again keeps the first revocation time, later or earlier.
	for _, at := range []time.Time{first.Add(time.Hour), first.Add(-time.Minute)} {
		got, err = s.RevokeClient(ctx(t), c.ID, at, testAudit, nil)
		if err != nil {
			t.Fatalf("second RevokeClient: %v", err)
		}
		CheckClient(t, got, &want)
		CheckClient(t, mustGet(t, s, c.ID), &want)
	}
	if st := mustGet(t, s, c.ID).Status(now); st != store.StatusRevoked {
		t.Errorf("status after revoking = %q, want revoked", st)
	}
	// Revocation wins over expiry.
	if st := mustGet(t, s, c.ID).Status(Base.Add(48 * time.Hour)); st != store.StatusRevoked {
		t.Errorf("status after revoking and expiring = %q, want revoked", st)
	}
	// Only the revoked client is revoked.
	CheckClient(t, mustGet(t, s, bystander.ID), bystander)
	ids := listIDs(t, s, store.ListFilter{Status: store.StatusRevoked, Limit: 10}, now)
	if !slices.Equal(ids, []string{c.ID}) {
		t.Errorf("revoked clients = %q, want [%s]", ids, c.ID)
	}
	ids = listIDs(t, s, store.ListFilter{Status: store.StatusActive, Limit: 10}, now)
	if !slices.Equal(ids, []string{bystander.ID}) {
		t.Errorf("active clients = %q, want [%s]", ids, bystander.ID)
	}
}

func testDelete(t *testing.T, s store.Store) {
	a := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	b := NewClient(credential.NewClientID(), store.TypeAPIKey, Base.Add(time.Second))
	revoked := NewClient(credential.NewClientID(), store.TypeOAuth, Base.Add(2*time.Second))
	revoked.RevokedAt = ptr(Base)
	mustCreate(t, s, a, b, revoked)
	for _, id := range []string{a.ID, revoked.ID} {
		if err := s.DeleteClient(ctx(t), id, testAudit, nil); err != nil {
			t.Fatalf("DeleteClient(%s): %v", id, err)
		}
		if _, err := s.GetClient(ctx(t), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetClient after DeleteClient: err = %v, want ErrNotFound", err)
		}
		if err := s.DeleteClient(ctx(t), id, testAudit, nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteClient: err = %v, want ErrNotFound", err)
		}
		if _, err := s.RevokeClient(ctx(t), id, Base, testAudit, nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeClient after DeleteClient: err = %v, want ErrNotFound", err)
		}
	}
	for _, st := range []store.Status{"", store.StatusActive, store.StatusRevoked, store.StatusExpired} {
		ids := listIDs(t, s, store.ListFilter{Status: st, Limit: 10}, Base)
		want := []string{}
		if st == "" || st == store.StatusActive {
			want = []string{b.ID}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("ListClients(status %q) after deleting = %q, want %q", st, ids, want)
		}
	}
	CheckClient(t, mustGet(t, s, b.ID), b)
	// The ID can be used again.
	again := NewClient(a.ID, store.TypeAPIKey, Base.Add(time.Hour))
	mustCreate(t, s, again)
	CheckClient(t, mustGet(t, s, a.ID), again)
}

func listIDs(t testing.TB, s store.Store, f store.ListFilter, now time.Time) []string {
	t.Helper()
	cs, err := s.ListClients(ctx(t), f, now)
	if err != nil {
		t.Fatalf("ListClients(%+v): %v", f, err)
	}
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// newestFirst orders clients as ListClients must: by created_at, then
// client_id, both descending.
func newestFirst(a, b *store.Client) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// pageAll lists every client matching f, f.Limit at a time, following the
// cursor. It checks each page's size and calls onPage (if not nil) after
// each page.
func pageAll(t testing.TB, s store.Store, f store.ListFilter, now time.Time, onPage func(n int)) []*store.Client {
	t.Helper()
	var all []*store.Client
	for n := 0; ; n++ {
		if n > 100000 {
			t.Fatalf("pagination does not end")
		}
		page, err := s.ListClients(ctx(t), f, now)
		if err != nil {
			t.Fatalf("ListClients(page %d, %+v): %v", n, f, err)
		}
		if len(page) > f.Limit {
			t.Fatalf("page %d has %d clients, more than the limit %d", n, len(page), f.Limit)
		}
		all = append(all, page...)
		if onPage != nil {
			onPage(n)
		}
		if len(page) < f.Limit {
			return all
		}
		last := page[len(page)-1]
		f.After = &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

func clientIDs(cs []*store.Client) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// createAll creates cs with a few concurrent writers, in the order given.
func createAll(t testing.TB, s store.Store, cs []*store.Client) {
	t.Helper()
	const workers = 4
	next := make(chan *store.Client)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	c := ctx(t)
	for range workers {
		wg.Go(func() {
			for cl := range next {
				if err := s.CreateClient(c, cl, testAudit); err != nil {
					errs <- fmt.Errorf("CreateClient(%s): %w", cl.ID, err)
					for range next { // drain
					}
					return
				}
			}
		})
	}
	for _, cl := range cs {
		next <- cl
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testPagination(t *testing.T, s store.Store) {
	const n = 1200
	now := Base.Add(48 * time.Hour)
	rng := rand.New(rand.NewPCG(1, 2))
	perm := rng.Perm(n) // IDs uncorrelated with creation times
	clients := make([]*store.Client, n)
	for i := range n {
		var at time.Time
		switch {
		case i < 600: // groups of three sharing a creation time
			at = Base.Add(time.Duration(i/3) * time.Second)
		case i < 650: // fifty sharing one
			at = Base.Add(-time.Hour)
		default:
			at = Base.Add(time.Duration(i)*time.Second + time.Duration(rng.IntN(1e6))*time.Microsecond)
		}
		typ := store.TypeOAuth
		if i%3 == 0 {
			typ = store.TypeAPIKey
		}
		// Same prefix and fixed-width digits: byte order and any collation agree.
		c := NewClient(fmt.Sprintf("blnk_cid_pg%05d", perm[i]), typ, at)
		switch {
		case i%7 == 0:
			c.RevokedAt = ptr(Base.Add(time.Hour))
		case i%5 == 0:
			c.ExpiresAt = ptr(Base.Add(time.Hour)) // expired at now
		case i%4 == 0:
			c.ExpiresAt = ptr(now.Add(time.Hour)) // still active at now
		}
		clients[i] = c
	}
	// Insert in an order unrelated to the listing order.
	shuffled := slices.Clone(clients)
	rng.Shuffle(n, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	createAll(t, s, shuffled)

	want := slices.Clone(clients)
	slices.SortFunc(want, newestFirst)
	byID := make(map[string]*store.Client, n)
	for _, c := range clients {
		byID[c.ID] = c
	}

	check := func(t *testing.T, got, want []*store.Client) {
		t.Helper()
		gotIDs, wantIDs := clientIDs(got), clientIDs(want)
		if !slices.Equal(gotIDs, wantIDs) {
			seen := map[string]int{}
			for _, id := range gotIDs {
				seen[id]++
			}
			var dups, missing []string
			for id, k := range seen {
				if k > 1 {
					dups = append(dups, id)
				}
			}
			for _, id := range wantIDs {
				if seen[id] == 0 {
					missing = append(missing, id)
				}
			}
			first := 0
			for first < min(len(gotIDs), len(wantIDs)) && gotIDs[first] == wantIDs[first] {
				first++
			}
			t.Fatalf("listed %d clients, want %d; %d duplicated (%.5q), %d missing (%.5q); first difference at position %d",
				len(gotIDs), len(wantIDs), len(dups), dups, len(missing), missing, first)
		}
		for i := range got {
			if d := diffClient(got[i], want[i]); len(d) > 0 {
				t.Fatalf("listed client %s:\n\t%s", want[i].ID, strings.Join(d, "\n\t"))
			}
		}
	}

	for _, limit := range []int{7, 500, 5000} {
		t.Run(fmt.Sprintf("Limit%d", limit), func(t *testing.T) {
			check(t, pageAll(t, s, store.ListFilter{Limit: limit}, now, nil), want)
		})
	}
	t.Run("Filtered", func(t *testing.T) {
		for _, f := range []store.ListFilter{
			{Limit: 7, Type: store.TypeAPIKey},
			{Limit: 7, Status: store.StatusActive},
			{Limit: 7, Status: store.StatusRevoked},
			{Limit: 7, Status: store.StatusExpired},
			{Limit: 7, Status: store.StatusActive, Type: store.TypeOAuth},
		} {
			var fw []*store.Client
			for _, c := range want {
				if (f.Type == "" || c.Type == f.Type) && (f.Status == "" || c.Status(now) == f.Status) {
					fw = append(fw, c)
				}
			}
			if len(fw) < 3*f.Limit {
				t.Fatalf("filter %+v selects only %d clients: the test data is too thin", f, len(fw))
			}
			check(t, pageAll(t, s, f, now, nil), fw)
		}
	})

	// Cursor pagination stays exact while another goroutine keeps creating
	// clients, some older than the cursor, some newer, some sharing a
	// creation time with an existing client. Those may or may not be listed;
	// no existing client may be skipped or listed twice.
	t.Run("WhileCreating", func(t *testing.T) {
		var (
			mu      sync.Mutex
			extra   = map[string]bool{}
			created atomic.Int64
			stop    = make(chan struct{})
			done    = make(chan error, 1)
		)
		c := ctx(t)
		go func() {
			r := rand.New(rand.NewPCG(3, 4))
			for i := 0; ; i++ {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				var at time.Time
				switch i % 3 {
				case 0: // the creation time of an existing client
					at = clients[r.IntN(n)].CreatedAt
				case 1: // anywhere in the listed range
					at = Base.Add(-2*time.Hour + time.Duration(r.Int64N(int64(n)*int64(time.Second)+2*int64(time.Hour))))
					at = at.Truncate(time.Microsecond)
				default: // newer than everything
					at = Base.Add(time.Duration(n)*time.Second + time.Duration(i)*time.Microsecond)
				}
				cl := NewClient(fmt.Sprintf("blnk_cid_cc%05d", i), store.TypeOAuth, at)
				mu.Lock()
				extra[cl.ID] = true
				mu.Unlock()
				if err := s.CreateClient(c, cl, testAudit); err != nil {
					done <- fmt.Errorf("concurrent CreateClient(%s): %w", cl.ID, err)
					return
				}
				created.Add(1)
			}
		}()
		stopped := false
		stopCreating := func() error {
			if stopped {
				return nil
			}
			stopped = true
			close(stop)
			return <-done
		}
		defer stopCreating()
		Eventually(t, 10*time.Second, func() bool { return created.Load() >= 5 }, "the concurrent writer created nothing")
		atStart := created.Load()
		got := pageAll(t, s, store.ListFilter{Limit: 7}, now, func(page int) {
			// Make sure creations interleave with the pages, whatever the scheduler does.
			if page == 20 || page == 80 {
				target := created.Load() + 5
				Eventually(t, 10*time.Second, func() bool { return created.Load() >= target }, "the concurrent writer stalled")
			}
		})
		if err := stopCreating(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d clients created while paging, %d listed among %d", created.Load()-atStart, len(got)-n, len(got))

		seen := map[string]bool{}
		for i, c := range got {
			if seen[c.ID] {
				t.Fatalf("client %s listed twice", c.ID)
			}
			seen[c.ID] = true
			if i > 0 && newestFirst(got[i-1], c) >= 0 {
				t.Fatalf("listing out of order at %d: (%v, %s) then (%v, %s)", i, got[i-1].CreatedAt, got[i-1].ID, c.CreatedAt, c.ID)
			}
			if want, ok := byID[c.ID]; ok {
				CheckClient(t, c, want)
			} else if !extra[c.ID] {
				t.Fatalf("unexpected client %s listed", c.ID)
			}
		}
		for _, c := range clients {
			if !seen[c.ID] {
				t.Errorf("client %s (created %v) was skipped", c.ID, c.CreatedAt)
			}
		}
	})
}

func testFilters(t *testing.T, s store.Store) {
	now := Base.Add(24 * time.Hour)
	mk := func(name string, typ store.Type, expires, revoked *time.Time) *store.Client {
		c := NewClient(credential.NewClientID(), typ, Base.Add(time.Duration(len(name))*time.Second))
		c.Name = name
		c.ExpiresAt, c.RevokedAt = expires, revoked
		return c
	}
	cs := []*store.Client{
		mk("active, never expires", store.TypeOAuth, nil, nil),
		mk("active api key, expires later", store.TypeAPIKey, ptr(now.Add(time.Hour)), nil),
		mk("active, expires a microsecond later", store.TypeOAuth, ptr(now.Add(time.Microsecond)), nil),
		mk("expired", store.TypeOAuth, ptr(now.Add(-time.Hour)), nil),
		mk("expired api key", store.TypeAPIKey, ptr(now.Add(-time.Minute)), nil),
		mk("expired exactly now", store.TypeAPIKey, ptr(now), nil),
		mk("revoked", store.TypeOAuth, nil, ptr(Base)),
		mk("revoked api key revoked in the future", store.TypeAPIKey, nil, ptr(now.Add(time.Hour))),
		mk("revoked and expired", store.TypeOAuth, ptr(now.Add(-time.Hour)), ptr(Base)),
		mk("revoked and expired api key", store.TypeAPIKey, ptr(Base), ptr(now.Add(-time.Hour))),
	}
	toRevoke := mk("revoked through RevokeClient, then expired", store.TypeAPIKey, ptr(now.Add(-time.Second)), nil)
	cs = append(cs, toRevoke)
	mustCreate(t, s, cs...)
	if _, err := s.RevokeClient(ctx(t), toRevoke.ID, Base.Add(time.Hour), testAudit, nil); err != nil {
		t.Fatal(err)
	}
	toRevoke.RevokedAt = ptr(Base.Add(time.Hour))

	// Sanity check of the expectations themselves.
	count := map[store.Status]int{}
	for _, c := range cs {
		count[c.Status(now)]++
	}
	if count[store.StatusActive] != 3 || count[store.StatusExpired] != 3 || count[store.StatusRevoked] != 5 {
		t.Fatalf("test data: statuses %v", count)
	}

	for _, at := range []time.Time{now, now.Add(2 * time.Hour), Base.Add(-time.Hour)} {
		for _, st := range []store.Status{"", store.StatusActive, store.StatusRevoked, store.StatusExpired} {
			for _, typ := range []store.Type{"", store.TypeOAuth, store.TypeAPIKey} {
				var want []*store.Client
				for _, c := range cs {
					if (st == "" || c.Status(at) == st) && (typ == "" || c.Type == typ) {
						want = append(want, c)
					}
				}
				slices.SortFunc(want, newestFirst)
				got, err := s.ListClients(ctx(t), store.ListFilter{Status: st, Type: typ, Limit: 100}, at)
				if err != nil {
					t.Fatalf("ListClients: %v", err)
				}
				if !slices.Equal(clientIDs(got), clientIDs(want)) {
					names := func(cs []*store.Client) []string {
						out := []string{}
						for _, c := range cs {
							out = append(out, c.Name)
						}
						return out
					}
					t.Errorf("ListClients(status %q, type %q, now %v):\n\tgot  %q\n\twant %q", st, typ, at, names(got), names(want))
					continue
				}
				for i := range got {
					CheckClient(t, got[i], want[i])
				}
			}
		}
	}
	// The limit applies after filtering.
	got, err := s.ListClients(ctx(t), store.ListFilter{Status: store.StatusRevoked, Limit: 2}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("ListClients(revoked, limit 2) returned %d clients, want 2", len(got))
	}
	for _, c := range got {
		if c.Status(now) != store.StatusRevoked {
			t.Errorf("ListClients(revoked) returned %q, which is %s", c.Name, c.Status(now))
		}
	}
}

func testTouchLastUsed(t *testing.T, s store.Store) {
	fresh := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	used := NewClient(credential.NewClientID(), store.TypeAPIKey, Base)
	used.LastUsedAt = ptr(Base.Add(5 * time.Hour))
	revoked := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	revoked.RevokedAt = ptr(Base.Add(time.Hour))
	revoked.ExpiresAt = ptr(Base.Add(2 * time.Hour))
	untouched := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	deleted := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	mustCreate(t, s, fresh, used, revoked, untouched, deleted)
	if err := s.DeleteClient(ctx(t), deleted.ID, testAudit, nil); err != nil {
		t.Fatal(err)
	}

	touch := func(m map[string]time.Time) {
		t.Helper()
		if err := s.TouchLastUsed(ctx(t), m); err != nil {
			t.Fatalf("TouchLastUsed: %v", err)
		}
	}
	expect := func() {
		t.Helper()
		for _, c := range []*store.Client{fresh, used, revoked, untouched} {
			CheckClient(t, mustGet(t, s, c.ID), c)
		}
	}
	touch(nil)
	touch(map[string]time.Time{})
	expect()

	// A batch may name clients deleted (or never created) since: no error.
	touch(map[string]time.Time{
		fresh.ID:                 Base.Add(3 * time.Hour),
		used.ID:                  Base.Add(4 * time.Hour), // earlier than stored: ignored
		revoked.ID:               Base.Add(3*time.Hour + time.Microsecond),
		deleted.ID:               Base.Add(time.Hour),
		credential.NewClientID(): Base.Add(time.Hour),
	})
	fresh.LastUsedAt = ptr(Base.Add(3 * time.Hour))
	revoked.LastUsedAt = ptr(Base.Add(3*time.Hour + time.Microsecond))
	expect()
	if _, err := s.GetClient(ctx(t), deleted.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchLastUsed brought back a deleted client: err = %v", err)
	}

	touch(map[string]time.Time{fresh.ID: Base.Add(6 * time.Hour), used.ID: Base.Add(5*time.Hour + time.Microsecond)})
	fresh.LastUsedAt = ptr(Base.Add(6 * time.Hour))
	used.LastUsedAt = ptr(Base.Add(5*time.Hour + time.Microsecond))
	expect()

	// Never backwards, not even to the same time minus a microsecond.
	touch(map[string]time.Time{fresh.ID: Base.Add(2 * time.Hour), used.ID: Base.Add(5 * time.Hour)})
	touch(map[string]time.Time{fresh.ID: Base.Add(6*time.Hour - time.Microsecond)})
	touch(map[string]time.Time{fresh.ID: Base.Add(6 * time.Hour)})
	expect()

	// A large batch, in one call.
	many := make([]*store.Client, 300)
	batch := map[string]time.Time{}
	for i := range many {
		many[i] = NewClient(credential.NewClientID(), store.TypeOAuth, Base)
		batch[many[i].ID] = Base.Add(time.Duration(i) * time.Second)
	}
	createAll(t, s, many)
	touch(batch)
	list, err := s.ListClients(ctx(t), store.ListFilter{Limit: 1000}, Base)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if want, ok := batch[c.ID]; ok && (c.LastUsedAt == nil || !c.LastUsedAt.Equal(want)) {
			t.Errorf("client %s: LastUsedAt = %s, want %s", c.ID, fmtTime(c.LastUsedAt), want)
		}
	}
}

func checkKey(t testing.TB, got, want store.SigningKey) {
	t.Helper()
	if got.KID != want.KID || got.Algorithm != want.Algorithm || string(got.Sealed) != string(want.Sealed) || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("signing key = {%s %s %x %v}, want {%s %s %x %v}",
			got.KID, got.Algorithm, got.Sealed, got.CreatedAt, want.KID, want.Algorithm, want.Sealed, want.CreatedAt)
	}
}

func checkKeys(t testing.TB, s store.Store, want ...store.SigningKey) {
	t.Helper()
	got, err := s.SigningKeys(ctx(t))
	if err != nil {
		t.Fatalf("SigningKeys: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("SigningKeys returned %d keys, want %d", len(got), len(want))
	}
	for i := range want {
		checkKey(t, got[i], want[i])
	}
}

func sealed(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func testSigningKeys(t *testing.T, s store.Store) {
	checkKeys(t, s)
	first := store.SigningKey{KID: "kid-es-1", Algorithm: "ES256", Sealed: sealed(120), CreatedAt: Base}
	got, err := s.EnsureSigningKey(ctx(t), first)
	if err != nil {
		t.Fatalf("EnsureSigningKey: %v", err)
	}
	checkKey(t, got, first)
	checkKeys(t, s, first)

	// Another instance starting with its own key of the same algorithm gets
	// the first one, even when its key is newer.
	second := store.SigningKey{KID: "kid-es-2", Algorithm: "ES256", Sealed: []byte{0, 1, 2}, CreatedAt: Base.Add(time.Hour)}
	got, err = s.EnsureSigningKey(ctx(t), second)
	if err != nil {
		t.Fatalf("second EnsureSigningKey: %v", err)
	}
	checkKey(t, got, first)
	checkKeys(t, s, first)

	// A key of another algorithm is added.
	ed := store.SigningKey{KID: "kid-ed-1", Algorithm: "EdDSA", Sealed: sealed(64), CreatedAt: Base.Add(2 * time.Minute)}
	got, err = s.EnsureSigningKey(ctx(t), ed)
	if err != nil {
		t.Fatalf("EnsureSigningKey(EdDSA): %v", err)
	}
	checkKey(t, got, ed)
	checkKeys(t, s, ed, first) // newest first

	got, err = s.EnsureSigningKey(ctx(t), first)
	if err != nil {
		t.Fatalf("EnsureSigningKey(first again): %v", err)
	}
	checkKey(t, got, first)
	checkKeys(t, s, ed, first)
}

func testSigningKeysConcurrent(t *testing.T, s store.Store) {
	// Instances starting together agree on one key: several rounds, each a
	// race of n callers to create the first key of a new algorithm.
	const rounds, n = 10, 8
	var want []store.SigningKey
	for round := range rounds {
		alg := fmt.Sprintf("ALG%02d", round)
		got := make([]store.SigningKey, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				got[i], errs[i] = s.EnsureSigningKey(ctx(t), store.SigningKey{
					KID:       fmt.Sprintf("kid-%s-%d", alg, i),
					Algorithm: alg,
					Sealed:    []byte{byte(round), byte(i)},
					CreatedAt: Base.Add(time.Duration(round)*time.Hour + time.Duration(i)*time.Second),
				})
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("EnsureSigningKey %s/%d: %v", alg, i, errs[i])
			}
			if got[i].KID != got[0].KID {
				t.Fatalf("concurrent EnsureSigningKey(%s) returned different keys: %s and %s", alg, got[0].KID, got[i].KID)
			}
			checkKey(t, got[i], got[0])
		}
		want = append([]store.SigningKey{got[0]}, want...) // newest first
	}
	checkKeys(t, s, want...)
}

// Event is one call a Recorder received.
type Event struct {
	Kind   string // "changed", "synced" or "reset"
	Change store.Change
	Synced bool
}

func (e Event) String() string {
	switch e.Kind {
	case "changed":
		return fmt.Sprintf("Changed(%d %s)", e.Change.ID, e.Change.ClientID)
	case "synced":
		return fmt.Sprintf("Synced(%t)", e.Synced)
	}
	return "Reset()"
}

// Recorder is a store.Watcher that records every call, in order.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

var _ store.Watcher = (*Recorder)(nil)

func (r *Recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Changed implements store.Watcher.
func (r *Recorder) Changed(c store.Change) { r.add(Event{Kind: "changed", Change: c}) }

// Synced implements store.Watcher.
func (r *Recorder) Synced(b bool) { r.add(Event{Kind: "synced", Synced: b}) }

// Reset implements store.Watcher.
func (r *Recorder) Reset() { r.add(Event{Kind: "reset"}) }

// Events returns a copy of the events from index from on.
func (r *Recorder) Events(from int) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if from > len(r.events) {
		return nil
	}
	return slices.Clone(r.events[from:])
}

// Since formats, when printed, the events from index from on as they are at
// that time: use it in the message of Eventually, whose arguments are
// evaluated before it polls.
func (r *Recorder) Since(from int) fmt.Stringer {
	return lazy(func() string { return fmt.Sprint(r.Events(from)) })
}

type lazy func() string

func (l lazy) String() string { return l() }

// Mark returns the number of events so far, for use with Events.
func (r *Recorder) Mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// IsSynced reports the last Synced value received (false if none).
func (r *Recorder) IsSynced() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Kind == "synced" {
			return r.events[i].Synced
		}
	}
	return false
}

// ChangesFor returns the changes for clientID received from event index from on.
func (r *Recorder) ChangesFor(clientID string, from int) []store.Change {
	var out []store.Change
	for _, e := range r.Events(from) {
		if e.Kind == "changed" && e.Change.ClientID == clientID {
			out = append(out, e.Change)
		}
	}
	return out
}

// Eventually polls cond every few milliseconds and fails the test if it is
// not true within timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// StartFollow runs s.Follow with a new Recorder and waits until it reports
// Synced(true). stop cancels Follow and fails the test unless Follow returns
// within 5 seconds; it runs at cleanup if not called before.
func StartFollow(t testing.TB, s store.Store) (r *Recorder, stop func()) {
	t.Helper()
	r = &Recorder{}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Follow(c, r) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("Follow returned %v after its context was cancelled", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("Follow did not return within 5s of its context being cancelled")
			}
		})
	}
	t.Cleanup(stop)
	Eventually(t, 15*time.Second, r.IsSynced, "Follow never reported Synced(true); events: %v", r.Since(0))
	return r, stop
}

// WaitChange waits up to timeout for a change of clientID at or after event index from.
func WaitChange(t testing.TB, r *Recorder, clientID string, from int, timeout time.Duration, what string) store.Change {
	t.Helper()
	Eventually(t, timeout, func() bool { return len(r.ChangesFor(clientID, from)) > 0 },
		"no Changed for %s (%s); events since: %v", clientID, what, r.Since(from))
	return r.ChangesFor(clientID, from)[0]
}

func testFollow(t *testing.T, s store.Store) {
	// A client created before Follow starts: changing it later is reported
	// like any other change.
	before := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	mustCreate(t, s, before)

	r1, stop1 := StartFollow(t, s)
	r2, stop2 := StartFollow(t, s) // two followers of one store both see everything
	defer stop2()

	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	k := NewClient(credential.NewClientID(), store.TypeAPIKey, Base)
	var lastID int64
	step := func(what, id string, op func() error) {
		t.Helper()
		m1, m2 := r1.Mark(), r2.Mark()
		if err := op(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		ch := WaitChange(t, r1, id, m1, time.Second, what)
		WaitChange(t, r2, id, m2, time.Second, what)
		if ch.ID <= lastID {
			t.Errorf("%s: change ID %d not above the previous %d", what, ch.ID, lastID)
		}
		lastID = ch.ID
	}
	step("create", c.ID, func() error { return s.CreateClient(ctx(t), c, testAudit) })
	step("create api key", k.ID, func() error { return s.CreateClient(ctx(t), k, testAudit) })
	step("update", c.ID, func() error {
		name := "renamed"
		_, err := s.UpdateClient(ctx(t), c.ID, store.ClientUpdate{Name: &name}, testAudit, nil)
		return err
	})
	step("roll secret", c.ID, func() error {
		_, err := s.RollSecret(ctx(t), c.ID, store.SecretRoll{Hash: credential.HashOf(credential.NewSecret()), Hint: "hint", PreviousValidUntil: ptr(Base)}, testAudit, nil)
		return err
	})
	step("roll api key without grace", k.ID, func() error {
		_, err := s.RollSecret(ctx(t), k.ID, store.SecretRoll{Hash: credential.HashOf(credential.NewSecret()), Hint: "hint"}, testAudit, nil)
		return err
	})
	step("update expiry", k.ID, func() error {
		never := (*time.Time)(nil)
		_, err := s.UpdateClient(ctx(t), k.ID, store.ClientUpdate{ExpiresAt: &never}, testAudit, nil)
		return err
	})
	step("revoke", c.ID, func() error { _, err := s.RevokeClient(ctx(t), c.ID, Base, testAudit, nil); return err })
	step("delete", c.ID, func() error { return s.DeleteClient(ctx(t), c.ID, testAudit, nil) })
	step("delete api key", k.ID, func() error { return s.DeleteClient(ctx(t), k.ID, testAudit, nil) })
	step("revoke the client created before Follow", before.ID, func() error {
		_, err := s.RevokeClient(ctx(t), before.ID, Base, testAudit, nil)
		return err
	})

	// A burst of changes from concurrent writers: every one is reported.
	burst := make([]*store.Client, 40)
	for i := range burst {
		burst[i] = NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	}
	m := r1.Mark()
	createAll(t, s, burst)
	for _, b := range burst {
		WaitChange(t, r1, b.ID, m, time.Second, "burst create")
	}

	for _, e := range r1.Events(0) {
		if e.Kind == "reset" {
			t.Errorf("Reset while following a healthy store")
		}
		if e.Kind == "synced" && !e.Synced {
			t.Errorf("Synced(false) while following a healthy store")
		}
	}
	stop1() // fails the test unless Follow returns promptly

	// The other follower is unaffected by the first one stopping.
	last := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	m = r2.Mark()
	mustCreate(t, s, last)
	WaitChange(t, r2, last.ID, m, time.Second, "create after the first follower stopped")
}

// testAudit is the audit identity of the suite's changes.
var testAudit = store.Audit{Time: time.Unix(1_800_000_000, 0).UTC(), Actor: "storetest", Source: "127.0.0.1", RequestID: "req-1"}

// cloneClient returns a deep copy of c: nothing it points to is shared.
func cloneClient(c *store.Client) *store.Client {
	d := *c
	for _, p := range []**time.Time{&d.ExpiresAt, &d.RevokedAt, &d.LastUsedAt, &d.PreviousSecretExpiresAt} {
		if *p != nil {
			*p = ptr(**p)
		}
	}
	if d.PreviousSecretHash != nil {
		d.PreviousSecretHash = hashPtr(*d.PreviousSecretHash)
	}
	return &d
}

// auditN is a distinct audit identity for the n-th change of a test. Its time
// goes backwards as n grows, so ordering events by time is not ordering them
// by ID.
func auditN(n int) store.Audit {
	return store.Audit{
		Time:      Base.Add(-time.Duration(n)*time.Minute - time.Duration(n)*time.Microsecond),
		Actor:     fmt.Sprintf("blnk_cid_actor%04d", n),
		Source:    fmt.Sprintf("192.0.2.%d:%d", n%250, 40000+n),
		RequestID: fmt.Sprintf("req-%04d «%d»", n, n),
	}
}

// allAudit returns every audit event of clientID ("" for every client), newest first.
func allAudit(t testing.TB, s store.Store, clientID string) []store.AuditEvent {
	t.Helper()
	evs, err := s.ListAudit(ctx(t), store.AuditFilter{ClientID: clientID, Limit: 100000})
	if err != nil {
		t.Fatalf("ListAudit(%q): %v", clientID, err)
	}
	if evs == nil {
		t.Fatalf("ListAudit(%q) returned a nil slice", clientID)
	}
	return evs
}

// wantEvent is an audit event expected from a change made with Audit a.
type wantEvent struct {
	a        store.Audit
	action   string
	clientID string
}

func diffEvent(got store.AuditEvent, want wantEvent) string {
	if got.Action == want.action && got.ClientID == want.clientID && got.Time.Equal(want.a.Time) &&
		got.Actor == want.a.Actor && got.Source == want.a.Source && got.RequestID == want.a.RequestID {
		return ""
	}
	return fmt.Sprintf("audit event {ID:%d Time:%s Actor:%q Action:%q ClientID:%q Source:%q RequestID:%q},\n\twant {Time:%s Actor:%q Action:%q ClientID:%q Source:%q RequestID:%q}",
		got.ID, got.Time.UTC().Format(time.RFC3339Nano), got.Actor, got.Action, got.ClientID, got.Source, got.RequestID,
		want.a.Time.UTC().Format(time.RFC3339Nano), want.a.Actor, want.action, want.clientID, want.a.Source, want.a.RequestID)
}

func checkEvent(t testing.TB, got store.AuditEvent, want wantEvent) {
	t.Helper()
	if d := diffEvent(got, want); d != "" {
		t.Error(d)
	}
}

// checkNewestFirst fails unless IDs strictly decrease.
func checkNewestFirst(t testing.TB, evs []store.AuditEvent) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		if evs[i].ID >= evs[i-1].ID {
			t.Fatalf("audit events not newest first by ID: ID %d at %d after ID %d", evs[i].ID, i, evs[i-1].ID)
		}
	}
}

func sameEvents(a, b []store.AuditEvent) bool {
	return slices.EqualFunc(a, b, func(x, y store.AuditEvent) bool {
		return x.ID == y.ID && x.Time.Equal(y.Time) && x.Actor == y.Actor && x.Action == y.Action &&
			x.ClientID == y.ClientID && x.Source == y.Source && x.RequestID == y.RequestID
	})
}

func eventIDs(evs []store.AuditEvent) []int64 {
	ids := make([]int64, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

// checkUnchanged fails unless the stored client is want and the audit log
// still holds exactly events events.
func checkUnchanged(t testing.TB, s store.Store, want *store.Client, events int, what string) {
	t.Helper()
	if d := diffClient(mustGet(t, s, want.ID), want); len(d) > 0 {
		t.Errorf("%s changed client %s:\n\t%s", what, want.ID, strings.Join(d, "\n\t"))
	}
	if got := len(allAudit(t, s, "")); got != events {
		t.Errorf("%s: %d audit events, want %d (a refused change must write none)", what, got, events)
	}
}

func testUpdate(t *testing.T, s store.Store) {
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	c.ExpiresAt = ptr(Base.Add(48 * time.Hour))
	c.LastUsedAt = ptr(Base.Add(time.Minute + time.Microsecond))
	c.PreviousSecretHash = hashPtr(credential.HashOf(credential.NewSecret()))
	c.PreviousSecretExpiresAt = ptr(Base.Add(time.Hour))
	bystander := NewClient(credential.NewClientID(), store.TypeAPIKey, Base)
	bystander.ExpiresAt = ptr(Base.Add(time.Hour))
	mustCreate(t, s, c, bystander)
	want := cloneClient(c)

	n := 0
	update := func(what string, u store.ClientUpdate) {
		t.Helper()
		n++
		got, err := s.UpdateClient(ctx(t), c.ID, u, auditN(n), nil)
		if err != nil {
			t.Fatalf("UpdateClient(%s): %v", what, err)
		}
		if d := diffClient(got, want); len(d) > 0 {
			t.Errorf("UpdateClient(%s) returned:\n\t%s", what, strings.Join(d, "\n\t"))
		}
		if d := diffClient(mustGet(t, s, c.ID), want); len(d) > 0 {
			t.Errorf("after UpdateClient(%s), stored:\n\t%s", what, strings.Join(d, "\n\t"))
		}
	}

	name := `Neuer Name «prod» 💳 'single' "double" \back`
	want.Name = name
	update("name", store.ClientUpdate{Name: &name})

	scopes := scope.MustParse("mcp:read balances:* *:write")
	want.Scopes = scopes
	update("scopes", store.ClientUpdate{Scopes: &scopes})

	exp := ptr(Base.Add(72*time.Hour + 17*time.Microsecond))
	want.ExpiresAt = ptr(*exp)
	update("expires_at", store.ClientUpdate{ExpiresAt: &exp})

	never := (*time.Time)(nil)
	want.ExpiresAt = nil
	update("expires_at never", store.ClientUpdate{ExpiresAt: &never})
	if st := mustGet(t, s, c.ID).Status(Base.Add(100 * 365 * 24 * time.Hour)); st != store.StatusActive {
		t.Errorf("status of a client updated to never expire = %q, want active", st)
	}

	update("nothing", store.ClientUpdate{})

	// Every field at once, giving an expiry (in the past) to a client that never expires.
	name2, scopes2, exp2 := "all at once", scope.MustParse("ledgers:read"), ptr(Base.Add(-time.Hour+time.Microsecond))
	want.Name, want.Scopes, want.ExpiresAt = name2, scopes2, ptr(*exp2)
	update("every field", store.ClientUpdate{Name: &name2, Scopes: &scopes2, ExpiresAt: &exp2})
	// The listing follows the new expiry.
	if ids := listIDs(t, s, store.ListFilter{Status: store.StatusExpired, Limit: 10}, Base); !slices.Equal(ids, []string{c.ID}) {
		t.Errorf("expired clients after the update = %q, want [%s]", ids, c.ID)
	}

	// Changing the caller's values afterwards changes nothing stored.
	name2, scopes2, *exp2 = "changed by the caller", scope.MustParse("*"), Base.Add(time.Hour)
	CheckClient(t, mustGet(t, s, c.ID), want)
	// Nor does changing what UpdateClient returned.
	got, err := s.UpdateClient(ctx(t), c.ID, store.ClientUpdate{}, testAudit, nil)
	if err != nil {
		t.Fatal(err)
	}
	got.Name = "changed too"
	*got.ExpiresAt = Base.Add(time.Hour)
	CheckClient(t, mustGet(t, s, c.ID), want)

	// The other client was never touched.
	CheckClient(t, mustGet(t, s, bystander.ID), bystander)

	// An unknown client is not found, and not created.
	unknown := credential.NewClientID()
	events := len(allAudit(t, s, ""))
	if _, err := s.UpdateClient(ctx(t), unknown, store.ClientUpdate{Name: &name}, testAudit, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateClient(unknown): err = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateClient(ctx(t), unknown, store.ClientUpdate{}, testAudit, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateClient(unknown, nothing): err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetClient(ctx(t), unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient after UpdateClient(unknown): err = %v, want ErrNotFound", err)
	}
	if got := len(allAudit(t, s, "")); got != events {
		t.Errorf("UpdateClient(unknown) wrote %d audit events", got-events)
	}
	CheckClient(t, mustGet(t, s, c.ID), want)
}

func testUpdateRevoked(t *testing.T, s store.Store) {
	revoked := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	revoked.ExpiresAt = ptr(Base.Add(time.Hour))
	createdRevoked := NewClient(credential.NewClientID(), store.TypeAPIKey, Base)
	createdRevoked.RevokedAt = ptr(Base)
	mustCreate(t, s, revoked, createdRevoked)
	if _, err := s.RevokeClient(ctx(t), revoked.ID, Base.Add(time.Minute), testAudit, nil); err != nil {
		t.Fatal(err)
	}
	revoked.RevokedAt = ptr(Base.Add(time.Minute))
	events := len(allAudit(t, s, ""))

	name := "new name"
	scopes := scope.MustParse("*")
	exp := ptr(Base.Add(100 * time.Hour))
	never := (*time.Time)(nil)
	updates := []struct {
		what string
		u    store.ClientUpdate
	}{
		{"name", store.ClientUpdate{Name: &name}},
		{"scopes", store.ClientUpdate{Scopes: &scopes}},
		{"expires_at", store.ClientUpdate{ExpiresAt: &exp}},
		{"expires_at never", store.ClientUpdate{ExpiresAt: &never}},
		{"every field", store.ClientUpdate{Name: &name, Scopes: &scopes, ExpiresAt: &never}},
		{"nothing", store.ClientUpdate{}},
	}
	for _, c := range []*store.Client{revoked, createdRevoked} {
		for _, u := range updates {
			if _, err := s.UpdateClient(ctx(t), c.ID, u.u, testAudit, nil); !errors.Is(err, store.ErrRevoked) {
				t.Errorf("UpdateClient(revoked, %s): err = %v, want ErrRevoked", u.what, err)
			}
			checkUnchanged(t, s, c, events, "UpdateClient(revoked, "+u.what+")")
		}
	}
}

func testRollSecret(t *testing.T, s store.Store) {
	secret0 := credential.NewSecret()
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	c.SecretHash, c.SecretHint = credential.HashOf(secret0), credential.Hint(secret0)
	c.ExpiresAt = ptr(Base.Add(48 * time.Hour))
	c.LastUsedAt = ptr(Base.Add(time.Minute))
	bystander := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	mustCreate(t, s, c, bystander)
	want := cloneClient(c)

	n := 0
	roll := func(what, secret string, until *time.Time) *store.Client {
		t.Helper()
		n++
		want.SecretHash, want.SecretHint = credential.HashOf(secret), credential.Hint(secret)
		r := store.SecretRoll{Hash: credential.HashOf(secret), Hint: credential.Hint(secret), PreviousValidUntil: until}
		got, err := s.RollSecret(ctx(t), c.ID, r, auditN(n), nil)
		if err != nil {
			t.Fatalf("RollSecret(%s): %v", what, err)
		}
		if d := diffClient(got, want); len(d) > 0 {
			t.Errorf("RollSecret(%s) returned:\n\t%s", what, strings.Join(d, "\n\t"))
		}
		stored := mustGet(t, s, c.ID)
		if d := diffClient(stored, want); len(d) > 0 {
			t.Errorf("after RollSecret(%s), stored:\n\t%s", what, strings.Join(d, "\n\t"))
		}
		return stored
	}
	matches := func(what string, c *store.Client, secret string, at time.Time, want bool) {
		t.Helper()
		if got := c.SecretMatches(secret, at); got != want {
			t.Errorf("%s: SecretMatches(%s) at %s = %t, want %t", what, credential.Hint(secret), at.Format(time.RFC3339Nano), got, want)
		}
	}

	// With a grace period the old secret becomes the previous one, until then.
	secret1 := credential.NewSecret()
	until1 := Base.Add(time.Hour + 5*time.Microsecond)
	want.PreviousSecretHash, want.PreviousSecretExpiresAt = hashPtr(credential.HashOf(secret0)), ptr(until1)
	got := roll("with grace", secret1, ptr(until1))
	matches("first roll", got, secret1, Base, true)
	matches("first roll", got, secret1, until1.Add(time.Hour), true)
	matches("first roll", got, secret0, until1.Add(-time.Microsecond), true)
	matches("first roll", got, secret0, until1, false)

	// Rolling again keeps only the secret just replaced.
	secret2 := credential.NewSecret()
	until2 := Base.Add(2 * time.Hour)
	want.PreviousSecretHash, want.PreviousSecretExpiresAt = hashPtr(credential.HashOf(secret1)), ptr(until2)
	got = roll("again with grace", secret2, ptr(until2))
	matches("second roll", got, secret2, Base, true)
	matches("second roll", got, secret1, Base, true)
	matches("second roll", got, secret0, Base, false)

	// Without a grace period the previous secret is cleared.
	secret3 := credential.NewSecret()
	want.PreviousSecretHash, want.PreviousSecretExpiresAt = nil, nil
	got = roll("without grace", secret3, nil)
	matches("roll without grace", got, secret3, Base, true)
	matches("roll without grace", got, secret2, Base, false)
	matches("roll without grace", got, secret1, Base, false)

	// A grace period after a roll without one keeps the current secret.
	secret4 := credential.NewSecret()
	until4 := Base.Add(-time.Hour) // already over: stored as given
	want.PreviousSecretHash, want.PreviousSecretExpiresAt = hashPtr(credential.HashOf(secret3)), ptr(until4)
	got = roll("grace after none", secret4, ptr(until4))
	matches("grace after none", got, secret3, until4.Add(-time.Microsecond), true)
	matches("grace after none", got, secret3, Base, false)

	// Changing what RollSecret was given or returned changes nothing stored.
	secret5 := credential.NewSecret()
	until5 := ptr(Base.Add(3 * time.Hour))
	want.PreviousSecretHash, want.PreviousSecretExpiresAt = hashPtr(credential.HashOf(secret4)), ptr(*until5)
	n++
	r := store.SecretRoll{Hash: credential.HashOf(secret5), Hint: credential.Hint(secret5), PreviousValidUntil: until5}
	want.SecretHash, want.SecretHint = r.Hash, r.Hint
	ret, err := s.RollSecret(ctx(t), c.ID, r, auditN(n), nil)
	if err != nil {
		t.Fatal(err)
	}
	*until5 = Base
	r.Hash[0] ^= 0xff
	ret.PreviousSecretHash[0] ^= 0xff
	*ret.PreviousSecretExpiresAt = Base
	ret.SecretHash[0] ^= 0xff
	CheckClient(t, mustGet(t, s, c.ID), want)

	// An API key rolls the same way.
	k := NewClient(credential.NewClientID(), store.TypeAPIKey, Base)
	mustCreate(t, s, k)
	key, err := credential.NewAPIKey(k.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantK := cloneClient(k)
	wantK.SecretHash, wantK.SecretHint = credential.HashOf(key), credential.Hint(key)
	wantK.PreviousSecretHash, wantK.PreviousSecretExpiresAt = hashPtr(k.SecretHash), ptr(Base.Add(time.Minute))
	gotK, err := s.RollSecret(ctx(t), k.ID, store.SecretRoll{Hash: credential.HashOf(key), Hint: credential.Hint(key), PreviousValidUntil: ptr(Base.Add(time.Minute))}, testAudit, nil)
	if err != nil {
		t.Fatalf("RollSecret(api key): %v", err)
	}
	CheckClient(t, gotK, wantK)
	CheckClient(t, mustGet(t, s, k.ID), wantK)

	// The other client was never touched.
	CheckClient(t, mustGet(t, s, bystander.ID), bystander)

	// An unknown client is not found, and not created.
	events := len(allAudit(t, s, ""))
	unknown := credential.NewClientID()
	for _, until := range []*time.Time{nil, ptr(Base)} {
		if _, err := s.RollSecret(ctx(t), unknown, store.SecretRoll{Hash: credential.HashOf(secret0), Hint: "h", PreviousValidUntil: until}, testAudit, nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RollSecret(unknown): err = %v, want ErrNotFound", err)
		}
	}
	if _, err := s.GetClient(ctx(t), unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient after RollSecret(unknown): err = %v, want ErrNotFound", err)
	}
	if got := len(allAudit(t, s, "")); got != events {
		t.Errorf("RollSecret(unknown) wrote %d audit events", got-events)
	}
}

func testRollSecretRevoked(t *testing.T, s store.Store) {
	revoked := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	createdRevoked := NewClient(credential.NewClientID(), store.TypeAPIKey, Base)
	createdRevoked.RevokedAt = ptr(Base)
	// A revoked client in the middle of a roll keeps its previous secret as it was.
	createdRevoked.PreviousSecretHash = hashPtr(credential.HashOf(credential.NewSecret()))
	createdRevoked.PreviousSecretExpiresAt = ptr(Base.Add(time.Hour))
	mustCreate(t, s, revoked, createdRevoked)
	if _, err := s.RevokeClient(ctx(t), revoked.ID, Base.Add(time.Minute), testAudit, nil); err != nil {
		t.Fatal(err)
	}
	revoked.RevokedAt = ptr(Base.Add(time.Minute))
	events := len(allAudit(t, s, ""))
	for _, c := range []*store.Client{revoked, createdRevoked} {
		for _, until := range []*time.Time{nil, ptr(Base.Add(time.Hour))} {
			secret := credential.NewSecret()
			r := store.SecretRoll{Hash: credential.HashOf(secret), Hint: credential.Hint(secret), PreviousValidUntil: until}
			if _, err := s.RollSecret(ctx(t), c.ID, r, testAudit, nil); !errors.Is(err, store.ErrRevoked) {
				t.Errorf("RollSecret(revoked, grace until %s): err = %v, want ErrRevoked", fmtTime(until), err)
			}
			checkUnchanged(t, s, c, events, "RollSecret(revoked)")
			if mustGet(t, s, c.ID).SecretMatches(secret, Base) {
				t.Errorf("the secret of a refused roll matches")
			}
		}
	}
}

func testSecretMatches(t *testing.T, s store.Store) {
	current, previous := credential.NewSecret(), credential.NewSecret()
	until := Base.Add(time.Hour + 3*time.Microsecond)
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	c.SecretHash = credential.HashOf(current)
	c.PreviousSecretHash = hashPtr(credential.HashOf(previous))
	c.PreviousSecretExpiresAt = ptr(until)
	// The same state reached by a roll rather than by creation.
	rolled := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	rolled.SecretHash = credential.HashOf(previous)
	mustCreate(t, s, c, rolled)
	if _, err := s.RollSecret(ctx(t), rolled.ID, store.SecretRoll{Hash: credential.HashOf(current), Hint: credential.Hint(current), PreviousValidUntil: ptr(until)}, testAudit, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{c.ID, rolled.ID} {
		got := mustGet(t, s, id)
		for _, tc := range []struct {
			what   string
			secret string
			at     time.Time
			want   bool
		}{
			{"current, long before", current, Base.Add(-24 * time.Hour), true},
			{"current, after the grace period", current, until.Add(24 * time.Hour), true},
			{"current, at the end of the grace period", current, until, true},
			{"previous, long before", previous, Base.Add(-24 * time.Hour), true},
			{"previous, a microsecond before the end", previous, until.Add(-time.Microsecond), true},
			{"previous, a nanosecond before the end", previous, until.Add(-time.Nanosecond), true},
			{"previous, at the end", previous, until, false},
			{"previous, after the end", previous, until.Add(time.Microsecond), false},
			{"previous, long after", previous, until.Add(24 * time.Hour), false},
			{"random", credential.NewSecret(), Base, false},
			{"empty", "", Base, false},
			{"current with a character more", current + "x", Base, false},
			{"previous truncated", previous[:len(previous)-1], Base, false},
		} {
			if g := got.SecretMatches(tc.secret, tc.at); g != tc.want {
				t.Errorf("client %s: SecretMatches(%s) = %t, want %t", id, tc.what, g, tc.want)
			}
		}
	}
	// A previous hash without an expiry is not accepted.
	noExpiry := cloneClient(mustGet(t, s, c.ID))
	noExpiry.PreviousSecretExpiresAt = nil
	if noExpiry.SecretMatches(previous, Base) {
		t.Error("a previous secret without an expiry matches")
	}
	if !noExpiry.SecretMatches(current, Base) {
		t.Error("the current secret does not match when the previous one has no expiry")
	}
}

// testMutationRacesRevoke races UpdateClient and RollSecret against
// RevokeClient: each either happens entirely before the revocation (its
// audit event first) or not at all (ErrRevoked, nothing changed, no event).
func testMutationRacesRevoke(t *testing.T, s store.Store) {
	const rounds = 8
	for round := range rounds {
		old := credential.NewSecret()
		c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
		c.SecretHash = credential.HashOf(old)
		mustCreate(t, s, c)
		name := fmt.Sprintf("renamed in round %d", round)
		secret := credential.NewSecret()
		var updateErr, rollErr, revokeErr error
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			<-start
			_, updateErr = s.UpdateClient(ctx(t), c.ID, store.ClientUpdate{Name: &name}, testAudit, nil)
		})
		wg.Go(func() {
			<-start
			_, rollErr = s.RollSecret(ctx(t), c.ID, store.SecretRoll{Hash: credential.HashOf(secret), Hint: "new"}, testAudit, nil)
		})
		wg.Go(func() {
			<-start
			_, revokeErr = s.RevokeClient(ctx(t), c.ID, Base.Add(time.Hour), testAudit, nil)
		})
		close(start)
		wg.Wait()
		if revokeErr != nil {
			t.Fatalf("round %d: RevokeClient: %v", round, revokeErr)
		}
		for what, err := range map[string]error{"UpdateClient": updateErr, "RollSecret": rollErr} {
			if err != nil && !errors.Is(err, store.ErrRevoked) {
				t.Fatalf("round %d: %s racing a revocation: %v", round, what, err)
			}
		}
		got := mustGet(t, s, c.ID)
		if got.RevokedAt == nil {
			t.Fatalf("round %d: not revoked", round)
		}
		if (got.Name == name) != (updateErr == nil) {
			t.Errorf("round %d: UpdateClient err = %v but name = %q", round, updateErr, got.Name)
		}
		if got.SecretMatches(secret, Base) != (rollErr == nil) || got.SecretMatches(old, Base) != (rollErr != nil) {
			t.Errorf("round %d: RollSecret err = %v but the stored secret does not agree", round, rollErr)
		}
		evs := allAudit(t, s, c.ID)
		var actions []string
		for _, e := range slices.Backward(evs) {
			actions = append(actions, e.Action)
		}
		// Oldest first: create, then whichever of update and roll succeeded, then revoke.
		if len(actions) < 2 || actions[0] != store.ActionCreate || actions[len(actions)-1] != store.ActionRevoke {
			t.Fatalf("round %d: audit actions %q: want create first and revoke last", round, actions)
		}
		middle := actions[1 : len(actions)-1]
		if slices.Contains(middle, store.ActionUpdate) != (updateErr == nil) || slices.Contains(middle, store.ActionRollSecret) != (rollErr == nil) || len(middle) > 2 {
			t.Errorf("round %d: audit actions %q, but UpdateClient err = %v, RollSecret err = %v", round, actions, updateErr, rollErr)
		}
	}
}

func testAuditEvents(t *testing.T, s store.Store) {
	// Nothing yet: an empty, non-nil result whatever the filter.
	allAudit(t, s, "")
	for _, f := range []store.AuditFilter{
		{Limit: 10},
		{Limit: 1, ClientID: credential.NewClientID()},
		{Limit: 10, BeforeID: 1},
		{Limit: 10, BeforeID: 1 << 40},
	} {
		evs, err := s.ListAudit(ctx(t), f)
		if err != nil {
			t.Fatalf("ListAudit(%+v) on an empty log: %v", f, err)
		}
		if evs == nil || len(evs) != 0 {
			t.Errorf("ListAudit(%+v) on an empty log = %#v, want a non-nil empty slice", f, evs)
		}
	}

	var want []wantEvent // oldest first
	n := 0
	var lastID int64
	next := func() store.Audit { n++; return auditN(n) }
	one := func(what, action, clientID string, a store.Audit, op func(store.Audit) error) {
		t.Helper()
		if err := op(a); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		evs := allAudit(t, s, "")
		if len(evs) != len(want)+1 {
			t.Fatalf("%s wrote %d audit events, want exactly 1", what, len(evs)-len(want))
		}
		w := wantEvent{a, action, clientID}
		if d := diffEvent(evs[0], w); d != "" {
			t.Errorf("%s: %s", what, d)
		}
		if evs[0].ID <= lastID {
			t.Errorf("%s: audit event ID %d not above the previous %d", what, evs[0].ID, lastID)
		}
		lastID = evs[0].ID
		want = append(want, w)
	}
	none := func(what string, wantErr error, op func(store.Audit) error) {
		t.Helper()
		if err := op(next()); !errors.Is(err, wantErr) {
			t.Errorf("%s: err = %v, want %v", what, err, wantErr)
		}
		if got := len(allAudit(t, s, "")); got != len(want) {
			t.Errorf("%s failed but wrote %d audit events", what, got-len(want))
		}
	}
	name := "renamed"
	newSecret := func() store.SecretRoll {
		secret := credential.NewSecret()
		return store.SecretRoll{Hash: credential.HashOf(secret), Hint: credential.Hint(secret), PreviousValidUntil: ptr(Base)}
	}

	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	k := NewClient(credential.NewClientID(), store.TypeAPIKey, Base)
	one("create", store.ActionCreate, c.ID, next(), func(a store.Audit) error { return s.CreateClient(ctx(t), c, a) })
	one("create api key", store.ActionCreate, k.ID, next(), func(a store.Audit) error { return s.CreateClient(ctx(t), k, a) })
	one("update", store.ActionUpdate, c.ID, next(), func(a store.Audit) error {
		_, err := s.UpdateClient(ctx(t), c.ID, store.ClientUpdate{Name: &name}, a, nil)
		return err
	})
	one("roll", store.ActionRollSecret, c.ID, next(), func(a store.Audit) error {
		_, err := s.RollSecret(ctx(t), c.ID, newSecret(), a, nil)
		return err
	})
	// As the CLI records it: no source, no request ID.
	cli := store.Audit{Time: Base.Add(time.Microsecond), Actor: "cli"}
	one("roll api key without grace", store.ActionRollSecret, k.ID, cli, func(a store.Audit) error {
		r := newSecret()
		r.PreviousValidUntil = nil
		_, err := s.RollSecret(ctx(t), k.ID, r, a, nil)
		return err
	})
	one("revoke", store.ActionRevoke, c.ID, next(), func(a store.Audit) error {
		_, err := s.RevokeClient(ctx(t), c.ID, a.Time, a, nil)
		return err
	})
	one("revoke again", store.ActionRevoke, c.ID, next(), func(a store.Audit) error {
		_, err := s.RevokeClient(ctx(t), c.ID, a.Time, a, nil)
		return err
	})

	unknown := credential.NewClientID()
	none("duplicate create", store.ErrExists, func(a store.Audit) error {
		return s.CreateClient(ctx(t), NewClient(k.ID, store.TypeOAuth, Base), a)
	})
	for _, id := range []string{unknown} {
		none("update unknown", store.ErrNotFound, func(a store.Audit) error {
			_, err := s.UpdateClient(ctx(t), id, store.ClientUpdate{Name: &name}, a, nil)
			return err
		})
		none("roll unknown", store.ErrNotFound, func(a store.Audit) error {
			_, err := s.RollSecret(ctx(t), id, newSecret(), a, nil)
			return err
		})
		none("revoke unknown", store.ErrNotFound, func(a store.Audit) error {
			_, err := s.RevokeClient(ctx(t), id, a.Time, a, nil)
			return err
		})
		none("delete unknown", store.ErrNotFound, func(a store.Audit) error { return s.DeleteClient(ctx(t), id, a, nil) })
	}
	none("update revoked", store.ErrRevoked, func(a store.Audit) error {
		_, err := s.UpdateClient(ctx(t), c.ID, store.ClientUpdate{Name: &name}, a, nil)
		return err
	})
	none("roll revoked", store.ErrRevoked, func(a store.Audit) error {
		_, err := s.RollSecret(ctx(t), c.ID, newSecret(), a, nil)
		return err
	})

	one("delete revoked", store.ActionDelete, c.ID, next(), func(a store.Audit) error { return s.DeleteClient(ctx(t), c.ID, a, nil) })
	for what, op := range map[string]func(store.Audit) error{
		"delete deleted": func(a store.Audit) error { return s.DeleteClient(ctx(t), c.ID, a, nil) },
		"update deleted": func(a store.Audit) error {
			_, err := s.UpdateClient(ctx(t), c.ID, store.ClientUpdate{Name: &name}, a, nil)
			return err
		},
		"roll deleted": func(a store.Audit) error {
			_, err := s.RollSecret(ctx(t), c.ID, newSecret(), a, nil)
			return err
		},
		"revoke deleted": func(a store.Audit) error {
			_, err := s.RevokeClient(ctx(t), c.ID, a.Time, a, nil)
			return err
		},
	} {
		none(what, store.ErrNotFound, op)
	}
	one("delete api key", store.ActionDelete, k.ID, next(), func(a store.Audit) error { return s.DeleteClient(ctx(t), k.ID, a, nil) })

	// Everything, newest first by ID (the audit times run backwards).
	evs := allAudit(t, s, "")
	checkNewestFirst(t, evs)
	if len(evs) != len(want) {
		t.Fatalf("%d audit events, want %d", len(evs), len(want))
	}
	for i, e := range evs {
		checkEvent(t, e, want[len(want)-1-i])
	}
	// The events of each client outlive it.
	for _, id := range []string{c.ID, k.ID} {
		got := allAudit(t, s, id)
		var w []store.AuditEvent
		for _, e := range evs {
			if e.ClientID == id {
				w = append(w, e)
			}
		}
		if !sameEvents(got, w) {
			t.Errorf("audit events of deleted client %s: IDs %v, want %v", id, eventIDs(got), eventIDs(w))
		}
	}
	if got := allAudit(t, s, unknown); len(got) != 0 {
		t.Errorf("%d audit events for a client never created", len(got))
	}
}

func testAuditPaging(t *testing.T, s store.Store) {
	const total = 120
	clients := []*store.Client{
		NewClient(credential.NewClientID(), store.TypeOAuth, Base),
		NewClient(credential.NewClientID(), store.TypeAPIKey, Base),
		NewClient(credential.NewClientID(), store.TypeOAuth, Base),
	}
	var want []wantEvent // oldest first
	for n := 1; n <= total; n++ {
		c, a := clients[n%len(clients)], auditN(n)
		var err error
		action := store.ActionUpdate
		switch {
		case n <= len(clients):
			action, err = store.ActionCreate, s.CreateClient(ctx(t), c, a)
		case n%2 == 0:
			name := fmt.Sprintf("name %d", n)
			_, err = s.UpdateClient(ctx(t), c.ID, store.ClientUpdate{Name: &name}, a, nil)
		default:
			action = store.ActionRollSecret
			_, err = s.RollSecret(ctx(t), c.ID, store.SecretRoll{Hash: credential.HashOf(credential.NewSecret()), Hint: "h"}, a, nil)
		}
		if err != nil {
			t.Fatalf("change %d: %v", n, err)
		}
		want = append(want, wantEvent{a, action, c.ID})
	}
	all := allAudit(t, s, "")
	if len(all) != total {
		t.Fatalf("%d audit events, want %d", len(all), total)
	}
	checkNewestFirst(t, all)
	for i, e := range all {
		checkEvent(t, e, want[total-1-i])
	}
	byClient := func(evs []store.AuditEvent, id string) []store.AuditEvent {
		out := []store.AuditEvent{}
		for _, e := range evs {
			if id == "" || e.ClientID == id {
				out = append(out, e)
			}
		}
		return out
	}

	// page lists every event of clientID, limit at a time, following BeforeID.
	page := func(clientID string, limit int) []store.AuditEvent {
		t.Helper()
		var out []store.AuditEvent
		var before int64
		for pages := 0; ; pages++ {
			if pages > total+1 {
				t.Fatalf("paging by %d does not end", limit)
			}
			p, err := s.ListAudit(ctx(t), store.AuditFilter{ClientID: clientID, Limit: limit, BeforeID: before})
			if err != nil {
				t.Fatalf("ListAudit(limit %d, before %d): %v", limit, before, err)
			}
			if len(p) > limit {
				t.Fatalf("page of %d events with limit %d", len(p), limit)
			}
			for _, e := range p {
				if before != 0 && e.ID >= before {
					t.Fatalf("ListAudit(before %d) returned event %d", before, e.ID)
				}
				if clientID != "" && e.ClientID != clientID {
					t.Fatalf("ListAudit(client %s) returned an event of %s", clientID, e.ClientID)
				}
			}
			out = append(out, p...)
			if len(p) < limit {
				return out
			}
			before = p[len(p)-1].ID
		}
	}
	for _, limit := range []int{1, 7, 40, total - 1, total, total + 1} {
		if got := page("", limit); !sameEvents(got, all) {
			t.Errorf("paging by %d: IDs %v,\n\twant %v", limit, eventIDs(got), eventIDs(all))
		}
	}
	for _, c := range clients {
		w := byClient(all, c.ID)
		if len(w) != total/len(clients) {
			t.Fatalf("test data: %d events for a client", len(w))
		}
		if got := allAudit(t, s, c.ID); !sameEvents(got, w) {
			t.Errorf("events of client %s: IDs %v, want %v", c.ID, eventIDs(got), eventIDs(w))
		}
		if got := page(c.ID, 7); !sameEvents(got, w) {
			t.Errorf("paging the events of client %s by 7: IDs %v, want %v", c.ID, eventIDs(got), eventIDs(w))
		}
	}

	list := func(f store.AuditFilter) []store.AuditEvent {
		t.Helper()
		evs, err := s.ListAudit(ctx(t), f)
		if err != nil {
			t.Fatalf("ListAudit(%+v): %v", f, err)
		}
		if evs == nil {
			t.Fatalf("ListAudit(%+v) returned a nil slice", f)
		}
		return evs
	}
	for _, tc := range []struct {
		what string
		f    store.AuditFilter
		want []store.AuditEvent
	}{
		{"limit 1", store.AuditFilter{Limit: 1}, all[:1]},
		{"limit 5", store.AuditFilter{Limit: 5}, all[:5]},
		{"client, limit 3", store.AuditFilter{Limit: 3, ClientID: clients[1].ID}, byClient(all, clients[1].ID)[:3]},
		{"before the 61st", store.AuditFilter{Limit: 1000, BeforeID: all[60].ID}, all[61:]},
		{"before the 61st, limit 4", store.AuditFilter{Limit: 4, BeforeID: all[60].ID}, all[61:65]},
		{"client, before the 61st", store.AuditFilter{Limit: 1000, BeforeID: all[60].ID, ClientID: clients[2].ID}, byClient(all[61:], clients[2].ID)},
		{"before the newest", store.AuditFilter{Limit: 1000, BeforeID: all[0].ID}, all[1:]},
		{"before the oldest", store.AuditFilter{Limit: 1000, BeforeID: all[total-1].ID}, []store.AuditEvent{}},
		{"before the oldest, by client", store.AuditFilter{Limit: 10, BeforeID: all[total-1].ID, ClientID: all[total-1].ClientID}, []store.AuditEvent{}},
		{"before an ID above every event", store.AuditFilter{Limit: 1000, BeforeID: all[0].ID + 1}, all},
		{"before the largest ID", store.AuditFilter{Limit: 1000, BeforeID: math.MaxInt64}, all},
		{"unknown client", store.AuditFilter{Limit: 10, ClientID: credential.NewClientID()}, []store.AuditEvent{}},
	} {
		if got := list(tc.f); !sameEvents(got, tc.want) {
			t.Errorf("ListAudit(%s): IDs %v, want %v", tc.what, eventIDs(got), eventIDs(tc.want))
		}
	}
}

// testRevokeToken: single revoked tokens are kept until they expire and
// reach every follower as a change carrying their jti.
func testRevokeToken(t *testing.T, s store.Store) {
	c := ctx(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	if got, err := s.RevokedTokens(c, now); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty store: %v %v", got, err)
	}
	rec, stop := StartFollow(t, s)
	defer stop()
	from := rec.Mark()
	live := store.RevokedToken{JTI: "jti-live", ClientID: credential.NewClientID(), ExpiresAt: now.Add(time.Hour)}
	old := store.RevokedToken{JTI: "jti-old", ClientID: live.ClientID, ExpiresAt: now.Add(-time.Minute)}
	for _, tok := range []store.RevokedToken{live, old, live} { // the repeat is a no-op
		if err := s.RevokeToken(c, tok); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RevokedTokens(c, now)
	if err != nil || len(got) != 1 || got[0].JTI != live.JTI || got[0].ClientID != live.ClientID || !got[0].ExpiresAt.Equal(live.ExpiresAt) {
		t.Fatalf("RevokedTokens = %+v, %v; want only the unexpired one", got, err)
	}
	ch := WaitChange(t, rec, live.ClientID, from, time.Second, "token revocation")
	if ch.JTI != live.JTI && ch.JTI != old.JTI {
		t.Fatalf("change %+v carries no revoked jti", ch)
	}
	Eventually(t, time.Second, func() bool { return len(rec.ChangesFor(live.ClientID, from)) >= 2 }, "both revocations reported")
	time.Sleep(200 * time.Millisecond) // a repeat must not be reported again
	jtis := map[string]int{}
	for _, ch := range rec.ChangesFor(live.ClientID, from) {
		jtis[ch.JTI]++
	}
	if jtis[live.JTI] != 1 || jtis[old.JTI] != 1 {
		t.Fatalf("changes by jti %v, want one each", jtis)
	}
}

// errRefused is what the suite's refusing guards return.
var errRefused = errors.New("storetest: refused by the guard")

// guardRecorder is a Guard that remembers the clients it was shown and
// answers with err (nil allows).
type guardRecorder struct {
	mu   sync.Mutex
	seen []*store.Client
	err  error
}

func (g *guardRecorder) guard(c *store.Client) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen = append(g.seen, cloneClient(c))
	if g.err != nil {
		return fmt.Errorf("%w (client %s)", g.err, c.ID)
	}
	return nil
}

// calls returns the clients the guard was shown so far.
func (g *guardRecorder) calls() []*store.Client {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.seen)
}

// mutation is one of the store's guarded changes of a client.
type mutation struct {
	name, action string
	do           func(t testing.TB, s store.Store, id string, g store.Guard) error
}

// mutations are the four guarded changes, each with its audit action.
var mutations = []mutation{
	{"RevokeClient", store.ActionRevoke, func(t testing.TB, s store.Store, id string, g store.Guard) error {
		_, err := s.RevokeClient(ctx(t), id, Base.Add(time.Hour), testAudit, g)
		return err
	}},
	{"UpdateClient", store.ActionUpdate, func(t testing.TB, s store.Store, id string, g store.Guard) error {
		name := "renamed by a guarded update"
		_, err := s.UpdateClient(ctx(t), id, store.ClientUpdate{Name: &name}, testAudit, g)
		return err
	}},
	{"RollSecret", store.ActionRollSecret, func(t testing.TB, s store.Store, id string, g store.Guard) error {
		_, err := s.RollSecret(ctx(t), id, store.SecretRoll{Hash: credential.HashOf(credential.NewSecret()), Hint: "rolled"}, testAudit, g)
		return err
	}},
	{"DeleteClient", store.ActionDelete, func(t testing.TB, s store.Store, id string, g store.Guard) error {
		return s.DeleteClient(ctx(t), id, testAudit, g)
	}},
}

// testGuard: each mutation shows its guard the client as stored; a guard's
// error aborts the change with nothing written (no audit event, no
// change-log entry) and comes back as it is; an unknown client is not found
// without asking the guard; a revoked client is shown to the guard before
// UpdateClient and RollSecret refuse it.
func testGuard(t *testing.T, s store.Store) {
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	c.Scopes = scope.MustParse("mcp:read ledgers:*")
	c.ExpiresAt = ptr(Base.Add(48 * time.Hour))
	c.PreviousSecretHash = hashPtr(credential.HashOf(credential.NewSecret()))
	c.PreviousSecretExpiresAt = ptr(Base.Add(time.Hour))
	bystander := NewClient(credential.NewClientID(), store.TypeAPIKey, Base)
	mustCreate(t, s, c, bystander)
	rec, _ := StartFollow(t, s)
	mark := rec.Mark()
	events := len(allAudit(t, s, ""))

	for _, m := range mutations {
		refuse := &guardRecorder{err: errRefused}
		err := m.do(t, s, c.ID, refuse.guard)
		if !errors.Is(err, errRefused) {
			t.Errorf("%s with a refusing guard: err = %v, want the guard's error", m.name, err)
		}
		seen := refuse.calls()
		if len(seen) != 1 {
			t.Fatalf("%s called its guard %d times, want once", m.name, len(seen))
		}
		if d := diffClient(seen[0], c); len(d) > 0 {
			t.Errorf("%s showed its guard:\n\t%s", m.name, strings.Join(d, "\n\t"))
		}
		checkUnchanged(t, s, c, events, m.name+" refused by its guard")
	}
	// No change-log entry either: a change of the bystander, logged after the
	// refusals, arrives alone.
	if _, err := s.RevokeClient(ctx(t), bystander.ID, Base, testAudit, nil); err != nil {
		t.Fatal(err)
	}
	WaitChange(t, rec, bystander.ID, mark, 10*time.Second, "the bystander's revocation")
	if got := rec.ChangesFor(c.ID, mark); len(got) != 0 {
		t.Errorf("refused changes logged %v", got)
	}
	bystander.RevokedAt = ptr(Base)

	// Unknown clients: not found, and the guard is not asked.
	for _, m := range mutations {
		g := &guardRecorder{err: errRefused}
		if err := m.do(t, s, credential.NewClientID(), g.guard); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s(unknown): err = %v, want ErrNotFound", m.name, err)
		}
		if n := len(g.calls()); n != 0 {
			t.Errorf("%s(unknown) called its guard %d times", m.name, n)
		}
	}

	// An allowing guard sees each change's starting point.
	want := cloneClient(c)
	for _, m := range mutations[1:3] { // update and roll; revoke and delete below
		allow := &guardRecorder{}
		if err := m.do(t, s, c.ID, allow.guard); err != nil {
			t.Fatalf("%s with an allowing guard: %v", m.name, err)
		}
		if seen := allow.calls(); len(seen) != 1 || len(diffClient(seen[0], want)) > 0 {
			t.Errorf("%s showed its guard %d clients, want once the client as stored before the change", m.name, len(seen))
		}
		want = mustGet(t, s, c.ID)
	}
	allow := &guardRecorder{}
	if err := mutations[0].do(t, s, c.ID, allow.guard); err != nil {
		t.Fatalf("RevokeClient with an allowing guard: %v", err)
	}
	if seen := allow.calls(); len(seen) != 1 || seen[0].RevokedAt != nil || len(diffClient(seen[0], want)) > 0 {
		t.Errorf("RevokeClient showed its guard %d clients, want once the active client", len(seen))
	}
	revoked := mustGet(t, s, c.ID)
	if revoked.RevokedAt == nil {
		t.Fatal("not revoked")
	}
	events = len(allAudit(t, s, ""))
	// Revoked: the guard sees it (revoked), and its refusal comes first.
	for _, m := range mutations {
		refuse := &guardRecorder{err: errRefused}
		if err := m.do(t, s, c.ID, refuse.guard); !errors.Is(err, errRefused) {
			t.Errorf("%s of a revoked client with a refusing guard: err = %v, want the guard's error", m.name, err)
		}
		if seen := refuse.calls(); len(seen) != 1 || seen[0].RevokedAt == nil || !seen[0].RevokedAt.Equal(*revoked.RevokedAt) {
			t.Errorf("%s of a revoked client: guard shown %d clients, want once the revoked client", m.name, len(seen))
		}
		checkUnchanged(t, s, revoked, events, m.name+" of a revoked client refused by its guard")
	}
	for _, m := range mutations[1:3] {
		allow := &guardRecorder{}
		if err := m.do(t, s, c.ID, allow.guard); !errors.Is(err, store.ErrRevoked) {
			t.Errorf("%s of a revoked client with an allowing guard: err = %v, want ErrRevoked", m.name, err)
		}
		checkUnchanged(t, s, revoked, events, m.name+" of a revoked client")
	}
	allow = &guardRecorder{}
	if err := mutations[3].do(t, s, c.ID, allow.guard); err != nil {
		t.Fatalf("DeleteClient with an allowing guard: %v", err)
	}
	if seen := allow.calls(); len(seen) != 1 || len(diffClient(seen[0], revoked)) > 0 {
		t.Errorf("DeleteClient showed its guard %d clients, want once the client as stored", len(seen))
	}
	if _, err := s.GetClient(ctx(t), c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after DeleteClient: %v, want ErrNotFound", err)
	}
	CheckClient(t, mustGet(t, s, bystander.ID), bystander)
}

// testGuardSeesConcurrentChange: a guard judges the client as committed when
// its change is made, not as it was read before. Another transaction widens
// the client's scopes and holds on before committing (its own guard blocks);
// each mutation started meanwhile, guarded by "only clients with no more than
// mcp:read", must wait for it, see the widened scopes, and refuse.
func testGuardSeesConcurrentChange(t *testing.T, s store.Store) {
	reader := scope.MustParse("mcp:read")
	all := scope.MustParse("*")
	for _, m := range mutations {
		c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
		c.Scopes = reader
		mustCreate(t, s, c)

		locked, release := make(chan struct{}), make(chan struct{})
		widened := make(chan error, 1)
		go func() {
			_, err := s.UpdateClient(ctx(t), c.ID, store.ClientUpdate{Scopes: &all}, testAudit, func(*store.Client) error {
				close(locked)
				<-release
				return nil
			})
			widened <- err
		}()
		select {
		case <-locked:
		case err := <-widened:
			t.Fatalf("widening the scopes ended (err %v) without calling its guard", err)
		}

		asked := make(chan struct{}, 1)
		var seen *store.Client
		done := make(chan error, 1)
		go func() {
			done <- m.do(t, s, c.ID, func(cur *store.Client) error {
				seen = cloneClient(cur)
				asked <- struct{}{}
				if !reader.CoversAll(cur.Scopes) {
					return errRefused
				}
				return nil
			})
		}()
		// Give a store that judges too early the chance to show it: its guard
		// would run now, before the widening commits. A correct one waits.
		select {
		case <-asked:
		case <-time.After(300 * time.Millisecond):
		}
		close(release)
		if err := <-widened; err != nil {
			t.Fatalf("widening the scopes: %v", err)
		}
		err := <-done
		if seen == nil {
			t.Fatalf("%s did not call its guard", m.name)
		}
		if seen.Scopes.String() != "*" {
			t.Errorf("%s: the guard saw scopes %q, not the %q committed before the change was made", m.name, seen.Scopes, "*")
		}
		if !errors.Is(err, errRefused) {
			t.Errorf("%s after a concurrent widening: err = %v, want the guard's refusal", m.name, err)
		}
		got := mustGet(t, s, c.ID)
		if got.Scopes.String() != "*" || got.RevokedAt != nil || got.Name != c.Name || got.SecretHash != c.SecretHash {
			t.Errorf("%s changed the client despite the refusal: %+v", m.name, got)
		}
		var actions []string
		for _, e := range slices.Backward(allAudit(t, s, c.ID)) {
			actions = append(actions, e.Action)
		}
		if !slices.Equal(actions, []string{store.ActionCreate, store.ActionUpdate}) {
			t.Errorf("%s: audit actions %q, want only the creation and the widening", m.name, actions)
		}
	}
}
