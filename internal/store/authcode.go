package store

import (
	"context"
	"errors"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// Errors of the authorization-code flow's store methods.
var (
	// ErrNoCode: no authorization code with that hash, or it has expired.
	ErrNoCode = errors.New("authorization code not found or expired")
	// ErrCodeReused: the code was redeemed before (RFC 6749 §4.1.2: the
	// server should revoke what it issued).
	ErrCodeReused = errors.New("authorization code already used")
	// ErrNoRefreshToken: no refresh token with that hash, it has expired, or
	// its grant was revoked.
	ErrNoRefreshToken = errors.New("refresh token not found or expired")
	// ErrRefreshReused: the refresh token was rotated before; its whole
	// family has been revoked (OAuth 2.1 §4.3.1 reuse detection).
	ErrRefreshReused = errors.New("refresh token already used; its family is revoked")
	// ErrNoGrant: no grant of that client by that person.
	ErrNoGrant = errors.New("grant not found")
)

// Audit actions of the authorization-code flow.
const (
	ActionGrantApprove = "grant.approve"
	ActionGrantRevoke  = "grant.revoke"
)

// Grant is a person's remembered consent to a client: the scopes the person
// approved for it, until revoked.
type Grant struct {
	ClientID   string
	PersonID   string
	PersonName string
	Scopes     scope.Set
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// AuthCode is an authorization code (RFC 6749 §4.1.2), kept as a hash, bound
// to everything the token request must repeat or prove.
type AuthCode struct {
	Hash          credential.Hash
	ClientID      string
	PersonID      string
	PersonName    string
	RedirectURI   string
	CodeChallenge string // RFC 7636 S256 challenge
	Resource      string // RFC 8707; "" for the default audience
	Scopes        scope.Set
	// Family names the refresh tokens the code's exchange starts.
	Family    string
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// RefreshToken is one opaque refresh token, kept as a hash. Tokens of one
// family descend from one code by rotation and share its expiry.
type RefreshToken struct {
	Hash      credential.Hash
	Family    string
	ClientID  string
	PersonID  string
	Scopes    scope.Set
	Resource  string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	// AccessJTI is the access token issued with this refresh token, and
	// AccessExpiresAt until when a revocation must keep it (its expiry plus
	// leeway): revoking the family revokes it too, in the same transaction.
	AccessJTI       string
	AccessExpiresAt *time.Time
}

// AuthCodeStore keeps the grants, codes and refresh tokens of the
// authorization-code flow.
type AuthCodeStore interface {
	// SaveGrant records (or replaces) a person's consent to a client, with its
	// audit event (grant.approve, actor the person) and a change-log entry for
	// the client, in one transaction; ErrNotFound if the client is absent,
	// ErrRevoked if it is revoked. A client ID that is an https URL (a
	// client known by its metadata document, never stored) is not checked.
	SaveGrant(ctx context.Context, g *Grant, a Audit) error
	// GetGrant returns the grant of clientID by personID, or ErrNoGrant.
	GetGrant(ctx context.Context, clientID, personID string) (*Grant, error)
	// ListGrants lists a client's grants, newest first.
	ListGrants(ctx context.Context, clientID string) ([]*Grant, error)
	// ListMetadataGrants lists at most limit grants of clients known by their
	// metadata documents (client IDs that are https URLs), newest first.
	ListMetadataGrants(ctx context.Context, limit int) ([]*Grant, error)
	// RevokeGrant deletes a grant and every refresh token issued under it,
	// with its audit event and a change-log entry; ErrNoGrant if absent.
	RevokeGrant(ctx context.Context, clientID, personID string, a Audit) error

	// SaveCode stores a new authorization code (and prunes expired ones).
	SaveCode(ctx context.Context, c *AuthCode) error
	// RedeemCode redeems a code in one transaction holding the code's row:
	// it marks the code used at now and calls issue with it, which judges the
	// token request and returns the refresh token to store (named with the
	// access token it issued) or an error. The code is spent whatever issue
	// answers; its error is returned as it is, with nothing else written.
	// The refresh token is stored (ErrNoGrant, code spent, if the grant is
	// gone meanwhile) and its access token remembered on the code. ErrNoCode
	// when unknown or expired. A code used before answers ErrCodeReused and
	// revokes, in the same transaction, what it issued: its refresh token
	// family and, unexpired, the access tokens issued with them and by the
	// exchange (RFC 6749 §4.1.2); a concurrent replay waits for the first
	// redemption to commit, so nothing it issues escapes.
	RedeemCode(ctx context.Context, hash credential.Hash, now time.Time, issue func(*AuthCode) (*RefreshToken, error)) error

	// CreateRefreshToken stores a new refresh token and marks its grant used
	// at its CreatedAt; ErrNoGrant when the grant is gone.
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// RotateRefreshToken spends the token hashed old and stores its successor
	// next (same family, client, person, scopes, resource and expiry) in one
	// transaction, marking the grant used, and returns the successor. mint,
	// called inside the transaction with the successor, issues its access
	// token and sets AccessJTI and AccessExpiresAt; its error aborts with
	// nothing written. ErrNoRefreshToken when unknown, expired or its grant is
	// gone; a token spent before revokes the family and returns
	// ErrRefreshReused.
	RotateRefreshToken(ctx context.Context, old, next credential.Hash, now time.Time, mint func(*RefreshToken) error) (*RefreshToken, error)
	// RevokeRefreshToken deletes the family of the token hashed h (RFC 7009
	// §2.1) if it belongs to clientID, returning it; ErrNoRefreshToken if
	// there is none.
	RevokeRefreshToken(ctx context.Context, h credential.Hash, clientID string) (*RefreshToken, error)
	// RevokeRefreshFamily deletes every refresh token of a family.
	RevokeRefreshFamily(ctx context.Context, family string) error

	// RevokeClient and DeleteClient end, in their transaction, a client's
	// refresh tokens and codes and what it approved as a person
	// (ClientPersonID): those persons' refresh tokens with their unexpired
	// access tokens, codes and grants.
	//
	// Whenever refresh tokens are revoked (a family by any of the methods
	// above, or a grant's by RevokeGrant), the access tokens issued with them
	// that have not expired are revoked in the same transaction, as
	// RevokeToken would: the denylist of every instance learns of them
	// through the change feed.
}

// ClientPersonIDPrefix begins the person ID of someone signed in with a
// client's key (the dashboard's key sessions): that client acting as a
// person. Revoking or deleting the client ends what it approved.
const ClientPersonIDPrefix = "client:"

// ClientPersonID is the person ID of a session signed in with clientID's key.
func ClientPersonID(clientID string) string { return ClientPersonIDPrefix + clientID }
