package storetest

import (
	"cmp"
	"errors"
	"fmt"
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
	if !sameRateLimit(got.RateLimit, want.RateLimit) {
		d = append(d, fmt.Sprintf("RateLimit = %s, want %s", fmtRateLimit(got.RateLimit), fmtRateLimit(want.RateLimit)))
	}
	if got.AuthMethod.OrDefault() != want.AuthMethod.OrDefault() {
		d = append(d, fmt.Sprintf("AuthMethod = %q, want %q", got.AuthMethod, want.AuthMethod.OrDefault()))
	}
	if got.Keys != want.Keys {
		d = append(d, fmt.Sprintf("Keys = %+v, want %+v", got.Keys, want.Keys))
	}
	if !slices.Equal(got.RedirectURIs, want.RedirectURIs) {
		d = append(d, fmt.Sprintf("RedirectURIs = %q, want %q", got.RedirectURIs, want.RedirectURIs))
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
		RedirectURIs:            []string{"https://app.example.com/cb?x=1&y=%20", "http://127.0.0.1/callback", "vscode://blnk/cb"},
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
