// Package authserver is the OAuth 2.0 authorization server of the client
// credentials grant as a plain http.Handler: the token endpoint (RFC 6749
// §4.4), authorization server metadata (RFC 8414, also served as OpenID
// Connect discovery), the JWKS (RFC 7517), token introspection (RFC 7662),
// token revocation (RFC 7009), and the authorization-code flow with PKCE
// (RFC 6749 §4.1, RFC 7636: authorize.go, the token endpoint's
// authorization_code and refresh_token grants in grants.go). It knows nothing about Caddy: caddymodule's blnk_oauth
// builds a Server from the blnk_auth app and delegates to it.
package authserver

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/throttle"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// Paths served below the issuer's path.
const (
	TokenPath      = "/oauth/token"
	AuthorizePath  = "/oauth/authorize"
	IntrospectPath = "/oauth/introspect"
	RevokePath     = "/oauth/revoke"
	// OpenIDPath serves the same metadata for clients that only look there.
	OpenIDPath   = "/.well-known/openid-configuration"
	JWKSPath     = "/.well-known/jwks.json"
	MetadataPath = "/.well-known/oauth-authorization-server"
	// MaxRequestBody bounds a request's form; a real one is a few hundred bytes.
	MaxRequestBody = 16 << 10
)

// Config configures a Server. Every field is required unless it says otherwise.
type Config struct {
	// Issuer is the issuer's URL ("iss"): the endpoints are served below its
	// path, and the metadata names it.
	Issuer *url.URL
	// Audience is the "aud" of tokens requested without a resource parameter.
	Audience string
	// Leeway is the clock skew tolerated on exp: a revoked token's jti is
	// kept until its expiry plus Leeway.
	Leeway time.Duration
	// Signer mints access tokens (a *token.Issuer, or a rotating keyring);
	// its TTL bounds their lifetime (never past the client's own expiry).
	Signer Signer
	// Verifier checks access tokens presented for revocation.
	Verifier *token.Verifier
	// Keys returns the public keys the JWKS publishes; called per JWKS
	// request, since keys rotate.
	Keys func() []*token.Key
	// JWKSMaxAge is the JWKS response's Cache-Control max-age (whole
	// seconds); 0 means 300s. Keys are published longer than this before
	// they sign.
	JWKSMaxAge time.Duration
	// Decider judges introspected tokens exactly as the resource servers do.
	Decider *authn.Decider
	// Backend finds clients (through its cache), records their use and
	// records revoked tokens.
	Backend *backend.Backend
	// Resource reports whether a token may be minted for a resource
	// identifier (RFC 8707) besides Audience; nil accepts none but Audience.
	Resource func(id string) bool
	// Scopes lists scopes_supported; it is called once, at the first request
	// for a metadata document. Nil lists only scope.All.
	Scopes func() []string
	// Logger logs per-request detail at debug level; nil logs nothing.
	Logger *zap.Logger
	// TokenOutcome, if not nil, is told the grant (one of Grants) and the
	// outcome of every token request: "issued" or the RFC 6749 §5.2 error
	// code.
	TokenOutcome func(grant, outcome string)
	// Throttle counts failed client authentications at the token,
	// introspection and revocation endpoints per address and client ID, and
	// refuses a client over its budget unjudged (RFC 6749 §2.3.1): 429 with
	// Retry-After. Nil throttles nothing.
	Throttle *throttle.Throttle
	// ClientIP is the caller's address, as the server determined it
	// (trusted proxies considered); r.RemoteAddr when nil or "".
	ClientIP func(r *http.Request) string
	// Throttled, if not nil, is told of every request Throttle refused, with
	// its endpoint: "token", "introspect" or "revoke".
	Throttled func(endpoint string)
	// JWKSFetcher fetches the keys of private_key_jwt clients registered
	// with a jwks_uri; nil refuses those clients (inline jwks still work).
	JWKSFetcher JWKSFetcher
	// AssertionMaxLifetime bounds how far ahead a client assertion's exp may
	// be (RFC 7523 §3); 0 is clientassertion.DefaultMaxLifetime (5 minutes).
	AssertionMaxLifetime time.Duration

	// Flow, with ConsentURL, turns the authorization-code flow on: the
	// authorization endpoint sends valid requests to ConsentURL (the
	// dashboard's consent page) sealed with Flow's sealer, and the token
	// endpoint accepts authorization_code and refresh_token. Nil: the
	// authorization endpoint refuses every request.
	Flow *authcode.Flow
	// ConsentURL is the consent page's absolute URL.
	ConsentURL string
	// RefreshTTL bounds a refresh token family's life;
	// authcode.DefaultRefreshTTL when 0.
	RefreshTTL time.Duration
	// PersonAllowed, if not nil, reports whether the person who approved a
	// grant (their ID and the name the grant records) may still hold it; a
	// code or refresh token of a person it refuses is invalid_grant, and the
	// refresh token's family ends. An error (the store cannot say) lets the
	// request through. Nil: every person may (the grant's own revocation
	// still ends it).
	PersonAllowed func(ctx context.Context, personID, name string) (bool, error)
}

