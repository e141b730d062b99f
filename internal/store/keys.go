package store

import "time"

// ChangeKeys is the Kind of a change-log entry saying that the keyring
// changed: a key was created, resealed, activated, retired or revoked. Every
// instance reloads its keyring when it sees one.
const ChangeKeys = "keys"

// Key states, as listed and audited. Which one a key is in follows from its
// schedule and the time (package keyring decides); RecordedState remembers
// the last one audited.
const (
	// KeyPublished: in the JWKS, not signing yet.
	KeyPublished = "published"
	// KeyActive: signs new tokens.
	KeyActive = "active"
	// KeyRetiring: replaced, still in the JWKS and trusted until the tokens
	// it signed have expired.
	KeyRetiring = "retiring"
	// KeyRetired: no longer published or trusted.
	KeyRetired = "retired"
	// KeyRevoked: revoked by an emergency rotation; never trusted again.
	KeyRevoked = "revoked"
)

// Audit actions of key events; an event's ClientID holds the key's kid.
const (
	ActionKeyCreated   = "key.created"
	ActionKeyActivated = "key.activated"
	ActionKeyRetired   = "key.retired"
	ActionKeyRevoked   = "key.revoked"
)

// KeySchedule is a signing key's life.
type KeySchedule struct {
	// ActivatesAt is when the key starts signing; it is published before.
	ActivatesAt time.Time
	// RetiresAt is when it stops being published and trusted; nil until a
	// successor is scheduled.
	RetiresAt *time.Time
	// RevokedAt is when it was revoked; nil if never.
	RevokedAt *time.Time
	// RecordedState is the last state an audit event was written for.
	RecordedState string
}

// KeyScheduleChange changes a stored key's schedule; nil fields and an empty
// RecordedState leave what is stored.
type KeyScheduleChange struct {
	KID           string
	RetiresAt     *time.Time
	RevokedAt     *time.Time
	RecordedState string
}

// KeyEvent is the audit event of a key change: Action is one of the
// ActionKey* constants.
type KeyEvent struct {
	KID    string
	Action string
}
