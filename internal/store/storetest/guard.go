package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

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
