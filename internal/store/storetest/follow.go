package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

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
	// Not t.Context: Follow must run until stop, which may run at cleanup,
	// after t.Context is cancelled, and checks that Follow ends when stop
	// cancels it.
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
