package store

import (
	"context"
	"time"
)

// AuthMethod is how an OAuth client authenticates at the token, revocation
// and introspection endpoints: RFC 7591 §2's token_endpoint_auth_method.
type AuthMethod string

const (
	// AuthSecretBasic and AuthSecretPost are a shared secret (RFC 6749
	// §2.3.1). A secret client may use either: the registered one is what
	// the client asked for, not a restriction.
	AuthSecretBasic AuthMethod = "client_secret_basic"
	AuthSecretPost  AuthMethod = "client_secret_post"
	// AuthPrivateKeyJWT is a JWT signed with one of the client's registered
	// keys (RFC 7523 §2.2, OpenID Connect Core §9): the client holds no
	// secret the gateway knows.
	AuthPrivateKeyJWT AuthMethod = "private_key_jwt"
)

// Valid reports whether m is a known method.
func (m AuthMethod) Valid() bool {
	return m == AuthSecretBasic || m == AuthSecretPost || m == AuthPrivateKeyJWT
}

// OrDefault is m, or AuthSecretBasic for the zero value (clients created
// before methods were recorded).
func (m AuthMethod) OrDefault() AuthMethod {
	if m == "" {
		return AuthSecretBasic
	}
	return m
}

// ClientKeys are the public keys of a private_key_jwt client: an inline
// JWK Set (RFC 7517 §5) or the https URL it is fetched from, exactly one of
// the two. Both are empty for a secret client.
type ClientKeys struct {
	// JWKS is the JWK Set as registered (JSON text).
	JWKS string
	// JWKSURI is where the JWK Set is fetched.
	JWKSURI string
}

// Empty reports whether k holds no keys.
func (k ClientKeys) Empty() bool { return k.JWKS == "" && k.JWKSURI == "" }

// AssertionPruneMargin is how long past its expiry the housekeeping keeps
// a used jti: an instance whose clock runs behind the pruner's (or the
// database's) still accepts an expired assertion for that long, and must
// find its jti on record to refuse a replay. Clocks of the instances and the
// database are assumed to agree within it.
const AssertionPruneMargin = 5 * time.Minute

// AssertionStore remembers the client assertions (RFC 7523 §3) already used,
// so that one is accepted once across every instance on the database.
type AssertionStore interface {
	// UseAssertion records that clientID presented an assertion with jti,
	// which the authorization server would accept until expiresAt. It
	// returns false, recording nothing, when (clientID, jti) is on record
	// with an expiry after now: a replay. A record expired at now does not
	// count (the jti may be used again, by an assertion no server accepts
	// past its expiry anyway); the store deletes records expired for
	// AssertionPruneMargin in its housekeeping.
	UseAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) (fresh bool, err error)
}
