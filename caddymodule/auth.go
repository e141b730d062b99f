package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpscope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/ratelimit"
	"github.com/blnkfinance/blnk-auth-gateway/internal/resourceserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

func init() {
	caddy.RegisterModule(Auth{})
}

// APIKeyHeader carries an API key as an alternative to the Authorization header.
const APIKeyHeader = authn.APIKeyHeader

// Auth is the "blnk_auth" handler: it lets a request through only with a valid
// access token from blnk_oauth (Authorization: Bearer, RFC 6750) or an API key
// (Authorization: Bearer or X-Blnk-Key) whose client is active and holds every
// required scope. The client's state is checked on every request (through the
// cache), so revocation and expiry take effect at once.
//
// Otherwise it answers 401 (no or invalid credential), 403 (scopes short), 400
// (malformed header) or 503 (the database is unreachable and the client is not
// cached), with an RFC 6750 WWW-Authenticate challenge and a JSON body.
//
// On success it sets {http.auth.user.id} (the client ID; Caddy's access log
// shows it), {http.auth.user.name} and {http.auth.user.scopes}, and removes
// the credential headers so the token never reaches the upstream.
type Auth struct {
	// Scopes the route requires, all of them. Empty: any valid credential passes.
	Scopes []string `json:"scopes,omitempty"`

	// Realm names the protection space in challenges. Default "blnk".
	Realm string `json:"realm,omitempty"`

	// Resource is this route's resource identifier (RFC 8707, RFC 9728): an
	// absolute URL without a fragment, e.g. https://api.example.com/mcp.
	// Tokens minted for it (token request with resource=<it>) pass, and so
	// do tokens with the default audience; tokens for any other resource are
	// refused. It never comes from a request's Host header. Default: none
	// (the Caddyfile fills in Resources instead). At most 512 bytes as a token
	// carries it (JSON-escaped), so that every token fits.
	Resource string `json:"resource,omitempty"`

	// Resources are more identifiers of the same route, one per name it is
	// reached by, e.g. https://api.example.com/mcp and
	// https://mcp.example.com/mcp: a token minted for any of them passes,
	// and the route's metadata names the one whose host is the request's
	// Host (else the first). The Caddyfile sets them, when resource is not
	// set, to the canonical URLs of the mount on the host names of the
	// site's addresses (or of the route's host matcher). Default: none. A
	// route with neither resource nor resources accepts only tokens with the
	// default audience, serves no Protected Resource Metadata (404) and names
	// none in its challenges.
	Resources []string `json:"resources,omitempty"`

	// BlnkAPI makes the route a Blnk Core API: each request also needs the
	// scope Blnk Core derives from its method and first path segment
	// (GET/HEAD read, POST/PUT/PATCH write, DELETE delete; ledgers:write for
	// POST /ledgers); a path naming no Blnk resource is refused with 403.
	BlnkAPI *BlnkAPI `json:"blnk_api,omitempty"`

	// MCP makes the route an MCP endpoint (Streamable HTTP): each request also
	// needs the scopes of its JSON-RPC method — mcp:write for tools/call and
	// other methods that act, mcp:read for the rest (initialize, lists,
	// reads, ping, subscriptions, notifications; GET and DELETE) — plus those
	// of per-tool rules. Batched or malformed JSON-RPC gets a JSON-RPC error.
	MCP *MCP `json:"mcp,omitempty"`

	// MountPath is the path prefix the route protects, e.g. /mcp. Its
	// Protected Resource Metadata (RFC 9728) is served at
	// /.well-known/oauth-protected-resource/mcp, which must be routed to this
	// handler too. The Caddyfile sets both from a single path matcher such as
	// /mcp*. Default: the root, or the path of the first resource identifier
	// (resource, else resources[0]) when there is one.
	MountPath string `json:"mount_path,omitempty"`

	// RateLimit limits every client on this route, per gateway instance (N
	// instances allow N times the rate), in a bucket per client (per client
	// and person for a person's token) of the route's own. A client's own rate limit (set through the admin API or
	// the CLI) applies as well, so the stricter wins. Over it a request gets
	// 429 with Retry-After and the RateLimit-Policy and RateLimit header
	// fields (on an MCP route, a JSON-RPC error). Default: none.
	RateLimit *RouteRateLimit `json:"rate_limit,omitempty"`

	route *resourceserver.Route
	// decisions replaces the decision logger when set: benchmarks run
	// without a config, where Caddy hands out a DEBUG-level logger that a
	// running server (INFO by default) never has.
	decisions *zap.Logger
}

