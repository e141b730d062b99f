package keyring

import (
	"context"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// KeyInfo describes a signing key for people: never its private half.
type KeyInfo struct {
	KID         string     `json:"kid"`
	Algorithm   string     `json:"algorithm"`
	State       string     `json:"state"` // published, active, retiring, retired or revoked
	CreatedAt   time.Time  `json:"created_at"`
	ActivatesAt time.Time  `json:"activates_at"`
	RetiresAt   *time.Time `json:"retires_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// Describe lists kr's keys, newest first, with their states at now. It
// needs no secret: it reads only what is stored in the clear.
func Describe(kr store.Keyring, now time.Time) []KeyInfo {
	entries := make([]Entry, len(kr.Keys))
	for i, sk := range kr.Keys {
		entries[i] = Entry{Key: &token.Key{KID: sk.KID, Algorithm: sk.Algorithm}, CreatedAt: sk.CreatedAt, KeySchedule: sk.KeySchedule}
	}
	return describe(entries, now)
}

func describe(entries []Entry, now time.Time) []KeyInfo {
	out := make([]KeyInfo, 0, len(entries))
	for i := range entries {
		e := &entries[i]
		out = append(out, KeyInfo{
			KID: e.Key.KID, Algorithm: e.Key.Algorithm, State: e.State(now, signingAt(entries, e.Key.Algorithm, now)),
			CreatedAt: e.CreatedAt, ActivatesAt: e.ActivatesAt, RetiresAt: e.RetiresAt, RevokedAt: e.RevokedAt,
		})
	}
	return out
}

// Manager manages the keys of a database by hand (the admin API, the CLI).
type Manager interface {
	// List describes every key, newest first.
	List(ctx context.Context) ([]KeyInfo, error)
	// Rotate publishes a successor activating after the lead or, with now,
	// activates a new key at once and revokes every other; a is who asks.
	Rotate(ctx context.Context, a store.Audit, now bool) ([]KeyInfo, error)
}

// Offline is a Manager on a store alone, for the CLI: running gateways
// learn of its changes through the change feed.
type Offline struct {
	Store   store.Store
	Options Options
}

// List implements Manager.
func (m *Offline) List(ctx context.Context) ([]KeyInfo, error) {
	kr, err := m.Store.Keyring(ctx)
	if err != nil {
		return nil, err
	}
	return Describe(kr, time.Now()), nil
}

// Rotate implements Manager.
func (m *Offline) Rotate(ctx context.Context, a store.Audit, now bool) ([]KeyInfo, error) {
	o := m.Options
	o.Audit = a
	o.Now = time.Now()
	ring, err := Rotate(ctx, m.Store, o, now)
	if err != nil {
		return nil, err
	}
	return describe(ring.Entries, o.Now.UTC().Truncate(time.Microsecond)), nil
}

var _ Manager = (*Offline)(nil)
