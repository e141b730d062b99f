package storetest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

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
	if d.RateLimit != nil {
		l := *d.RateLimit
		d.RateLimit = &l
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
