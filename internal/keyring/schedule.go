package keyring

import (
	"fmt"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// A key's life (package store's KeySchedule holds it): created and published
// in the JWKS at once; signs from ActivatesAt, which is at least Policy.Lead
// after its creation, so that every verifier that caches the JWKS (for at
// most its max-age, shorter than the lead) has it before the first token it
// signs; replaced when a successor activates; still published and trusted
// until RetiresAt, the successor's activation (its last signing moment) plus
// the longest a token lives; then retired. An emergency rotation activates
// a new key at once and revokes the others: never trusted again.

// Policy says when keys rotate.
type Policy struct {
	// Period is how long a key signs before its successor activates; 0
	// turns automatic rotation off (keys still rotate by hand).
	Period time.Duration
	// Lead is how long a new key is published before it signs; it must be
	// longer than the JWKS response's max-age.
	Lead time.Duration
	// Retain is how long a replaced key stays trusted after its successor
	// activates; 0 means RetainDefault.
	Retain time.Duration
}

// RetainDefault is how long a replaced key stays published and trusted
// after its last signing moment: the longest a token lives, plus the clock
// skew tolerated.
const RetainDefault = token.MaxTTL + token.MaxLeeway

func (p Policy) retain() time.Duration {
	if p.Retain > 0 {
		return p.Retain
	}
	return RetainDefault
}

// Check reports a policy that cannot work: a period not longer than the lead
// would publish keys faster than they activate.
func (p Policy) Check() error {
	if p.Lead < 0 || p.Period < 0 || p.Retain < 0 {
		return fmt.Errorf("negative key rotation durations")
	}
	if p.Period > 0 && p.Period <= p.Lead {
		return fmt.Errorf("signing key rotation period %s must be longer than the publish lead %s", p.Period, p.Lead)
	}
	return nil
}

// Entry is an opened key and its schedule.
type Entry struct {
	Key       *token.Key
	CreatedAt time.Time
	store.KeySchedule
}

// Trusted: published and trusted at now (not revoked, not retired).
func (e *Entry) Trusted(now time.Time) bool {
	return e.RevokedAt == nil && (e.RetiresAt == nil || now.Before(*e.RetiresAt))
}

// signsAt reports whether e may sign at now (if trusted): from its
// activation on, or at once whatever the clock says for a key made to sign
// at once (first start, emergency: activated when created), which an
// instance whose clock is behind the creator's would otherwise see as not
// active yet, and replace with one of its own.
func (e *Entry) signsAt(now time.Time) bool {
	return !e.ActivatesAt.After(now) || e.ActivatesAt.Equal(e.CreatedAt)
}

// signingAt is the entry of alg that signs at now: the trusted one activated
// last; nil if none.
func signingAt(entries []Entry, alg string, now time.Time) *Entry {
	var best *Entry
	for i := range entries {
		e := &entries[i]
		if e.Key.Algorithm != alg || !e.Trusted(now) || !e.signsAt(now) {
			continue
		}
		if best == nil || e.ActivatesAt.After(best.ActivatesAt) || e.ActivatesAt.Equal(best.ActivatesAt) && e.CreatedAt.After(best.CreatedAt) {
			best = e
		}
	}
	return best
}

// pendingOf is the trusted entry of alg activating after now that activates
// last; nil if none.
func pendingOf(entries []Entry, alg string, now time.Time) *Entry {
	var best *Entry
	for i := range entries {
		e := &entries[i]
		if e.Key.Algorithm == alg && e.Trusted(now) && !e.signsAt(now) && (best == nil || e.ActivatesAt.After(best.ActivatesAt)) {
			best = e
		}
	}
	return best
}

// State is e's state at now, signing being the entry that signs its
// algorithm at now.
func (e *Entry) State(now time.Time, signing *Entry) string {
	switch {
	case e.RevokedAt != nil:
		return store.KeyRevoked
	case e.RetiresAt != nil && !now.Before(*e.RetiresAt):
		return store.KeyRetired
	case !e.signsAt(now):
		return store.KeyPublished
	case e == signing:
		return store.KeyActive
	default:
		return store.KeyRetiring
	}
}

// audited is the state as audit events follow it: a retiring key was
// activated, and its retirement is the next event.
func audited(state string) string {
	if state == store.KeyRetiring {
		return store.KeyActive
	}
	return state
}

// stateRank orders the audited states: a key's recorded state only moves
// forward. Unknown states rank lowest.
var stateRank = map[string]int{store.KeyPublished: 1, store.KeyActive: 2, store.KeyRetired: 3, store.KeyRevoked: 4}

// operation is what a planning pass is asked to do besides keeping the
// keyring sound.
type operation int

const (
	opAuto      operation = iota // rotate when the policy says so
	opRotate                     // publish a successor now, activating after the lead
	opRotateNow                  // activate a new key now and revoke every other
)

// schedule adds to u what keeps alg's keys on policy p at now, and what op
// asks: keys to create (sealed by s), schedules to change and their audit
// events. ring.Entries are the keys that opened; it updates them as the
// update would, and sets ring.Keys and ring.Signing.
func schedule(ring *Ring, u *store.KeyringUpdate, s *sealer, alg string, p Policy, op operation, now time.Time) error {
	create := func(activates time.Time) (*Entry, error) {
		k, err := token.GenerateKey(alg)
		if err != nil {
			return nil, err
		}
		state := store.KeyPublished
		if !activates.After(now) {
			state = store.KeyActive
		}
		sk, err := s.sealKey(k, store.SigningKey{CreatedAt: now, KeySchedule: store.KeySchedule{ActivatesAt: activates, RecordedState: state}})
		if err != nil {
			return nil, err
		}
		u.Put = append(u.Put, sk)
		u.Events = append(u.Events, store.KeyEvent{KID: k.KID, Action: store.ActionKeyCreated})
		if state == store.KeyActive {
			u.Events = append(u.Events, store.KeyEvent{KID: k.KID, Action: store.ActionKeyActivated})
		}
		ring.Entries = append([]Entry{{Key: k, CreatedAt: now, KeySchedule: sk.KeySchedule}}, ring.Entries...)
		return &ring.Entries[0], nil
	}
	// succeed gives every trusted key of alg activating before next, and
	// not yet given one, its retirement: next's activation plus Retain.
	succeed := func(next *Entry) {
		retires := next.ActivatesAt.Add(p.retain())
		for i := range ring.Entries {
			e := &ring.Entries[i]
			if e == next || e.Key.Algorithm != alg || !e.Trusted(now) || e.RetiresAt != nil || e.ActivatesAt.After(next.ActivatesAt) {
				continue
			}
			e.RetiresAt = &retires
			u.Schedule = append(u.Schedule, store.KeyScheduleChange{KID: e.Key.KID, RetiresAt: &retires})
		}
	}

	switch op {
	case opRotateNow:
		// The emergency: every key but the new one may be in the wrong hands.
		for i := range ring.Entries {
			e := &ring.Entries[i]
			if e.RevokedAt != nil || !e.Trusted(now) {
				continue
			}
			at := now
			e.RevokedAt, e.RecordedState = &at, store.KeyRevoked
			u.Schedule = append(u.Schedule, store.KeyScheduleChange{KID: e.Key.KID, RevokedAt: &at, RecordedState: store.KeyRevoked})
			u.Events = append(u.Events, store.KeyEvent{KID: e.Key.KID, Action: store.ActionKeyRevoked})
		}
		if _, err := create(now); err != nil {
			return err
		}
	default:
		active := signingAt(ring.Entries, alg, now)
		if active == nil {
			// A first start, or this algorithm's keys were revoked: sign at
			// once rather than refuse every token request for the lead.
			e, err := create(now)
			if err != nil {
				return err
			}
			active = e
		}
		if pendingOf(ring.Entries, alg, now) == nil {
			var activates time.Time
			switch {
			case op == opRotate:
				activates = now.Add(p.Lead)
			case p.Period > 0 && !now.Before(active.ActivatesAt.Add(p.Period-p.Lead)):
				// Due: publish now, activate when the period ends (or after
				// the lead, when this instance is late).
				activates = later(active.ActivatesAt.Add(p.Period), now.Add(p.Lead))
			}
			if !activates.IsZero() {
				next, err := create(activates)
				if err != nil {
					return err
				}
				succeed(next)
			}
		}
	}

	if op != opRotateNow && p.Period > 0 {
		retireAbandoned(ring, u, alg, p, now)
	}

	// Audit each transition once, whichever instance sees it first.
	for i := range ring.Entries {
		e := &ring.Entries[i]
		state := audited(e.State(now, signingAt(ring.Entries, e.Key.Algorithm, now)))
		if state == store.KeyPublished || stateRank[state] <= stateRank[e.RecordedState] {
			// Already recorded, or recorded further on by an instance whose
			// clock is ahead of this one's: going back would be written again
			// by that one, each write making the other reload, in a loop.
			continue
		}
		action := map[string]string{store.KeyActive: store.ActionKeyActivated, store.KeyRetired: store.ActionKeyRetired, store.KeyRevoked: store.ActionKeyRevoked}[state]
		e.RecordedState = state
		u.Schedule = append(u.Schedule, store.KeyScheduleChange{KID: e.Key.KID, RecordedState: state})
		u.Events = append(u.Events, store.KeyEvent{KID: e.Key.KID, Action: action})
	}

	ring.Keys = ring.Keys[:0]
	for i := range ring.Entries {
		if ring.Entries[i].Trusted(now) {
			ring.Keys = append(ring.Keys, ring.Entries[i].Key)
		}
	}
	ring.Signing = signingAt(ring.Entries, alg, now).Key
	return nil
}

// retireAbandoned gives a retirement to the keys of algorithms other than
// alg that no instance rotates any more (signing_algorithm changed on every
// instance): the signing key of such an algorithm has signed a whole period
// with no successor, which a running instance of it would have published a
// lead before. Without this nothing would ever retire them: published and
// trusted for ever. They retire after Retain, like a replaced key, as one
// may still sign until now.
func retireAbandoned(ring *Ring, u *store.KeyringUpdate, alg string, p Policy, now time.Time) {
	done := map[string]bool{alg: true}
	for i := range ring.Entries {
		other := ring.Entries[i].Key.Algorithm
		if done[other] {
			continue
		}
		done[other] = true
		a := signingAt(ring.Entries, other, now)
		if a == nil || a.RetiresAt != nil || pendingOf(ring.Entries, other, now) != nil || now.Before(a.ActivatesAt.Add(p.Period)) {
			continue
		}
		retires := now.Add(p.retain())
		for j := range ring.Entries {
			e := &ring.Entries[j]
			if e.Key.Algorithm == other && e.Trusted(now) && e.RetiresAt == nil {
				e.RetiresAt = &retires
				u.Schedule = append(u.Schedule, store.KeyScheduleChange{KID: e.Key.KID, RetiresAt: &retires})
			}
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// NextEvent is the first moment after now at which a key of the ring
// activates or retires, or p asks for a new one for alg; zero if none.
func (r *Ring) NextEvent(alg string, p Policy, now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for i := range r.Entries {
		e := &r.Entries[i]
		if e.RevokedAt != nil {
			continue
		}
		consider(e.ActivatesAt)
		if e.RetiresAt != nil {
			consider(*e.RetiresAt)
		}
	}
	if p.Period > 0 && pendingOf(r.Entries, alg, now) == nil {
		if a := signingAt(r.Entries, alg, now); a != nil {
			due := a.ActivatesAt.Add(p.Period - p.Lead)
			if !due.After(now) {
				due = now.Add(time.Nanosecond)
			}
			consider(due)
		}
	}
	return next
}

// SigningAt is the key that signs tokens of alg at now; nil if none.
func (r *Ring) SigningAt(alg string, now time.Time) *token.Key {
	if e := signingAt(r.Entries, alg, now); e != nil {
		return e.Key
	}
	return nil
}

// TrustedAt lists the keys published and trusted at now, newest first.
func (r *Ring) TrustedAt(now time.Time) []*token.Key {
	var out []*token.Key
	for i := range r.Entries {
		if r.Entries[i].Trusted(now) {
			out = append(out, r.Entries[i].Key)
		}
	}
	return out
}
