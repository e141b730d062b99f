package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientassertion"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// JWKSFetcher fetches the JWK Set a private_key_jwt client registered as its
// jwks_uri. It guards against server-side request forgery (https only, no
// private addresses unless configured), bounds size and time, and caches.
// package safefetch's Fetcher is one.
type JWKSFetcher interface {
	// Get returns the JWK Set at uri, from its cache when it has one.
	Get(ctx context.Context, uri string) ([]byte, error)
	// Refresh fetches it again, because an assertion named a kid the cached
	// set lacks; a fetcher answers from its cache when it refreshed uri very
	// recently, so that assertions naming random kids cannot make it fetch
	// without bound.
	Refresh(ctx context.Context, uri string) ([]byte, error)
	// Reject drops a fetched set found invalid, remembering the failure
	// for a while.
	Reject(uri string, cause error)
}

// assertionAudiences are the aud values an assertion may have (RFC 7523 §3
// item 3): the issuer, or the token endpoint's URL as the metadata names it.
func (s *Server) assertionAudiences() []string {
	return []string{s.issuer, s.issuer + TokenPath}
}

// checkAssertion authenticates c by the assertion a (RFC 7523 §3): c must be
// an active OAuth client registered for private_key_jwt, a must verify with
// one of its keys and say what RFC 7523 §3 requires, and its jti must be new
// on every instance (the store's replay table). Every failure is
// errBadClient, as a wrong secret is.
func (s *Server) checkAssertion(r *http.Request, a *clientassertion.Assertion, c *clientcache.Entry, now time.Time) *authn.Error {
	if c.Type() != store.TypeOAuth || !c.Active(now) || c.AuthMethod() != store.AuthPrivateKeyJWT {
		// One method per client: a secret client cannot sign its way in.
		return errBadClient
	}
	ctx := r.Context()
	policy := clientassertion.Policy{Audiences: s.assertionAudiences(), MaxLifetime: s.cfg.AssertionMaxLifetime, Leeway: s.cfg.Leeway}
	keys, err := s.clientKeys(ctx, c, false)
	var v clientassertion.Verified
	if err == nil {
		v, err = policy.Verify(a, c.ID(), keys, now)
		if errors.Is(err, clientassertion.ErrUnknownKey) && c.Keys().JWKSURI != "" {
			// The client may have added a key since the set was cached.
			if keys, err = s.clientKeys(ctx, c, true); err == nil {
				v, err = policy.Verify(a, c.ID(), keys, now)
			}
		}
	}
	if err != nil {
		if keysUnavailable(err) {
			s.debug("client assertion: the client's jwks_uri could not be fetched", c.ID(), err)
			return errKeysUnavailable
		}
		s.debug("client assertion refused", c.ID(), err)
		return errBadClient
	}
	fresh, err := s.cfg.Backend.Store.UseAssertion(ctx, c.ID(), v.JTI, v.UsableUntil, now)
	if err != nil {
		s.debug("client assertion: the replay table is unavailable", c.ID(), err)
		return errStoreUnavailable
	}
	if !fresh {
		s.debug("client assertion refused", c.ID(), errors.New("replayed: its jti was used before"))
		return errBadClient
	}
	return nil
}

// errKeysUnavailable: the client's jwks_uri could not be fetched just now.
// Nothing says the client's credential is wrong, so it is not
// invalid_client (nor counted by the throttle): the client retries.
var errKeysUnavailable = &authn.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
	Description: "the client's keys (jwks_uri) could not be fetched; retry shortly", RetryAfter: 5 * time.Second}

// keysUnavailable reports whether err is a fetch of a jwks_uri that failed
// for a reason of the moment or of the network (busy, unreachable, a
// refused address, timeout, a bad answer), as opposed to a URL the fetcher
// refuses outright or a set found invalid: those are the client's
// registration, and refuse it as invalid_client. A refused address maps as
// an unreachable host does: safefetch hides which names resolve inside.
func keysUnavailable(err error) bool {
	switch safefetch.ReasonOf(err) {
	case "", safefetch.ReasonURL, safefetch.ReasonHost, safefetch.ReasonRejected:
		return false
	}
	return true
}

// errOwnHost: a jwks_uri on the issuer's host.
var errOwnHost = errors.New("the jwks_uri is on the gateway's own host")

// ownHost reports whether uri names the issuer's own host and port
// (safefetch.SameAuthority): the gateway never fetches keys from itself. Its
// own routes (its JWKS, the APIs it fronts) are no place for a client's
// keys, and a fetch of itself would spend its own fetch slots.
func (s *Server) ownHost(uri string) bool {
	u, err := url.Parse(uri)
	return err == nil && safefetch.SameAuthority(u, s.cfg.Issuer)
}

// clientKeys are c's public keys: its inline set, or its jwks_uri's.
func (s *Server) clientKeys(ctx context.Context, c *clientcache.Entry, refresh bool) (*clientassertion.KeySet, error) {
	id, keys := c.ID(), c.Keys()
	if keys.JWKS != "" {
		return s.inlineKeys.get(id, keys.JWKS)
	}
	if keys.JWKSURI == "" {
		return nil, errors.New("the client has no keys")
	}
	if s.ownHost(keys.JWKSURI) {
		return nil, errOwnHost
	}
	if s.cfg.JWKSFetcher == nil {
		return nil, errors.New("this server fetches no jwks_uri")
	}
	get := s.cfg.JWKSFetcher.Get
	if refresh {
		get = s.cfg.JWKSFetcher.Refresh
	}
	b, err := get(ctx, keys.JWKSURI)
	if err != nil {
		return nil, err
	}
	ks, err := clientassertion.ParseKeySet(b)
	if err != nil {
		s.cfg.JWKSFetcher.Reject(keys.JWKSURI, err)
		return nil, err
	}
	return ks, nil
}

func (s *Server) debug(msg, clientID string, err error) {
	if ce := s.cfg.Logger.Check(zapcore.DebugLevel, msg); ce != nil {
		ce.Write(zap.String("client_id", clientID), zap.Error(err))
	}
}

// maxInlineKeySets bounds keySetCache: past it, the cache starts afresh.
const maxInlineKeySets = 4096

// keySetCache keeps the parsed inline key set of each client that
// authenticated lately (parsing one is most of an assertion's CPU cost), by
// client ID with the JSON it was parsed from: a client whose keys changed
// gets its new set parsed.
type keySetCache struct {
	mu   sync.Mutex
	sets map[string]parsedKeySet
}

type parsedKeySet struct {
	jwks string
	set  *clientassertion.KeySet
}

func (k *keySetCache) get(clientID, jwks string) (*clientassertion.KeySet, error) {
	k.mu.Lock()
	p, ok := k.sets[clientID]
	k.mu.Unlock()
	if ok && p.jwks == jwks {
		return p.set, nil
	}
	set, err := clientassertion.ParseKeySet([]byte(jwks))
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sets == nil || len(k.sets) >= maxInlineKeySets {
		k.sets = make(map[string]parsedKeySet)
	}
	k.sets[clientID] = parsedKeySet{jwks: jwks, set: set}
	return set, nil
}
