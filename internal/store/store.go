// Package store defines what the gateway keeps: OAuth clients and API keys, the
// signing keys that sign access tokens, and a change log that lets every gateway
// instance learn about revocations made anywhere. Implementations live in
// sub-packages and must pass the conformance suite in package storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// Errors every implementation returns (possibly wrapped).
var (
	// ErrNotFound: no client with that ID.
	ErrNotFound = errors.New("client not found")
	// ErrRevoked: the operation is not allowed on a revoked client.
	ErrRevoked = errors.New("client is revoked")
	// ErrExists: a client with that ID already exists.
	ErrExists = errors.New("client already exists")
	// ErrNoSession: no dashboard session with that token.
	ErrNoSession = errors.New("session not found")
)

// Type is the kind of credential a client holds.
type Type string

const (
	// TypeOAuth clients trade a client ID and secret for access tokens (RFC 6749 §4.4).
	TypeOAuth Type = "oauth"
	// TypeAPIKey clients present a long-lived API key directly.
	TypeAPIKey Type = "api_key"
)

// Valid reports whether t is a known type.
func (t Type) Valid() bool { return t == TypeOAuth || t == TypeAPIKey }

// Status is derived from a client's timestamps, never stored.
type Status string

const (
	StatusActive  Status = "active"
	StatusRevoked Status = "revoked"
	StatusExpired Status = "expired"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s == StatusActive || s == StatusRevoked || s == StatusExpired }

// Client is one OAuth client or API key. Only a hash of its secret is kept.
type Client struct {
	ID         string
	Name       string
	Type       Type
	Scopes     scope.Set
	SecretHash credential.Hash
	// SecretHint lets a person tell keys apart without revealing them.
	SecretHint string
	CreatedAt  time.Time
	ExpiresAt  *time.Time // nil: never expires
	RevokedAt  *time.Time // nil: not revoked
	LastUsedAt *time.Time // updated in batches; may lag by a few seconds

	// PreviousSecretHash is the secret replaced by the last roll, still
	// accepted until PreviousSecretExpiresAt (the roll's grace period).
	PreviousSecretHash      *credential.Hash
	PreviousSecretExpiresAt *time.Time

	// RateLimit is the client's own rate limit; nil for none.
	RateLimit *RateLimit

	// AuthMethod is how the client authenticates; "" reads as
	// AuthSecretBasic. A private_key_jwt client's secret hash is of a random
	// secret nobody was given, and SecretValidity never matches it.
	AuthMethod AuthMethod
	// Keys are a private_key_jwt client's public keys.
	Keys ClientKeys
	// RedirectURIs are where the authorization endpoint may send this
	// client's codes (exact match; any port for a loopback URI).
	RedirectURIs []string
}

// RateLimit is a client's rate limit: on average Requests per Per, with
// bursts of up to Burst requests (a token bucket).
type RateLimit struct {
	Requests int
	Per      time.Duration // one of RateLimitPeriods
	Burst    int
}

// RateLimitPeriods are the periods a rate limit may have.
var RateLimitPeriods = []time.Duration{time.Second, time.Minute, time.Hour}

// Valid reports whether l can be stored: positive counts and a known period.
func (l *RateLimit) Valid() bool {
	if l == nil {
		return true
	}
	return l.Requests > 0 && l.Burst > 0 && (l.Per == time.Second || l.Per == time.Minute || l.Per == time.Hour)
}

// SecretMatches reports whether secret is the client's secret, or its previous
// one within the grace period of a roll. Both comparisons always run, in
// constant time, so timing tells nothing about which matched.
func (c *Client) SecretMatches(secret string, now time.Time) bool {
	ok, _ := c.SecretValidity(secret, now)
	return ok
}

// SecretValidity is SecretMatches, also telling until when the secret
// works: nil for the current secret, the end of the grace period for the
// previous one. Both comparisons always run, in constant time.
func (c *Client) SecretValidity(secret string, now time.Time) (ok bool, until *time.Time) {
	return SecretValidity(c.SecretHash, c.AuthMethod, c.PreviousSecretHash, c.PreviousSecretExpiresAt, secret, now)
}

