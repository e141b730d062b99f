// Package authn decides who a request is: it takes the request's one
// credential (an RFC 9068 access token or an API key, RFC 6750 §2.1), finds
// the active client behind it and the scopes it holds now, and refuses with
// an Error that knows its status, code and challenge. blnk_auth, the admin
// API and token introspection all decide through it, so they cannot
// disagree. It knows nothing about Caddy.
package authn

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/throttle"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// APIKeyHeader carries an API key as an alternative to the Authorization header.
const APIKeyHeader = "X-Blnk-Key"

// Credential is the one credential a request presents.
type Credential struct {
	Value  string
	APIKey bool // an API key (in X-Blnk-Key, or as a bearer value); else an access token
	// Addr is the address the credential came from, for the Decider's
	// failure throttle; "" leaves it unthrottled (introspection judges
	// other parties' credentials, not its caller's).
	Addr string
}

// CredentialOf extracts the one credential of a request (RFC 6750 §2.1: one
// method only): a bearer value, or an API key in X-Blnk-Key. An access
// token's syntax is left to Decide, which checks it only when the token is
// not in the verified-token cache (token.Verifier.VerifyBearer).
func CredentialOf(hdr http.Header) (Credential, *Error) {
	authz, keys := hdr["Authorization"], hdr[APIKeyHeader]
	switch {
	case len(authz)+len(keys) == 0:
		return Credential{}, ErrNoCredential
	case len(authz)+len(keys) > 1:
		return Credential{}, ErrTwoCredentials
	case len(keys) == 1:
		if !credential.IsAPIKey(keys[0]) {
			return Credential{}, ErrInvalidAPIKey
		}
		return Credential{Value: keys[0], APIKey: true}, nil
	}
	const scheme = "Bearer "
	v := authz[0]
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		if i := strings.IndexByte(v, ' '); i > 0 && !strings.EqualFold(v[:i], "Bearer") {
			return Credential{}, ErrNoCredential // another scheme: not a credential of ours
		}
		return Credential{}, ErrMalformed
	}
	cred := v[len(scheme):]
	if cred == "" || len(cred) > token.MaxTokenLength {
		return Credential{}, ErrMalformed
	}
	if credential.IsAPIKey(cred) {
		if !token.IsB64Token(cred) {
			return Credential{}, ErrMalformed
		}
		return Credential{Value: cred, APIKey: true}, nil
	}
	return Credential{Value: cred}, nil
}

// Principal is who a credential was decided to be.
type Principal struct {
	Client *clientcache.Entry
	Token  *token.Verified // nil for an API key
	// Scopes are what the credential holds now: a token's scopes narrowed to
	// what its client still holds, or an API key's client's scopes.
	Scopes scope.Set
	// ScopesBoxed is Scopes.String() as an interface value when it was made
	// in advance (the common case), else nil.
	ScopesBoxed any
}

// Audience decides whether a token's audience (RFC 9068 §4, "aud") fits
// where the token is used.
type Audience interface {
	AcceptsAudience(t *token.Verified) bool
}

// Resources is the audience rule of a protected resource: the default
// audience, or one of the resource's identifiers (RFC 8707), tolerant of one
// trailing slash. Never the request's Host: that is the caller's to choose.
type Resources struct {
	Default string   // the audience of tokens requested without a resource
	IDs     []string // the resource's identifiers, without a trailing slash
}

// AcceptsAudience implements Audience.
func (a *Resources) AcceptsAudience(t *token.Verified) bool {
	if t.HasAudience(a.Default) {
		return true
	}
	for _, aud := range t.Audience {
		for _, id := range a.IDs {
			if SameResource(aud, id) {
				return true
			}
		}
	}
	return false
}

// AnyAudience accepts tokens for every resource: introspection reports on
// tokens for any resource server.
type AnyAudience struct{}

// AcceptsAudience implements Audience.
func (AnyAudience) AcceptsAudience(*token.Verified) bool { return true }

