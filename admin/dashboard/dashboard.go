// Package dashboard is the admin API's browser page: the Settings › API Keys
// workflow (list, create with the secret shown once, inspect, revoke, roll,
// edit, delete, audit) as static HTML, CSS and JavaScript embedded in the
// binary, served beside the API at the same mount. The page is a client of
// the same admin.Handler: it signs in once with the master key or the
// credential of a client holding api-keys scopes, gets a server-side session
// in an HttpOnly, SameSite=Strict cookie, and calls the API's own endpoints
// with it.
//
// Sessions live in the store, so every instance on one database knows them,
// and only the hash of their token is kept. The client a session names is
// decided again on every request from the client cache, which the change
// feed keeps current: revoking, expiring, deleting or rolling (past its grace
// period) the client ends its sessions everywhere, and narrowing its scopes
// narrows them, from the next request on. It knows nothing of Caddy.
package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/oidclogin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/throttle"
)

// Defaults of Config.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultLifetime    = 12 * time.Hour
)

// DefaultScopeChoices are offered in the create form when the configuration
// names none: everything, MCP, and the admin API's own scopes.
var DefaultScopeChoices = []string{"*", "mcp:read", "mcp:write", admin.ScopeRead, admin.ScopeWrite, admin.ScopeDelete}

// Config configures a Handler.
type Config struct {
	// API is the admin API the page calls; requests that are not the page's
	// own go to it.
	API *admin.Handler
	// Store keeps the sessions.
	Store store.Store
	// Clients finds a client as it is now (the client cache).
	Clients authn.Clients
	// MasterKey may sign in as the master key; "" means it cannot.
	MasterKey string
	// IdleTimeout ends a session unused for that long; DefaultIdleTimeout when 0.
	IdleTimeout time.Duration
	// Lifetime ends a session that long after sign-in, however busy;
	// DefaultLifetime when 0.
	Lifetime time.Duration
	// ScopeChoices are offered as checkboxes in the create form (any other
	// scope can be typed); when empty, DefaultScopeChoices and KnownScopes.
	ScopeChoices []string
	// KnownScopes lists the scopes the configuration's routes ask for, read
	// when a session is shown (routes may be provisioned after the page);
	// none when nil.
	KnownScopes func() []string
	// MountPath is the path prefix under which the browser sees the handler
	// (e.g. "/admin" for handle_path /admin/*): the session cookie is scoped
	// to it, so that it never reaches the other routes of the site. "" (or
	// nil) is the root.
	MountPath func(r *http.Request) string
	// HTTPS reports whether the browser reached the page over HTTPS though
	// the request arrived without TLS: a proxy in front terminated it, and
	// the caller has decided to believe it (Caddy's trusted_proxies). The
	// session cookies are then Secure and the same-origin check expects an
	// https Origin. Nil: only r.TLS says so.
	HTTPS func(r *http.Request) bool
	// ClientIP is the caller's address for the log line of a sign-in;
	// r.RemoteAddr when nil or "".
	ClientIP func(r *http.Request) string
	// Throttle counts failed sign-ins per address (and client ID) with the
	// admin API's and the token endpoint's failures, and refuses an address
	// failing too often before any key is looked at (package throttle);
	// nothing is throttled when nil. Throttled, if not nil, is told of each
	// sign-in refused so.
	Throttle  *throttle.Throttle
	Throttled func()
	// Issuer and TokenEndpoint are the authorization server's, shown to a
	// new private_key_jwt client as the audiences its assertions may name;
	// "" leaves them out.
	Issuer, TokenEndpoint string
	// Authorize, when set, serves the consent page of the authorization-code
	// flow at "/authorize" (see consent.go); nil serves none.
	Authorize *authcode.Flow
	// OIDC, when set, offers "Sign in with <OIDCName>" on the sign-in page:
	// a person signs in through that OpenID Connect provider, under its
	// rules (see oidc.go). Nil: keys only.
	OIDC *oidclogin.Login
	// OIDCName names the provider on the button; the issuer's host when "".
	OIDCName string
	// OIDCRedirectURI is the callback's URL as registered at the provider;
	// when "", it is made of the request's scheme (https under TLS or when
	// HTTPS says so), host and the mount.
	OIDCRedirectURI string
	// FlowKey authenticates the short-lived cookie that carries a sign-in
	// through the provider (state, nonce, PKCE verifier, next): every
	// instance behind one site must share it, as a sign-in may start on
	// one and come back on another. Random per Handler when empty.
	FlowKey []byte
	// OIDCOutcome, if not nil, is told how each callback from the provider
	// ended: signed_in, not_allowed (the rules), invalid (the answer did
	// not verify), unavailable (the provider cannot be reached), or refused
	// (no flow of this browser, another state, already used, an error
	// from the provider).
	OIDCOutcome func(outcome string)
	// AuthorizePath is the path of the authorization endpoint, a place
	// the sign-in page may go back to after a sign-in (next); none when "".
	AuthorizePath string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger gets unexpected failures and one line per sign-in and sign-out
	// (who, from where; never a key); nothing is logged when nil.
	Logger *zap.Logger
}