// SecretValidity is Client.SecretValidity of a record held in parts (the
// client cache keeps a compact one): secret against the current hash and,
// until previousExpires, the previous one. Both comparisons always run, in
// constant time.
func SecretValidity(hash credential.Hash, method AuthMethod, previous *credential.Hash, previousExpires *time.Time, secret string, now time.Time) (ok bool, until *time.Time) {
	current := hash.Matches(secret)
	if method == AuthPrivateKeyJWT {
		// One method per client: a key-holding client has no secret.
		return false, nil
	}
	prev := false
	if previous != nil {
		prev = previous.Matches(secret) && previousExpires != nil && now.Before(*previousExpires)
	}
	if current {
		return true, nil
	}
	if prev {
		return true, previousExpires
	}
	return false, nil
}

// Status is revoked once revoked_at is set, expired once expires_at has passed,
// else active. Revocation wins: a revoked client stays revoked after it expires.
func (c *Client) Status(now time.Time) Status {
	switch {
	case c.RevokedAt != nil:
		return StatusRevoked
	case c.ExpiresAt != nil && !now.Before(*c.ExpiresAt):
		return StatusExpired
	default:
		return StatusActive
	}
}

// Active is Status(now) == StatusActive without building the string; the request path calls it.
func (c *Client) Active(now time.Time) bool {
	return c.RevokedAt == nil && (c.ExpiresAt == nil || now.Before(*c.ExpiresAt))
}

// ListFilter selects and pages clients, newest first.
type ListFilter struct {
	Status Status // "" for any
	Type   Type   // "" for any
	Limit  int    // > 0
	// After continues a listing: the (CreatedAt, ID) of the last client of the previous page.
	After *Cursor
}

// Cursor is a position in the newest-first order: (created_at, client_id) is unique and stable.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// SigningKey is a token signing key, its private half encrypted at rest.
type SigningKey struct {
	KID       string
	Algorithm string
	// Sealed is the private key encrypted with a key derived from the
	// operator's secret (the format is package keyring's).
	Sealed    []byte
	CreatedAt time.Time
	// The key's schedule (see KeySchedule): when it starts signing, when it
	// stops being trusted (nil: not decided yet), when it was revoked (nil:
	// never), and the last state audited.
	KeySchedule
}

// Keyring is everything a store holds about the signing keys.
type Keyring struct {
	// DeploymentID is random, made when the database's schema is created;
	// sealed values are bound to it, so they do not open in another database.
	DeploymentID []byte
	// Check is a sealed value proving which secret the keys are sealed
	// under, so an instance can test its secret before it writes anything.
	// Nil until an instance of this version first seals (until then every
	// key is in the first sealed format).
	Check []byte
	// SessionKey is the sealed key that binds MCP session IDs to clients;
	// nil until first made.
	SessionKey []byte
	// Keys are the signing keys, newest first.
	Keys []SigningKey
}

// KeyringUpdate is what UpdateKeyring writes.
type KeyringUpdate struct {
	// Check replaces the check value, when not nil.
	Check []byte
	// SessionKey replaces the sealed session key, when not nil.
	SessionKey []byte
	// Put inserts keys, or replaces the sealed value of a stored kid (its
	// algorithm, creation time and schedule stay).
	Put []SigningKey
	// Schedule changes stored keys' schedules (keys.go); Events are the
	// audit events of the key changes, written with Audit.
	Schedule []KeyScheduleChange
	Events   []KeyEvent
	Audit    Audit
}

// Empty reports whether u writes nothing.
func (u KeyringUpdate) Empty() bool {
	return u.Check == nil && u.SessionKey == nil && len(u.Put) == 0 && len(u.Schedule) == 0 && len(u.Events) == 0
}

// Change says that a client was created, changed or deleted. IDs increase; the
// log is replayed after a dropped listener connection.
type Change struct {
	ID       int64
	ClientID string
	// JTI is set when the change revokes one access token (RFC 7009) rather
	// than changing the client.
	JTI string
	// Kind is "" for a client or token change, ChangeKeys when the keyring
	// changed (ClientID and JTI are then empty).
	Kind string
}

// RevokedToken is an access token revoked before its expiry.
type RevokedToken struct {
	JTI       string
	ClientID  string
	ExpiresAt time.Time
}

// Audit says who makes a change, for the audit event a store writes in the
// same transaction as the change itself. It never holds a secret.
type Audit struct {
	Time      time.Time
	Actor     string // a client ID, "master_key" or "cli"
	Source    string // the caller's address, if any
	RequestID string
}

