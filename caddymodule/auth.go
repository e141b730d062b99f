package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/blnkapi"
	"github.com/blnkfinance/blnk-auth-gateway/internal/inflight"
	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpscope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpsession"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
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

	app      *App
	logger   *zap.Logger
	required scope.Set

	base         scope.Set       // the least the route needs: required, plus mcp:read on an MCP route
	supported    scope.Set       // every scope the route may ask for, for its metadata
	metadataPath string          // where this route's Protected Resource Metadata is served
	audience     authn.Resources // the audiences the route's tokens may have
	ids          []resourceID
}

// resourceID is one resource identifier of a route, ready for use.
type resourceID struct {
	url      string // the identifier, without a trailing slash
	host     string // its host[:port], to pick the one a request's Host names
	metadata string // the URL of its Protected Resource Metadata
}

// CaddyModule returns the Caddy module information.
func (Auth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.blnk_auth",
		New: func() caddy.Module { return new(Auth) },
	}
}

// Provision parses the required scopes and registers the route's audience.
func (h *Auth) Provision(ctx caddy.Context) error {
	a, err := app(ctx)
	if err != nil {
		return err
	}
	return h.provision(ctx, a)
}

func (h *Auth) provision(ctx caddy.Context, a *App) (err error) {
	h.app = a
	h.logger = ctx.Logger()
	if h.Realm == "" {
		h.Realm = "blnk"
	}
	if h.required, err = scope.FromList(h.Scopes); err != nil {
		return err
	}
	h.ids = nil
	for _, res := range append([]string{h.Resource}, h.Resources...) {
		u, err := url.Parse(res)
		if res == "" || err != nil {
			continue // Validate refused anything unparsable
		}
		res = strings.TrimSuffix(res, "/")
		if slices.ContainsFunc(h.ids, func(id resourceID) bool { return id.url == res }) {
			continue
		}
		h.ids = append(h.ids, resourceID{
			url:      res,
			host:     u.Host,
			metadata: u.Scheme + "://" + u.Host + wellKnownResource + strings.TrimSuffix(u.Path, "/"),
		})
	}
	mount := strings.TrimSuffix(h.MountPath, "/")
	if mount == "" && len(h.ids) > 0 {
		u, _ := url.Parse(h.ids[0].url)
		mount = u.Path
	}
	h.MountPath = mount
	h.metadataPath = wellKnownResource + mount
	h.audience = authn.Resources{Default: a.audience}
	for _, id := range h.ids {
		h.audience.IDs = append(h.audience.IDs, id.url)
	}
	h.base = h.required
	if h.MCP != nil {
		if err := h.MCP.provision(); err != nil {
			return err
		}
		// The least an MCP client needs to use the mount at all.
		h.base = h.required.Union(scope.MustParse("mcp:read"))
		h.supported = h.base.Union(scope.MustParse("mcp:write"))
		for _, list := range h.MCP.Tools {
			h.supported = h.supported.Union(scope.MustParse(strings.Join(list, " ")))
		}
		for _, list := range h.MCP.Methods {
			if set, err := scope.FromList(list); err == nil {
				h.supported = h.supported.Union(set)
			}
		}
	} else if h.BlnkAPI != nil {
		// What a client may need here: the route's scopes and every scope
		// Blnk Core checks (RFC 9728 scopes_supported).
		blnk, err := scope.FromList(blnkapi.Scopes(h.BlnkAPI.ManageAPIKeys))
		if err != nil {
			return err
		}
		h.supported = h.required.Union(blnk)
	} else {
		h.supported = h.required
	}
	a.addRoute(h)
	if h.BlnkAPI != nil {
		if key := caddy.NewReplacer().ReplaceKnown(h.BlnkAPI.UpstreamKey, ""); key != "" {
			h.BlnkAPI.key = []string{key}
		}
	}
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

	key []string // the expanded key, ready to put in a header map
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

	policy *mcpscope.Policy
}