// RouteRateLimit is a rate: on average Requests per Per, in bursts of up to Burst.
type RouteRateLimit struct {
	// Requests allowed per Per. Required, at least 1.
	Requests int `json:"requests"`
	// Per is the period: 1s, 1m or 1h. Required.
	Per caddy.Duration `json:"per"`
	// Burst is how many requests may come at once. Default: Requests.
	Burst int `json:"burst,omitempty"`
}

// limit is the rate limit as the resource server takes it; nil for none.
func (l *RouteRateLimit) limit() *ratelimit.Limit {
	if l == nil {
		return nil
	}
	out := &ratelimit.Limit{Requests: l.Requests, Per: time.Duration(l.Per), Burst: l.Burst}
	if out.Burst == 0 {
		out.Burst = out.Requests
	}
	return out
}

func (l *RouteRateLimit) validate() error {
	if l == nil {
		return nil
	}
	if p := time.Duration(l.Per); l.Requests < 1 || l.Burst < 0 || (p != time.Second && p != time.Minute && p != time.Hour) {
		return errors.New("blnk_auth: rate_limit needs requests of at least 1 per 1s, 1m or 1h, and a burst not below 0 (0: the requests)")
	}
	return nil
}

// CaddyModule returns the Caddy module information.
func (Auth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.blnk_auth",
		New: func() caddy.Module { return new(Auth) },
	}
}

// Provision translates the options into a resourceserver.Route on the app.
func (h *Auth) Provision(ctx caddy.Context) error {
	a, err := app(ctx)
	if err != nil {
		return err
	}
	return h.provision(ctx, a)
}

func (h *Auth) provision(ctx caddy.Context, a *App) error {
	if err := h.Validate(); err != nil {
		return err // Caddy validates after provisioning; refuse before building anything
	}
	required, err := scope.FromList(h.Scopes)
	if err != nil {
		return err
	}
	cfg := resourceserver.Config{Realm: h.Realm, Required: required, MountPath: h.MountPath, Decisions: h.decisions, RateLimit: h.RateLimit.limit()}
	if cfg.Decisions == nil {
		cfg.Decisions = ctx.Logger().Named("decisions")
	}
	for _, res := range append([]string{h.Resource}, h.Resources...) {
		if res != "" {
			cfg.Resources = append(cfg.Resources, res)
		}
	}
	if h.MCP != nil {
		if cfg.MCP, err = h.MCP.provision(); err != nil {
			return err
		}
	}
	if h.BlnkAPI != nil {
		cfg.Blnk = &resourceserver.Blnk{
			UpstreamKey:   caddy.NewReplacer().ReplaceKnown(h.BlnkAPI.UpstreamKey, ""),
			ManageAPIKeys: h.BlnkAPI.ManageAPIKeys,
		}
	}
	if h.route, err = resourceserver.New(cfg, a.shared); err != nil {
		return fmt.Errorf("blnk_auth: %w", err)
	}
	h.MountPath = h.route.MountPath()
	return nil
}

// BlnkAPI configures a route in front of Blnk Core.
type BlnkAPI struct {
	// UpstreamKey is the gateway's own Blnk API key, sent to Blnk Core as
	// X-Blnk-Key in place of the caller's credential. Placeholders such as
	// {env.BLNK_API_KEY} are expanded. Default: none (nothing is added).
	UpstreamKey string `json:"upstream_key,omitempty"`

	// ManageAPIKeys lets callers use Blnk Core's own API-key management
	// (POST /api-keys, GET /api-keys, DELETE /api-keys/{id}) through this
	// route, under Blnk's rules for a scoped key, which Blnk itself skips for
	// the gateway's master key: a new key's owner must be the caller's
	// client ID and its scopes within the caller's; listing and revoking are
	// confined to the caller's own keys. Default false: every request to
	// /api-keys is refused with 403, whatever the caller's scopes.
	ManageAPIKeys bool `json:"manage_api_keys,omitempty"`
}