// Audit actions.
const (
	ActionCreate     = "client.create"
	ActionUpdate     = "client.update"
	ActionRevoke     = "client.revoke"
	ActionRollSecret = "client.roll_secret"
	ActionDelete     = "client.delete"
)

// AuditEvent is a recorded change.
type AuditEvent struct {
	ID        int64
	Time      time.Time
	Actor     string
	Action    string
	ClientID  string
	Source    string
	RequestID string
}

// AuditFilter selects audit events, newest first.
type AuditFilter struct {
	ClientID string // "" for every client
	Limit    int    // > 0
	BeforeID int64  // 0: from the newest; else events with a smaller ID
}

// ClientUpdate lists the fields to change; nil leaves a field as it is.
type ClientUpdate struct {
	Name   *string
	Scopes *scope.Set
	// ExpiresAt: nil leaves it; a pointer to nil sets "never".
	ExpiresAt **time.Time
	// RateLimit: nil leaves it; a pointer to nil removes the limit.
	RateLimit **RateLimit
	// Keys: nil leaves them; else replaces a private_key_jwt client's keys.
	Keys *ClientKeys
	// RedirectURIs: nil leaves them; else replaces them.
	RedirectURIs *[]string
}

// SecretRoll replaces a client's secret.
type SecretRoll struct {
	Hash credential.Hash
	Hint string
	// PreviousValidUntil keeps the old secret working until then; nil ends it at once.
	PreviousValidUntil *time.Time
}

// Guard decides whether a change to an existing client may happen, from the
// client as it is when the change is made: a store calls it inside the
// change's transaction, after locking the client's row (or the database), so
// no other change to the client can come between the check and the change.
// A check made on an earlier read could be outdone by a concurrent change:
// an administrator allowed to revoke a client with narrow scopes must not
// revoke it after another one widened them. A non-nil error aborts the change
// with nothing written (no audit event, no change-log entry) and is returned
// as it is. A nil Guard allows every change. The store calls it at most once,
// only for a client that exists, before checking whether it is revoked. It
// must not call the store: it runs while the store holds the client's lock.
type Guard func(current *Client) error

// Session is a sign-in to the dashboard. The browser holds a random token in
// a cookie; the store keeps only the token's hash, so a copy of the database
// opens no session. Whether a session still works is decided on each request
// from the client it names as it is then (see admin/dashboard): the store
// only remembers who signed in, with what, and when.
type Session struct {
	// TokenHash is the SHA-256 of the cookie's token; the key.
	TokenHash credential.Hash
	// ClientID signed in; "" for the master key and for a person.
	ClientID string
	// Person is set when a person signed in through an OpenID Connect
	// provider (ClientID is "" then); nil for a key session.
	Person *SessionPerson
	// CredentialHash is the hash of the secret or key presented at sign-in:
	// the session ends when that secret stops working (a roll past its grace
	// period), as the secret itself would.
	CredentialHash credential.Hash
	CreatedAt      time.Time
	// LastSeenAt moves forward as the session is used (idle timeout).
	LastSeenAt time.Time
	// ExpiresAt is the absolute end, whatever the activity.
	ExpiresAt time.Time
}

// ChangeTimes reads when changes were written to the change log.
type ChangeTimes interface {
	// ChangeTimes returns the write time of each change-log entry of ids
	// still in the log (pruned ones are left out), for the change feed's lag
	// metric.
	ChangeTimes(ctx context.Context, ids []int64) (map[int64]time.Time, error)
}

// SessionPerson is who a person's session is, and what they may grant,
// as decided at sign-in from the provider's ID token and the configured
// rules. It is not decided again (the provider is not asked on every
// request); the session's lifetime bounds how long it holds.
type SessionPerson struct {
	// Issuer and Subject are the provider's "iss" and "sub": together, the
	// stable identity of the person.
	Issuer, Subject string
	// Email and Name are as the provider gave them, for display and audit.
	Email, Name string
	// MayGrant are the scopes the rules give the person.
	MayGrant scope.Set
}