func (m *MCP) provision() error {
	if m.MaxBodySize <= 0 {
		m.MaxBodySize = 1 << 20
	}
	p := mcpscope.DefaultPolicy()
	for method, list := range m.Methods {
		set, err := scope.FromList(list)
		if err != nil {
			return fmt.Errorf("mcp method %s: %w", method, err)
		}
		p = p.WithMethod(method, set)
	}
	for tool, list := range m.Tools {
		set, err := scope.FromList(list)
		if err != nil || set.IsEmpty() {
			return fmt.Errorf("mcp tool %s: needs valid scopes", tool)
		}
		p = p.WithTool(tool, set)
	}
	m.policy = p
	return nil
}

// wellKnownResource is where RFC 9728 §3 puts Protected Resource Metadata,
// with the resource's path appended.
const wellKnownResource = "/.well-known/oauth-protected-resource"

// Validate checks the options.
func (h *Auth) Validate() error {
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

// denyPathNotCanonical refuses a Blnk path that not every hop after this
// one would read alike.
var denyPathNotCanonical = &authn.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the path has dot or empty segments, encoded separators or characters outside RFC 3986 pchar"}

// ServeHTTP implements caddyhttp.MiddlewareHandler. It reads top to bottom:
// credential → client (cache) → scopes → next handler.
func (h *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.URL.Path == h.metadataPath {
		return h.serveMetadata(w, r)
	}
	if r.URL.Path == wellKnownResource {
		return h.serveRootMetadata(w, r) // the root variant, which the Caddyfile routes to every mount
	}
	// An earlier blnk_auth on this request already authenticated it (and
	// removed the credential): only this route's scopes remain to check.
	if p, ok := caddyhttp.GetVar(r.Context(), principalVar).(*principal); ok {
		return h.serve(w, r, next, p, false)
	}

	cred, d := authn.CredentialOf(r.Header)
	if d != nil {
		return h.deny(w, r, d)
	}
	changes, now := h.app.backend.Changes(), time.Now()
	who, d := h.app.decider.Decide(r.Context(), cred, &h.audience, now)
	if d != nil {
		return h.deny(w, r, d)
	}
	p := &principal{Principal: who, changes: changes, judged: now}
	if cred.APIKey {
		p.apiKey = cred.Value
	}
	return h.serve(w, r, next, p, true)
}

// serve lets an authenticated request through for as long as what admitted
// it holds. The request is registered with the requests in flight before any
// of its body is read, so that a revocation while the body arrives ends it
// too; then its scopes are judged against what it asks for (which may mean
// reading the body); then its client is judged once more as it is now. It
// runs under a context that the in-flight registry cancels when the client is
// revoked, deleted, expires, no longer holds what the request needed or has
// its API key rolled, or the token is revoked or expires — on every instance,
// through the change feed. Cancelling it makes reverse_proxy end the upstream
// exchange and the response, so a held stream ends too, not just the next
// request. first is the first blnk_auth the request meets: it sets the
// placeholders and removes the credential.
func (h *Auth) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, p *principal, first bool) error {
	a := inflight.Authority{ClientID: p.Client.Client.ID, ClientExpires: p.Client.Client.ExpiresAt, Need: h.required, APIKey: p.apiKey}
	if t := p.Token; t != nil {
		// As long as the verifier would still accept the token.
		a.JTI, a.Token, a.TokenScopes, a.TokenEnd = t.JTI, true, t.Scopes, t.ExpiresAt.Add(time.Duration(h.app.Leeway))
	} else if p.Client.Client.PreviousSecretHash != nil {
		// Rare (after a roll): the key may be the previous secret, which
		// works only until the grace period ends.
		if _, until := p.Client.Client.SecretValidity(p.apiKey, p.judged); until != nil {
			a.KeyUntil = *until
		}
	}
	flights := h.app.backend.Flights
	ctx, f := flights.Start(r.Context(), &a)
	// Deferred: reverse_proxy ends a cut-off stream by panicking with
	// http.ErrAbortHandler, and the flight must be unregistered all the same.
	defer flights.End(f)
	r = r.WithContext(ctx)

	more, op, done, err := h.authorize(w, r, p.Client.Client.ID, p.Scopes)
	if done {
		return err
	}
	if d := h.admit(r, f, p, more, op); d != nil {
		return h.deny(w, r, d)
	}

	if first {
		caddyhttp.SetVar(r.Context(), principalVar, p)
		repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		repl.Set("http.auth.user.id", p.Client.BoxedID)
		repl.Set("http.auth.user.name", p.Client.BoxedName)
		if p.ScopesBoxed == nil {
			p.ScopesBoxed = p.Scopes.String()
		}
		repl.Set("http.auth.user.scopes", p.ScopesBoxed)
		// No token passthrough: the upstream trusts the gateway, not the caller's credential.
		r.Header.Del("Authorization")
		r.Header.Del(APIKeyHeader)
		h.app.backend.RecordUse(p.Client, p.judged)
		h.app.metrics.decision("allowed")
	}
	h.setUpstreamCredential(r)
	if h.MCP != nil && !p.session.bound {
		if done := h.bindSession(w, r, p); done {
			return nil
		}
		w = &p.session
	}
	return next.ServeHTTP(w, r)
}