// Signer mints access tokens.
type Signer interface {
	Issue(clientID string, scopes scope.Set, audience string, clientExpires *time.Time, now time.Time) (token.Issued, error)
	// IssueFor mints a token whose subject is a person the client acts for
	// (the authorization-code flow).
	IssueFor(subject, clientID string, scopes scope.Set, audience string, clientExpires *time.Time, now time.Time) (token.Issued, error)
}

// Server is the authorization server. Make one with New.
type Server struct {
	cfg    Config
	issuer string // cfg.Issuer as a string
	realm  string // the Basic challenge of a 401

	tokenPath, jwksPath, metadataPath         string
	authorizePath, introspectPath, openIDPath string
	revokePath                                string

	docs documents
	// inlineKeys are private_key_jwt clients' parsed inline key sets.
	inlineKeys keySetCache
	// jwksCacheControl is the JWKS's Cache-Control header value.
	jwksCacheControl string
}

// documents are rendered once, at first use.
type documents struct {
	once     sync.Once
	metadata []byte
}

// New makes a Server of cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	base := strings.TrimSuffix(cfg.Issuer.Path, "/")
	maxAge := cfg.JWKSMaxAge
	if maxAge <= 0 {
		maxAge = 300 * time.Second
	}
	return &Server{
		jwksCacheControl: "public, max-age=" + strconv.FormatInt(int64((maxAge+time.Second-1)/time.Second), 10),
		cfg:              cfg,
		issuer:           cfg.Issuer.String(),
		realm:            `Basic realm="` + cfg.Issuer.Host + `", charset="UTF-8"`,

		tokenPath: base + TokenPath,
		jwksPath:  base + JWKSPath,
		// RFC 8414 §3: the well-known segment goes before the issuer's path.
		metadataPath:   MetadataPath + base,
		authorizePath:  base + AuthorizePath,
		introspectPath: base + IntrospectPath,
		revokePath:     base + RevokePath,
		// OpenID Connect Discovery appends the well-known segment to the issuer.
		openIDPath: base + OpenIDPath,
	}
}

// Serves reports whether path is one of the server's endpoints; ServeHTTP
// answers any other path 404.
func (s *Server) Serves(path string) bool {
	switch path {
	case s.tokenPath, s.metadataPath, s.openIDPath, s.authorizePath, s.introspectPath, s.revokePath, s.jwksPath:
		return true
	}
	return false
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case s.tokenPath:
		s.serveToken(w, r)
	case s.metadataPath, s.openIDPath:
		s.serveDocument(w, r, func() []byte { return s.docs.metadata })
	case s.authorizePath:
		s.serveAuthorize(w, r)
	case s.introspectPath:
		s.serveIntrospect(w, r)
	case s.revokePath:
		s.serveRevoke(w, r)
	case s.jwksPath:
		s.serveJWKS(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Interface guards
var _ http.Handler = (*Server)(nil)