// Store is everything the gateway needs from a database. Every mutation writes
// its audit event and its change-log entry in the same transaction as the
// change: all three happen, or none.
type Store interface {
	AuthCodeStore
	ChangeTimes

	// CreateClient inserts c; ErrExists if its ID is taken.
	CreateClient(ctx context.Context, c *Client, a Audit) error
	// GetClient returns the client or ErrNotFound.
	GetClient(ctx context.Context, id string) (*Client, error)
	// ListClients returns at most f.Limit clients, newest first, with now deciding
	// the expired status.
	ListClients(ctx context.Context, f ListFilter, now time.Time) ([]*Client, error)
	// RevokeClient sets revoked_at (keeping an earlier one: revoking is idempotent)
	// and returns the client; ErrNotFound if absent, or g's error.
	RevokeClient(ctx context.Context, id string, at time.Time, a Audit, g Guard) (*Client, error)
	// UpdateClient changes the fields u sets and returns the client;
	// ErrNotFound if absent, g's error, or ErrRevoked if revoked (nothing
	// changes then).
	UpdateClient(ctx context.Context, id string, u ClientUpdate, a Audit, g Guard) (*Client, error)
	// RollSecret replaces the client's secret; ErrNotFound, g's error, or ErrRevoked.
	RollSecret(ctx context.Context, id string, r SecretRoll, a Audit, g Guard) (*Client, error)
	// DeleteClient removes the client; ErrNotFound if absent, or g's error.
	DeleteClient(ctx context.Context, id string, a Audit, g Guard) error
	// ListAudit returns audit events, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)

	// RevokeToken records that one access token is revoked until it expires,
	// with a change-log entry carrying its jti; revoking it again is a no-op.
	RevokeToken(ctx context.Context, t RevokedToken) error
	// RevokedTokens lists the revoked tokens that have not expired at now.
	RevokedTokens(ctx context.Context, now time.Time) ([]RevokedToken, error)
	// TokenRevoked reports whether jti is on record as revoked: for the moments
	// when an instance cannot trust its denylist (its change feed is not
	// synced). An expired entry may answer true until it is pruned.
	TokenRevoked(ctx context.Context, jti string) (bool, error)
	// TouchLastUsed records last use times in one round trip; never moves a time backwards.
	TouchLastUsed(ctx context.Context, used map[string]time.Time) error

	// Keyring returns the keyring as it is.
	Keyring(ctx context.Context) (Keyring, error)
	// UpdateKeyring calls decide with the keyring as it is, holding a lock
	// that serialises every UpdateKeyring on the database, and writes what it
	// returns in the same transaction, returning the keyring afterwards.
	// decide's error aborts with nothing written and is returned as it is.
	// Instances starting together thus agree on one key, and an instance
	// proves its secret against what is stored before it writes.
	UpdateKeyring(ctx context.Context, decide func(Keyring) (KeyringUpdate, error)) (Keyring, error)

	// CreateSession stores a new dashboard session.
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns the session whose token hashes to tokenHash, expired
	// or not (the caller judges), or ErrNoSession.
	GetSession(ctx context.Context, tokenHash credential.Hash) (*Session, error)
	// TouchSession moves the session's LastSeenAt forward to at (never back);
	// no error if the session is gone.
	TouchSession(ctx context.Context, tokenHash credential.Hash, at time.Time) error
	// DeleteSession ends a session; no error if it is gone already.
	DeleteSession(ctx context.Context, tokenHash credential.Hash) error
	// PruneSessions deletes the sessions that ended: ExpiresAt not after now,
	// or LastSeenAt before idleSince.
	PruneSessions(ctx context.Context, now, idleSince time.Time) error

	// Follow reports every change made by anyone, from any process, to w until
	// ctx ends. It reconnects by itself and replays what it missed.
	Follow(ctx context.Context, w Watcher) error

	// Ping reports whether the database answers a query now, for readiness
	// probes.
	Ping(ctx context.Context) error

	// Close releases the store's connections.
	Close()

	AssertionStore
}

// CaughtUpWatcher is a Watcher that wants to know, when its follower loses
// the change log, since when changes may have been missed. A follower that
// knows (a poller: the start of its last poll that worked) calls CaughtUpAt
// with that moment just before Synced(false), so that staleness is counted
// from when the watcher was last known to be current, not from when the
// loss was noticed (a poll may hang for its whole timeout first).
type CaughtUpWatcher interface {
	CaughtUpAt(t time.Time)
}

// Watcher receives what Store.Follow sees.
type Watcher interface {
	// Changed: a client was created, changed or deleted.
	Changed(Change)
	// Synced reports whether the follower is caught up and listening (true) or
	// has lost its connection and may be missing changes (false).
	Synced(bool)
	// Reset: changes may have been missed for good (the log was pruned past the
	// follower's position); everything cached must be forgotten.
	Reset()
}