// admit completes a registered request's authority with what it needs beyond
// the route's scopes and refuses it if the registry ended it while its body
// arrived. Then, if the change feed applied anything since the credential was
// judged, it judges the client again as it is now: such a change may have
// been rechecked before the request was registered, or without its needs.
func (h *Auth) admit(r *http.Request, f *inflight.Flight, p *principal, more scope.Set, op string) *authn.Error {
	flights := h.app.backend.Flights
	refused := authn.ErrInvalidToken
	if p.Token == nil {
		refused = authn.ErrInvalidAPIKey
	}
	going := flights.SetNeeds(f, more, op)
	if !going {
		return refused // ended while its body arrived
	}
	if h.app.backend.Changes() == p.changes {
		// The change feed applied nothing since the credential was judged,
		// and will recheck this request, needs and all, for anything it
		// applies from now on: no need to judge again. (The common case.)
		return nil
	}
	now := time.Now()
	want := store.TypeOAuth
	if p.Token == nil {
		want = store.TypeAPIKey
	}
	e, d := h.app.decider.Client(r.Context(), p.Client.Client.ID, want, now)
	if d != nil {
		return d
	}
	if p.Token != nil && h.app.backend.Revoked.Has(p.Token.JTI) {
		return refused
	}
	// The key was matched against p.Client moments ago; only a changed record
	// needs the hashing again.
	if !flights.Confirm(f, e.Client, now, e != p.Client) {
		return refused
	}
	return nil
}

// principalVar holds the request's authenticated *principal, for later blnk_auth handlers.
const principalVar = "blnk_auth.principal"

// principal is who a request was authenticated as.
type principal struct {
	authn.Principal
	apiKey  string    // the API key presented; "" for an access token
	changes uint64    // the change feed's count before the credential was judged
	judged  time.Time // when the credential was judged
	// session wraps the response writer on an MCP route; kept here, since
	// the principal is allocated anyway, so that costs nothing more.
	session sessionWriter
}

// sessionHeader is the MCP Streamable HTTP session header (canonical form).
const sessionHeader = "Mcp-Session-Id"

// bindSession keeps MCP sessions to the client that opened them: the session
// ID the request carries must be one this gateway wrapped for this client
// (internal/mcpsession); it goes upstream unwrapped, and the upstream's
// session ID in the response comes back wrapped. A foreign, tampered or
// made-up ID gets what the MCP specification gives an unknown session, 404,
// and never reaches the upstream. done reports that it answered.
func (h *Auth) bindSession(w http.ResponseWriter, r *http.Request, p *principal) (done bool) {
	p.session = sessionWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, binder: h.app.sessions, clientID: p.Client.Client.ID, bound: true}
	switch ids := r.Header[sessionHeader]; {
	case len(ids) > 1:
		_ = h.answerJSONRPC(w, nil, errors.New("two session IDs"))
		return true
	case len(ids) == 1:
		upstream, ok := h.app.sessions.Unwrap(p.Client.Client.ID, ids[0])
		if !ok {
			h.app.metrics.decision("unknown_session")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write(mcpscope.JSONRPCError(nil, -32001, "Session not found"))
			return true
		}
		r.Header[sessionHeader] = []string{upstream}
	}
	return false
}

// sessionWriter wraps the upstream's Mcp-Session-Id in the response for the
// client, whichever way the response starts.
type sessionWriter struct {
	caddyhttp.ResponseWriterWrapper
	binder   *mcpsession.Binder
	clientID string
	bound    bool // the request's session was handled (by this or an earlier blnk_auth)
	started  bool
}