// Handler serves the page at "/", its assets and session endpoints under
// "/ui/", and passes everything else to the admin API: with the session's
// caller when the request carries the session cookie, as it is otherwise.
type Handler struct {
	cfg        Config
	logger     *zap.Logger
	masterHash *[32]byte
	flows      usedFlows // callbacks already taken, until their flow expires
}

// New is the dashboard over cfg.API.
func New(cfg Config) *Handler {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, logger: cfg.Logger}
	if h.logger == nil {
		h.logger = zap.NewNop()
	}
	if cfg.MasterKey != "" {
		sum := sha256.Sum256([]byte(cfg.MasterKey))
		h.masterHash = &sum
	}
	if len(h.cfg.FlowKey) == 0 {
		h.cfg.FlowKey = make([]byte, 32)
		_, _ = rand.Read(h.cfg.FlowKey) // crypto/rand.Read never fails
	}
	return h
}

// scopeChoices are the create form's checkboxes: the configured ones, else
// "*" first, then the defaults and the routes' scopes, sorted.
func (h *Handler) scopeChoices() []string {
	if len(h.cfg.ScopeChoices) > 0 {
		return h.cfg.ScopeChoices
	}
	all := slices.Clone(DefaultScopeChoices)
	if h.cfg.KnownScopes != nil {
		all = append(all, h.cfg.KnownScopes()...)
	}
	all = slices.DeleteFunc(all, func(s string) bool { return s == scope.All })
	slices.Sort(all)
	return append([]string{scope.All}, slices.Compact(all)...)
}

//go:embed assets
var assets embed.FS

// asset is one embedded file with its media type.
type asset struct {
	name, mediaType string
}

var assetsByPath = map[string]asset{
	"/":              {"assets/index.html", "text/html; charset=utf-8"},
	"/ui/app.js":     {"assets/app.js", "text/javascript; charset=utf-8"},
	"/ui/app.css":    {"assets/app.css", "text/css; charset=utf-8"},
	"/ui/icon.svg":   {"assets/icon.svg", "image/svg+xml"},
	"/ui/index.html": {"assets/index.html", "text/html; charset=utf-8"},
}

// ContentSecurityPolicy is the page's policy: its own scripts, styles and
// images only, nothing inline, no third party, no framing, no form posts.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// setSecurityHeaders marks every response of the handler, the API's JSON
// included: none may be framed, sniffed or leak a referrer.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if a, ok := assetsByPath[r.URL.Path]; ok {
		h.serveAsset(w, r, a)
		return
	}
	switch r.URL.Path {
	case sessionPath:
		h.serveSession(w, r)
		return
	case signInOptionsPath:
		h.serveSignInOptions(w, r)
		return
	case oidcStartPath:
		h.serveOIDCStart(w, r)
		return
	case oidcCallbackPath:
		h.serveOIDCCallback(w, r)
		return
	}
	if r.URL.Path == consentPath && h.cfg.Authorize != nil {
		h.serveConsent(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/ui/") {
		fail(w, authn.NewError(http.StatusNotFound, "not_found", "no such page"))
		return
	}
	if !hasSessionCookie(r) {
		h.cfg.API.ServeHTTP(w, r)
		return
	}
	// A request with a session is the page's: it must not also carry a
	// credential, which the API would otherwise read instead.
	if len(r.Header.Values("Authorization"))+len(r.Header.Values(admin.MasterKeyHeader)) > 0 {
		fail(w, authn.NewError(http.StatusBadRequest, "invalid_request", "send a session cookie or a credential, not both"))
		return
	}
	_, who, err := h.session(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	if !safeMethod(r.Method) {
		if err := h.checkCSRF(r); err != nil {
			fail(w, err)
			return
		}
	}
	h.cfg.API.ServeAs(w, r, who)
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, a asset) {
	if !safeMethod(r.Method) {
		w.Header().Set("Allow", "GET, HEAD")
		fail(w, authn.NewError(http.StatusMethodNotAllowed, "method_not_allowed", "use GET"))
		return
	}
	b, err := assets.ReadFile(a.name)
	if err != nil {
		fail(w, authn.NewError(http.StatusNotFound, "not_found", "no such page"))
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.mediaType)
	// Revalidated on every load, so a new release is picked up at once.
	hdr.Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	_, _ = w.Write(b)
}

// fail writes a JSON error, as the admin API does.
func fail(w http.ResponseWriter, e *authn.Error) {
	w.Header().Set("Cache-Control", "no-store")
	e.SetRetryAfter(w.Header())
	authn.WriteJSON(w, e.Status, e.Code, e.Description)
}

// Interface guards
var _ http.Handler = (*Handler)(nil)
