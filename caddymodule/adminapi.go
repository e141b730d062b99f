package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/admin/dashboard"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the "blnk_admin" handler: the client lifecycle as a JSON API
// (create, list, inspect, update, revoke, roll the secret, delete, and the
// audit log), wherever the operator mounts it, e.g.
// handle_path /admin/* { blnk_admin }. Paths are relative to the mount.
//
// Every request must be authenticated: a bearer token or API key of this
// gateway with api-keys:read (GET), api-keys:write (POST, PATCH) or
// api-keys:delete (DELETE), or the master key in X-Blnk-Key. Callers cannot
// hand out scopes they do not hold, nor change, roll, revoke or delete a
// client holding scopes they do not hold (a client may revoke itself).
// Tokens must carry the app's default audience. The API itself is
// admin.Handler; this module wires it to the app and to Caddy's view of the
// request.
type AdminAPI struct {
	// MasterKey, presented in the X-Blnk-Key header, may do anything: it is
	// for bootstrap. Placeholders such as {env.BLNK_AUTH_MASTER_KEY} are
	// expanded (one that expands to nothing means none); at least 32
	// characters. Default: none.
	MasterKey string `json:"master_key,omitempty"`

	// AllowedOrigins may call the API from a browser (CORS), e.g.
	// https://dashboard.example.com. Default: none, so no CORS headers at all.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`

	// NoDashboard turns the dashboard off: the browser page of the Settings ›
	// API Keys workflow served at the mount's root ("/", assets and session
	// under "/ui/"), beside the API. Default: false (the dashboard is served).
	NoDashboard bool `json:"no_dashboard,omitempty"`

	// SessionIdleTimeout ends a dashboard session unused for that long.
	// Default: 30m.
	SessionIdleTimeout caddy.Duration `json:"session_idle_timeout,omitempty"`

	// SessionLifetime ends a dashboard session that long after sign-in,
	// however busy. Default: 12h.
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`

	// ScopeChoices are the scopes the dashboard's create form offers as
	// checkboxes (any other scope can be typed). Default: *, every scope the
	// config's blnk_auth routes require, and mcp:read, mcp:write,
	// api-keys:read, api-keys:write, api-keys:delete.
	ScopeChoices []string `json:"scope_choices,omitempty"`

	handler http.Handler
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.blnk_admin",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision finds the app, checks the master key and builds the API.
func (h *AdminAPI) Provision(ctx caddy.Context) error {
	a, err := app(ctx)
	if err != nil {
		return err
	}
	// A placeholder that expands to nothing means no master key.
	key := caddy.NewReplacer().ReplaceKnown(h.MasterKey, "")
	if key != "" && len(key) < MinSecretLength {
		return fmt.Errorf("blnk_admin: master_key must be at least %d characters (generate one with: openssl rand -base64 32)", MinSecretLength)
	}
	api := admin.NewHandler(admin.HandlerConfig{
		Service:        a.Service(),
		MasterKey:      key,
		AllowedOrigins: h.AllowedOrigins,
		Authenticate: func(r *http.Request) (admin.Caller, error) {
			who, d := a.decider.Authenticate(r, clientIP(r), &a.defaultAudience, time.Now())
			if d != nil {
				return admin.Caller{}, d
			}
			return admin.Caller{ClientID: who.Client.ID(), Scopes: who.Scopes}, nil
		},
		ClientIP:  clientIP,
		RequestID: requestUUID,
		Logger:    ctx.Logger(),
		Throttle:  a.throttle,
		Throttled: func() { a.metrics.throttled("admin") },
	})
	h.handler = api
	if !h.NoDashboard {
		cfg := dashboard.Config{
			API:          api,
			Store:        a.backend.Store,
			Clients:      a.backend.Clients,
			MasterKey:    key,
			IdleTimeout:  time.Duration(h.SessionIdleTimeout),
			Lifetime:     time.Duration(h.SessionLifetime),
			ScopeChoices: h.ScopeChoices,
			KnownScopes:  a.routes.Scopes,
			MountPath:    mountPath,
			ClientIP:     clientIP,
			HTTPS:        forwardedHTTPS,
			Throttle:     a.throttle,
			Throttled:    func() { a.metrics.throttled("dashboard") },
			Logger:       ctx.Logger().Named("dashboard"),
			// As the metadata names them (authserver).
			Issuer:        a.issuerURL.String(),
			TokenEndpoint: a.issuerURL.String() + authserver.TokenPath,
			Authorize:     a.flow,
		}
		if ls := a.loginSettings(); ls.login != nil {
			cfg.OIDC, cfg.OIDCName, cfg.OIDCRedirectURI, cfg.FlowKey, cfg.OIDCOutcome = ls.login, ls.name, ls.redirectURI, ls.flowKey, ls.outcome
		}
		cfg.AuthorizePath = a.authorizePath()
		h.handler = dashboard.New(cfg)
	}
	return nil
}

// Validate checks the options.
func (h *AdminAPI) Validate() error {
	if h.SessionIdleTimeout < 0 || h.SessionLifetime < 0 {
		return fmt.Errorf("blnk_admin: session_idle_timeout and session_lifetime must not be negative")
	}
	for _, sc := range h.ScopeChoices {
		if _, err := admin.ParseScopes([]string{sc}); err != nil {
			return fmt.Errorf("blnk_admin: scope_choices: %v", err)
		}
	}
	for _, o := range h.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("blnk_admin: allowed origin %q must be scheme://host[:port]", o)
		}
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler; the API answers every
// request that reaches it.
func (h *AdminAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	h.handler.ServeHTTP(w, r)
	return nil
}

// mountPath is the path prefix that Caddy stripped before the request reached
// the handler (handle_path /admin/* → "/admin"), so that the dashboard's
// cookie goes to the mount only; "" when nothing was stripped.
func mountPath(r *http.Request) string {
	orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
	if !ok || orig.URL == nil || !strings.HasSuffix(orig.URL.Path, r.URL.Path) {
		return ""
	}
	return strings.TrimSuffix(orig.URL.Path, r.URL.Path)
}

// requestUUID is Caddy's ID of the request.
func requestUUID(r *http.Request) string {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if id, ok := repl.GetString("http.request.uuid"); ok {
			return id
		}
	}
	return ""
}

// clientIP is the caller's address as Caddy determined it (trusted proxies considered).
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	return r.RemoteAddr
}

// forwardedHTTPS: the request comes from a proxy Caddy trusts
// (trusted_proxies), which says the browser used https (X-Forwarded-Proto):
// it terminated TLS in front of Caddy. From any other peer the header is
// the client's own word and means nothing. The proxy's word is the last
// value, as Caddy's reverse_proxy reads it (a proxy that adds its header
// after the client's puts it last), and within a comma-separated value the
// last element.
func forwardedHTTPS(r *http.Request) bool {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	values := r.Header["X-Forwarded-Proto"]
	if !trusted || len(values) == 0 {
		return false
	}
	last := values[len(values)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.EqualFold(strings.TrimSpace(last), "https")
}

// Interface guards
var (
	_ caddy.Provisioner           = (*AdminAPI)(nil)
	_ caddy.Validator             = (*AdminAPI)(nil)
	_ caddyhttp.MiddlewareHandler = (*AdminAPI)(nil)
)