func (s *sessionWriter) start() {
	if s.started {
		return
	}
	s.started = true
	hdr := s.ResponseWriter.Header()
	if ids := hdr[sessionHeader]; len(ids) == 1 {
		hdr[sessionHeader] = []string{s.binder.Wrap(s.clientID, ids[0])}
	} else if len(ids) > 1 {
		delete(hdr, sessionHeader) // ambiguous: no client could use it
	}
}

func (s *sessionWriter) WriteHeader(code int) {
	if code >= 200 {
		s.start()
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *sessionWriter) Write(b []byte) (int, error) {
	s.start()
	return s.ResponseWriter.Write(b)
}

func (s *sessionWriter) ReadFrom(r io.Reader) (int64, error) {
	s.start()
	return s.ResponseWriterWrapper.ReadFrom(r)
}

// FlushError flushes after the header is in place: http.ResponseController
// would otherwise unwrap past this writer and send the header unwrapped.
func (s *sessionWriter) FlushError() error {
	s.start()
	return http.NewResponseController(s.ResponseWriter).Flush()
}

// authorize checks that scopes cover what the request needs here: the
// route's scopes, the JSON-RPC method's on an MCP route, the operation's on a
// Blnk API, and on Blnk's /api-keys its own rules for the caller clientID.
// If not, it answers (403, or a JSON-RPC error for a malformed MCP message)
// and reports done. Otherwise more and op are what the request needs beyond
// the route's scopes, so that its authority can be re-judged while it runs.
func (h *Auth) authorize(w http.ResponseWriter, r *http.Request, clientID string, scopes scope.Set) (more scope.Set, op string, done bool, err error) {
	if h.MCP != nil {
		call, perr := mcpscope.PeekStrict(r, h.MCP.MaxBodySize)
		if perr != nil {
			return more, "", true, h.answerJSONRPC(w, call.ID, perr)
		}
		needs := h.MCP.policy.Required(call)
		if !scopes.CoversAll(h.required) || !scopes.CoversAll(needs) {
			return more, "", true, h.denyNeeding(w, r, authn.ErrInsufficientScope, h.required.Union(needs).String())
		}
		return needs, "", false, nil
	}
	if h.BlnkAPI != nil {
		// Judge a Blnk path only when every hop after this one reads it alike.
		if !blnkapi.Canonical(r.URL.Path, r.URL.RawPath) {
			return more, "", true, h.deny(w, r, denyPathNotCanonical)
		}
		// Before the scopes, so that no challenge asks for a scope that
		// cannot help.
		if !h.BlnkAPI.ManageAPIKeys && blnkapi.KeysOperation(r.Method, r.URL.Path) != blnkapi.NotKeys {
			return more, "", true, h.deny(w, r, denyKeysDisabled)
		}
	}
	op, need, ok := h.permits(r, scopes)
	if !ok {
		return more, "", true, h.denyNeeding(w, r, authn.ErrInsufficientScope, need)
	}
	if h.BlnkAPI != nil {
		if done, err := h.judgeAPIKeys(w, r, clientID, scopes); done {
			return more, "", true, err
		}
	}
	return more, op, false, nil
}

// answerJSONRPC refuses a malformed MCP message as MCP clients expect: a
// JSON-RPC error, never a crash, and nothing reaches the upstream.
func (h *Auth) answerJSONRPC(w http.ResponseWriter, id json.RawMessage, err error) error {
	status, code, msg, ok := mcpscope.Answer(err)
	if !ok {
		status, code, msg = http.StatusBadRequest, -32600, "Invalid Request"
	}
	h.app.metrics.decision("invalid_request")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(mcpscope.JSONRPCError(id, code, msg))
	return nil
}

// permits reports whether scopes cover what the request needs here: the
// route's scopes, and for a Blnk API the scope of the operation. When not,
// need is what to name in the challenge ("" for the route's scopes).
func (h *Auth) permits(r *http.Request, scopes scope.Set) (op, need string, ok bool) {
	if !scopes.CoversAll(h.required) {
		return "", "", false
	}
	if h.BlnkAPI != nil {
		var known bool
		op, known = blnkapi.RequiredScope(r.Method, r.URL.Path)
		if !known || !scopes.Covers(op) {
			return "", h.withRequired(op), false
		}
	}
	return op, "", true
}

// withRequired joins the route's scopes and one more, for a challenge.
func (h *Auth) withRequired(extra string) string {
	if extra == "" {
		return h.required.String()
	}
	if h.required.IsEmpty() {
		return extra
	}
	return h.required.String() + " " + extra
}

// setUpstreamCredential puts the gateway's own Blnk API key on the request.
func (h *Auth) setUpstreamCredential(r *http.Request) {
	if h.BlnkAPI != nil && h.BlnkAPI.key != nil {
		r.Header[APIKeyHeader] = h.BlnkAPI.key
	}
}

// identifierFor is the resource identifier to name to r's client: the one
// whose host is r's Host, else the first; nil when the route has none. The
// Host only chooses among configured identifiers.
func (h *Auth) identifierFor(r *http.Request) *resourceID {
	switch len(h.ids) {
	case 0:
		return nil
	case 1:
		return &h.ids[0]
	}
	for i := range h.ids {
		if strings.EqualFold(h.ids[i].host, r.Host) {
			return &h.ids[i]
		}
	}
	return &h.ids[0]
}

// serveMetadata answers GET /.well-known/oauth-protected-resource<mount> (RFC 9728 §3.2).
func (h *Auth) serveMetadata(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		authn.WriteJSON(w, http.StatusMethodNotAllowed, "invalid_request", "use GET")
		return nil
	}
	id := h.identifierFor(r)
	if id == nil {
		authn.WriteJSON(w, http.StatusNotFound, "not_found", "this route has no resource identifier: tokens with the default audience pass it")
		return nil
	}
	b, err := json.Marshal(map[string]any{
		"resource":                 id.url,
		"authorization_servers":    []string{h.app.issuerURL.String()},
		"scopes_supported":         h.supported.List(),
		"bearer_methods_supported": []string{"header"},
	})
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	if len(h.ids) == 1 {
		hdr.Set("Cache-Control", "public, max-age=300") // the same document for every request
	} else {
		// Chosen by the request's Host: a shared cache must not hand it to another.
		hdr.Set("Cache-Control", "private, max-age=300")
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
	return nil
}

// serveRootMetadata answers /.well-known/oauth-protected-resource at a
// mount elsewhere: that mount's metadata while it is the config's only one,
// else the metadata of a mount at the root of this host, else 404 (several
// mounts: the root would be ambiguous, and a 401 would send clients looking
// for a token).
func (h *Auth) serveRootMetadata(w http.ResponseWriter, r *http.Request) error {
	if owner := h.app.rootMetadataOwner(h, r.Host); owner != nil {
		return owner.serveMetadata(w, r)
	}
	authn.WriteJSON(w, http.StatusNotFound, "not_found", "no single protected resource is described at the root: fetch /.well-known/oauth-protected-resource/<path> of the mount you want")
	return nil
}

// deny writes the RFC 6750 §3 challenge and a JSON error body.
func (h *Auth) deny(w http.ResponseWriter, r *http.Request, d *authn.Error) error {
	return h.denyNeeding(w, r, d, "")
}

// denyNeeding is deny naming the scopes the request needs ("" for the route's).
func (h *Auth) denyNeeding(w http.ResponseWriter, r *http.Request, d *authn.Error, need string) error {
	outcome := d.Code
	if outcome == "" {
		outcome = "unauthenticated"
	}
	h.app.metrics.decision(outcome)
	if c := h.logger.Check(zapcore.DebugLevel, "request refused"); c != nil {
		c.Write(zap.String("error", outcome), zap.String("uri", r.RequestURI))
	}
	// RFC 6750 §3 with RFC 9728 §5.1: where to discover the authorization
	// server, and the scopes this route needs (on a 401 the least it needs
	// for any use, on a 403 all the refused request needs: the same here).
	c := authn.Challenge{Realm: h.Realm, Scope: need}
	if c.Scope == "" {
		c.Scope = h.base.String()
	}
	if id := h.identifierFor(r); id != nil {
		c.ResourceMetadata = id.metadata
	}
	d.Write(w, c)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddy.Validator             = (*Auth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
)