// SameResource compares resource URLs, ignoring one trailing slash (RFC 9728
// §3.3 wants identical URLs; clients differ on the slash, never on the path).
func SameResource(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// Clients finds client records; *clientcache.Cache is one.
type Clients interface {
	Get(ctx context.Context, id string) (*clientcache.Entry, error)
	// Lookup answers from memory only (ok false: it would need the store);
	// Load reads the store.
	Lookup(id string) (e *clientcache.Entry, ok bool, err error)
	Load(ctx context.Context, id string) (*clientcache.Entry, error)
}

// Revocations tells whether a single access token was revoked before its
// expiry; an error means it cannot tell. *backend.Backend is one.
type Revocations interface {
	TokenRevoked(ctx context.Context, jti string) (bool, error)
}

// Decider decides credentials: credential → client → scopes.
type Decider struct {
	Clients  Clients
	Verifier *token.Verifier
	Revoked  Revocations
	Logger   *zap.Logger // per-request detail at debug level; nil logs nothing
	// Throttle counts failed API keys per address and client ID and refuses
	// an API key from an address (or against a client ID) over its budget
	// unjudged: Throttled, with no store read and no hashing. Access tokens
	// are not counted: guessing one means forging a signature, and checking
	// one reads no store. Nil throttles nothing.
	Throttle *throttle.Throttle
	// MetadataScopes, when not nil, accepts access tokens of clients known
	// only by their Client ID Metadata Document (client_id an https URL,
	// which the token endpoint issues through the authorization-code flow
	// alone): they have no client record, so such a token is judged by its
	// signature, audience and the denylist (revoking their grant revokes
	// them), and holds at most these scopes (blnk_auth client_metadata
	// scopes, which may have narrowed since). Nil refuses them.
	MetadataScopes *scope.Set
}

// Throttled is the refusal of a credential that was not judged because its
// address, or its client ID from failing addresses, failed too often (RFC
// 6749 §2.3.1): 429 with Retry-After. The code is the one the gateway uses for
// every "retry later": invalid_client or invalid_token would claim the
// credential was judged wrong.
func Throttled(retryAfter time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "temporarily_unavailable", Description: "too many failed authentications; retry after the Retry-After delay", RetryAfter: retryAfter}
}

// Authenticate decides the request's one credential (CredentialOf, Decide),
// which came from addr ("" leaves it unthrottled).
func (d *Decider) Authenticate(r *http.Request, addr string, aud Audience, now time.Time) (Principal, *Error) {
	cred, err := CredentialOf(r.Header)
	if err != nil {
		return Principal{}, err
	}
	cred.Addr = addr
	return d.Decide(r.Context(), cred, aud, now)
}

