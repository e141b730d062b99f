package caddymodule

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/admin/dashboard"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
)

func init() {
	caddy.RegisterModule(OAuth{})
}

// OAuth is the "blnk_oauth" handler: the OAuth 2.0 authorization server
// (internal/authserver). It answers POST /oauth/token (client credentials,
// RFC 6749 §4.4; with the app's consent_url also authorization_code and
// refresh_token), GET /oauth/authorize (the authorization-code flow with
// PKCE when consent_url is set, else a refusal), GET
// /.well-known/oauth-authorization-server (RFC 8414) and
// /.well-known/openid-configuration, GET /.well-known/jwks.json (RFC 7517),
// POST /oauth/introspect (RFC 7662) and /oauth/revoke (RFC 7009), each below
// the issuer's path; it passes every other
// request to the next handler. It has no options: the blnk_auth app holds the
// settings.
type OAuth struct {
	server *authserver.Server
}

// CaddyModule returns the Caddy module information.
func (OAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.blnk_oauth",
		New: func() caddy.Module { return new(OAuth) },
	}
}

// Provision builds the authorization server on the blnk_auth app.
func (o *OAuth) Provision(ctx caddy.Context) error {
	a, err := app(ctx)
	if err != nil {
		return err
	}
	o.server = a.authServer(ctx.Logger())
	return nil
}

// authServer is the authorization server of the app's store, keys and routes.
func (a *App) authServer(logger *zap.Logger) *authserver.Server {
	cfg := authserver.Config{
		Issuer:       a.issuerURL,
		Audience:     a.audience,
		Leeway:       time.Duration(a.Leeway),
		Signer:       a.keyring,
		Verifier:     a.verifier,
		Keys:         a.publishedKeys,
		JWKSMaxAge:   jwksMaxAge(a.JWKSMaxAge),
		Decider:      a.decider,
		Backend:      a.backend,
		Resource:     a.routes.Known,
		Scopes:       a.routes.Scopes,
		Logger:       logger,
		TokenOutcome: a.metrics.token,
		Throttle:     a.throttle,
		ClientIP:     clientIP,
		Throttled:    a.metrics.throttled,
		JWKSFetcher:  a.jwksURIFetcher(),
		Flow:         a.flow,
		ConsentURL:   a.consentURL,
		RefreshTTL:   time.Duration(a.RefreshTokenTTL),
	}
	// A grant lasts only while its person could still sign in as themselves.
	cfg.PersonAllowed = dashboard.GrantHolders{Login: a.login, Clients: a.backend.Clients, Now: time.Now}.Allowed
	return authserver.New(cfg)
}

// jwksURIFetcher is the app's fetcher as the interface, nil when none (a
// nil *safefetch.Fetcher in an interface would not be nil).
func (a *App) jwksURIFetcher() authserver.JWKSFetcher {
	if a.jwksFetcher == nil {
		return nil
	}
	return a.jwksFetcher
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (o *OAuth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !o.server.Serves(r.URL.Path) {
		return next.ServeHTTP(w, r)
	}
	o.server.ServeHTTP(w, r)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*OAuth)(nil)
	_ caddyhttp.MiddlewareHandler = (*OAuth)(nil)
)