// MCP configures an MCP route.
type MCP struct {
	// Methods override the scopes a JSON-RPC method needs, e.g.
	// {"resources/read": ["docs:read"]}.
	Methods map[string][]string `json:"methods,omitempty"`
	// Tools add scopes that tools/call needs for a tool, on top of the
	// method's, e.g. {"transfer_funds": ["ledgers:write"]}.
	Tools map[string][]string `json:"tools,omitempty"`
	// MaxBodySize bounds how much of a request body is read to find its
	// method; larger requests get 413. Default 1 MiB.
	MaxBodySize int64 `json:"max_body_size,omitempty"`
}

// provision turns the options into the route's policy.
func (m *MCP) provision() (*resourceserver.MCP, error) {
	p := mcpscope.DefaultPolicy()
	for method, list := range m.Methods {
		set, err := scope.FromList(list)
		if err != nil {
			return nil, fmt.Errorf("mcp method %s: %w", method, err)
		}
		p = p.WithMethod(method, set)
	}
	for tool, list := range m.Tools {
		set, err := scope.FromList(list)
		if err != nil || set.IsEmpty() {
			return nil, fmt.Errorf("mcp tool %s: needs valid scopes", tool)
		}
		p = p.WithTool(tool, set)
	}
	return &resourceserver.MCP{Policy: p, MaxBodySize: m.MaxBodySize}, nil
}

// errMCPAndBlnk refuses a route that is both: the scopes of one would be
// judged and the gateway's Blnk key sent upstream for requests the other's
// rules never saw.
var errMCPAndBlnk = errors.New("blnk_auth: a route is an MCP endpoint (mcp) or a Blnk Core API (blnk_api), not both: give each its own route")

// Validate checks the options.
func (h *Auth) Validate() error {
	if err := h.RateLimit.validate(); err != nil {
		return err
	}
	if h.MCP != nil && h.BlnkAPI != nil {
		return errMCPAndBlnk
	}
	if strings.ContainsAny(h.Realm, "\"\\") {
		return errors.New("blnk_auth: realm must not contain quotes or backslashes")
	}
	if h.Resource != "" && !authserver.ValidResource(h.Resource) {
		return errors.New("blnk_auth: resource must be an absolute URL without a fragment")
	}
	if err := checkURLLength("resource", h.Resource); err != nil {
		return err
	}
	for _, res := range h.Resources {
		if !authserver.ValidResource(res) {
			return fmt.Errorf("blnk_auth: resources: %q is not an absolute URL without a fragment", res)
		}
		if err := checkURLLength("resources", res); err != nil {
			return err
		}
	}
	if h.MountPath != "" && (!strings.HasPrefix(h.MountPath, "/") || strings.ContainsAny(h.MountPath, "*?#")) {
		return errors.New("blnk_auth: mount_path must be a plain path such as /mcp")
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return h.route.ServeHTTP(w, r, next)
}

// passVar holds the request's *resourceserver.Pass, for later blnk_auth handlers.
const passVar = "blnk_auth.principal"

// earlierPass is the Pass an earlier blnk_auth admitted the request with.
func earlierPass(r *http.Request) *resourceserver.Pass {
	p, _ := caddyhttp.GetVar(r.Context(), passVar).(*resourceserver.Pass)
	return p
}

// admitted keeps p for later blnk_auth handlers and sets the placeholders
// Caddy's access log and later handlers read.
func admitted(r *http.Request, p *resourceserver.Pass) {
	caddyhttp.SetVar(r.Context(), passVar, p)
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("http.auth.user.id", p.Client.BoxedID())
	repl.Set("http.auth.user.name", p.Client.BoxedName())
	repl.Set("http.auth.user.scopes", p.ScopesBoxed)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddy.Validator             = (*Auth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
)