// Decide finds the active client behind cred and the scopes it holds now. An
// access token must verify (signature, issuer, expiry), fit aud, not be
// revoked, and belong to an active OAuth client; an API key must match its
// active API-key client's secret.
func (d *Decider) Decide(ctx context.Context, cred Credential, aud Audience, now time.Time) (Principal, *Error) {
	if cred.APIKey {
		id, err := credential.ParseAPIKey(cred.Value)
		if err != nil {
			d.failed(cred.Addr, "", now)
			return Principal{}, ErrInvalidAPIKey
		}
		if cred.Addr != "" {
			if wait, refused := d.Throttle.Check(cred.Addr, id, now); refused {
				return Principal{}, Throttled(wait)
			}
		}
		entry, e := d.throttledClient(ctx, cred.Addr, id, store.TypeAPIKey, now)
		if e != nil {
			if e.Status == http.StatusUnauthorized {
				d.failed(cred.Addr, id, now)
			}
			return Principal{}, e
		}
		if !entry.SecretMatches(cred.Value, now) {
			d.failed(cred.Addr, id, now)
			return Principal{}, ErrInvalidAPIKey
		}
		return Principal{Client: entry, Scopes: entry.Scopes(), ScopesBoxed: entry.BoxedScopes()}, nil
	}
	t, err := d.Verifier.VerifyBearer(cred.Value, now)
	if errors.Is(err, token.ErrMalformed) {
		return Principal{}, ErrMalformed
	}
	if err != nil || !aud.AcceptsAudience(t) {
		return Principal{}, ErrInvalidToken
	}
	// The denylist alone while the change feed is synced; else the store too.
	if revoked, err := d.Revoked.TokenRevoked(ctx, t.JTI); revoked {
		return Principal{}, ErrInvalidToken
	} else if err != nil {
		d.debug("token denylist unavailable", err)
		return Principal{}, ErrUnavailable
	}
	if d.MetadataScopes != nil && strings.HasPrefix(t.ClientID, "https://") {
		return metadataPrincipal(t, *d.MetadataScopes), nil
	}
	entry, e := d.Client(ctx, t.ClientID, store.TypeOAuth, now)
	if e != nil {
		return Principal{}, e
	}
	// A token carries the scopes of its issue; the client may have lost some since.
	if !entry.Scopes().CoversAll(t.Scopes) {
		return Principal{Client: entry, Token: t, Scopes: t.Scopes.Filter(entry.Scopes())}, nil
	}
	return Principal{Client: entry, Token: t, Scopes: t.Scopes, ScopesBoxed: t.BoxedScopes}, nil
}

// metadataPrincipal is the principal of a token of a client known only by
// its metadata document: no record, so one made from the token, holding at
// most bound. (Only the authorization-code flow issues such tokens: a
// client_id URL never gets client_credentials.)
func metadataPrincipal(t *token.Verified, bound scope.Set) Principal {
	held := t.Scopes.Filter(bound)
	e := clientcache.EntryOf(&store.Client{ID: t.ClientID, Name: t.ClientID, Type: store.TypeOAuth, Scopes: held})
	return Principal{Client: e, Token: t, Scopes: held, ScopesBoxed: e.BoxedScopes()}
}

// Client looks up an active client of the wanted type: an unknown, inactive
// or other-typed client is ErrInvalidToken, an unreachable store
// ErrUnavailable.
func (d *Decider) Client(ctx context.Context, id string, want store.Type, now time.Time) (*clientcache.Entry, *Error) {
	e, err := d.Clients.Get(ctx, id)
	return d.judgeClient(e, err, want, now)
}

func (d *Decider) judgeClient(e *clientcache.Entry, err error, want store.Type, now time.Time) (*clientcache.Entry, *Error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrInvalidToken
	case err != nil:
		// The change feed logs the outage once; per request this is detail.
		d.debug("client store unavailable", err)
		return nil, ErrUnavailable
	case e.Type() != want || !e.Active(now):
		return nil, ErrInvalidToken
	}
	return e, nil
}

// throttledClient is Client for a credential from addr: a client the cache
// does not know costs a store read, which the throttle must allow first
// (Throttle.Reserve), so that concurrent guesses from one address cannot each
// cost one before the first failure is counted.
func (d *Decider) throttledClient(ctx context.Context, addr, id string, want store.Type, now time.Time) (*clientcache.Entry, *Error) {
	e, cached, err := d.Clients.Lookup(id)
	if !cached {
		if addr != "" && d.Throttle != nil {
			if wait, ok := d.Throttle.Reserve(addr, now); !ok {
				return nil, Throttled(wait)
			}
			defer d.Throttle.Release(addr)
		}
		e, err = d.Clients.Load(ctx, id)
	}
	return d.judgeClient(e, err, want, now)
}

// failed counts a failed API key from addr ("": not counted).
func (d *Decider) failed(addr, clientID string, now time.Time) {
	if addr != "" {
		d.Throttle.Failed(addr, clientID, now)
	}
}

func (d *Decider) debug(msg string, err error) {
	if d.Logger == nil {
		return
	}
	if c := d.Logger.Check(zapcore.DebugLevel, msg); c != nil {
		c.Write(zap.Error(err))
	}
}
