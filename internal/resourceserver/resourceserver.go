// Package resourceserver is the protected-resource side of the gateway (RFC
// 6750, RFC 9728): a Route lets a request through to the next handler only
// with a credential whose client is active and holds every scope the request
// needs there — the route's own, the JSON-RPC method's on an MCP route
// (package mcpscope), the operation's on a Blnk Core API (package blnkapi) —
// and keeps judging it while it runs (package inflight). It answers refusals
// with RFC 6750 challenges naming the route's Protected Resource Metadata,
// which it also serves. It knows nothing about Caddy: the blnk_auth handler
// in caddymodule translates its config into a Config and delegates to Route.
package resourceserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/blnkapi"
	"github.com/blnkfinance/blnk-auth-gateway/internal/inflight"
	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpscope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpsession"
	"github.com/blnkfinance/blnk-auth-gateway/internal/ratelimit"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// Next is the handler after a Route, in the shape of Caddy's middleware
// chain (an error ends the request); caddyhttp.Handler satisfies it.
type Next interface {
	ServeHTTP(http.ResponseWriter, *http.Request) error
}

// Shared is what every route of one gateway uses.
type Shared struct {
	Backend *backend.Backend
	Decider *authn.Decider
	// Sessions binds MCP session IDs to the clients that opened them.
	Sessions *mcpsession.Binder
	// Issuer is the authorization server named in Protected Resource Metadata.
	Issuer string
	// DefaultAudience is the audience of tokens minted without a resource;
	// every route accepts it.
	DefaultAudience string
	// Leeway is the verifier's clock-skew tolerance: a token is judged live
	// until its expiry plus Leeway.
	Leeway time.Duration
	// Routes registers every route, for the token endpoint's resource check,
	// scopes_supported and the root metadata path.
	Routes *Routes
	// Decision counts a decision by the route's kind (KindPlain, KindMCP,
	// KindBlnk) and outcome ("allowed", or an error code); may be nil.
	Decision func(kind, outcome string)
	// Earlier returns the Pass an earlier route admitted this same request
	// with, or nil; Admitted records p for later routes and for the logs.
	// (Caddy keeps them in the request's variables and placeholders.)
	Earlier  func(r *http.Request) *Pass
	Admitted func(r *http.Request, p *Pass)

	// ClientIP is the caller's address as the server determined it (trusted
	// proxies considered), for the decider's failure throttle on API keys;
	// r.RemoteAddr when nil or "".
	ClientIP func(r *http.Request) string
	// ClientLimits holds the buckets of clients' own rate limits
	// (store.Client.RateLimit), shared by every route; nil enforces none.
	ClientLimits *ratelimit.Limiters
	// Throttled and RateLimited count requests refused with 429 for failing
	// authentication too often, and over a rate limit; either may be nil.
	Throttled, RateLimited func()
}

// Config is one protected route.
type Config struct {
	// Realm names the protection space in challenges; "" means "blnk".
	Realm string
	// Required are the scopes every request needs.
	Required scope.Set
	// Resources are the route's resource identifiers (RFC 8707), absolute
	// URLs; the first is named when the request's Host matches none.
	Resources []string
	// MountPath is the path prefix the route protects; "" means the path of
	// the first resource identifier, or the root.
	MountPath string
	// MCP makes the route an MCP endpoint, Blnk a Blnk Core API; at most one.
	MCP  *MCP
	Blnk *Blnk
	// Decisions, if not nil, receives one entry per decision at DEBUG level:
	// client, token ID, route, MCP method and tool, Blnk operation, outcome
	// and reason; never a credential. The level makes it opt-in: a Caddy log
	// that includes the logger's name at DEBUG level turns it on.
	Decisions *zap.Logger
	// RateLimit, if not nil, limits every client on this route, in a bucket
	// per client of the route's own (per client and person for a token the
	// client holds for a person); a client's own limit (one bucket for the
	// whole client) applies as well, so the stricter wins.
	RateLimit *ratelimit.Limit
}

// MCP configures an MCP route.
type MCP struct {
	// Policy maps JSON-RPC methods and tools to the scopes they need.
	Policy *mcpscope.Policy
	// MaxBodySize bounds how much of a body is read to find its method.
	MaxBodySize int64
}

// Blnk configures a route in front of Blnk Core.
type Blnk struct {
	// UpstreamKey, if not "", is sent to Blnk Core as X-Blnk-Key in place of
	// the caller's credential.
	UpstreamKey string
	// ManageAPIKeys forwards Blnk's /api-keys under Blnk's rules for a scoped key.
	ManageAPIKeys bool
}

// Route is one protected route, ready to serve.
type Route struct {
	sh       *Shared
	realm    string
	required scope.Set
	mcp      *MCP
	blnk     *Blnk
	kind     string      // KindPlain, KindMCP or KindBlnk, for metrics
	upstream []string    // the Blnk upstream key, ready to put in a header map
	log      *zap.Logger // the decision log

	base         scope.Set       // the least the route needs: required, plus mcp:read on an MCP route
	supported    scope.Set       // every scope the route may ask for, for its metadata
	mount        string          // the path prefix the route protects
	metadataPath string          // where this route's Protected Resource Metadata is served
	audience     authn.Resources // the audiences the route's tokens may have
	ids          []resourceID

	limit  *ratelimit.Limit    // the route's rate limit for every client; nil for none
	limits *ratelimit.Limiters // its buckets, one per client
}

// resourceID is one resource identifier of a route, ready for use.
type resourceID struct {
	url      string // the identifier, without a trailing slash
	host     string // its host[:port], to pick the one a request's Host names
	metadata string // the URL of its Protected Resource Metadata
}

// WellKnownPath is where RFC 9728 §3 puts Protected Resource Metadata, with
// the resource's path appended.
const WellKnownPath = "/.well-known/oauth-protected-resource"

// New makes a route of cfg and registers it with sh.Routes.
func New(cfg Config, sh *Shared) (*Route, error) {
	switch {
	case sh == nil || sh.Backend == nil || sh.Decider == nil:
		return nil, errors.New("a route needs the gateway's backend and decider")
	case cfg.MCP != nil && sh.Sessions == nil:
		return nil, errors.New("an MCP route needs a session binder")
	case cfg.MCP != nil && cfg.Blnk != nil:
		return nil, errors.New("a route is an MCP endpoint or a Blnk Core API, not both")
	case strings.ContainsAny(cfg.Realm, "\"\\"):
		return nil, errors.New("realm must not contain quotes or backslashes")
	case cfg.MountPath != "" && (!strings.HasPrefix(cfg.MountPath, "/") || strings.ContainsAny(cfg.MountPath, "*?#")):
		return nil, errors.New("mount path must be a plain path such as /mcp")
	}
	rt := &Route{sh: sh, realm: cfg.Realm, required: cfg.Required, mcp: cfg.MCP, blnk: cfg.Blnk, log: cfg.Decisions, limit: cfg.RateLimit}
	if rt.limit != nil {
		if rt.limit.Requests < 1 || rt.limit.Burst < 1 || rt.limit.Per < time.Second {
			return nil, errors.New("a rate limit needs at least one request per second or longer, and a burst of at least one")
		}
		rt.limits = ratelimit.New(0)
	}
	if rt.realm == "" {
		rt.realm = "blnk"
	}
	if rt.log == nil {
		rt.log = zap.NewNop()
	}
	for _, res := range cfg.Resources {
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
			return nil, fmt.Errorf("resource %q is not an absolute URL without a fragment", res)
		}
		res = strings.TrimSuffix(res, "/")
		if slices.ContainsFunc(rt.ids, func(id resourceID) bool { return id.url == res }) {
			continue
		}
		rt.ids = append(rt.ids, resourceID{
			url:      res,
			host:     u.Host,
			metadata: u.Scheme + "://" + u.Host + WellKnownPath + strings.TrimSuffix(u.Path, "/"),
		})
	}
	rt.mount = strings.TrimSuffix(cfg.MountPath, "/")
	if rt.mount == "" && len(rt.ids) > 0 {
		u, _ := url.Parse(rt.ids[0].url)
		rt.mount = u.Path
	}
	rt.metadataPath = WellKnownPath + rt.mount
	rt.audience = authn.Resources{Default: sh.DefaultAudience}
	for _, id := range rt.ids {
		rt.audience.IDs = append(rt.audience.IDs, id.url)
	}
	rt.base, rt.supported, rt.kind = rt.required, rt.required, KindPlain
	switch {
	case rt.mcp != nil:
		rt.kind = KindMCP
		if rt.mcp.Policy == nil {
			rt.mcp.Policy = mcpscope.DefaultPolicy()
		}
		if rt.mcp.MaxBodySize <= 0 {
			rt.mcp.MaxBodySize = DefaultMaxBodySize
		}
		// The least an MCP client needs to use the mount at all.
		rt.base = rt.required.Union(scope.MustParse("mcp:read"))
		rt.supported = rt.base.Union(scope.MustParse("mcp:write")).Union(rt.mcp.Policy.Scopes())
	case rt.blnk != nil:
		rt.kind = KindBlnk
		// What a client may need here: the route's scopes and every scope
		// Blnk Core checks (RFC 9728 scopes_supported).
		blnk, err := scope.FromList(blnkapi.Scopes(rt.blnk.ManageAPIKeys))
		if err != nil {
			return nil, err
		}
		rt.supported = rt.required.Union(blnk)
		if rt.blnk.UpstreamKey != "" {
			rt.upstream = []string{rt.blnk.UpstreamKey}
		}
	}
	if sh.Routes != nil {
		sh.Routes.add(rt)
	}
	return rt, nil
}

// Kinds of route, as metrics label them.
const (
	KindPlain = "plain"
	KindMCP   = "mcp"
	KindBlnk  = "blnk_api"
)

// DefaultMaxBodySize is how much of an MCP request body is read to find its
// method unless configured: 1 MiB.
const DefaultMaxBodySize = 1 << 20

// MountPath is the path prefix the route protects ("" for the root).
func (rt *Route) MountPath() string { return rt.mount }

// denyPathNotCanonical refuses a Blnk path that not every hop after this
// one would read alike.
var denyPathNotCanonical = &authn.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the path has dot or empty segments, encoded separators or characters outside RFC 3986 pchar"}

// ServeHTTP lets r through to next or answers it. It reads top to bottom:
// credential → client (cache) → scopes → next handler.
func (rt *Route) ServeHTTP(w http.ResponseWriter, r *http.Request, next Next) error {
	if r.URL.Path == rt.metadataPath {
		return rt.serveMetadata(w, r)
	}
	if r.URL.Path == WellKnownPath {
		return rt.serveRootMetadata(w, r) // the root variant, which the Caddyfile routes to every mount
	}
	// An earlier route on this request already authenticated it (and
	// removed the credential): only this route's scopes remain to check.
	if rt.sh.Earlier != nil {
		if p := rt.sh.Earlier(r); p != nil {
			return rt.serve(w, r, next, p, false)
		}
	}

	cred, d := authn.CredentialOf(r.Header)
	if d != nil {
		return rt.deny(w, r, nil, d)
	}
	if cred.APIKey {
		// API keys can be guessed at: the decider counts failures per address.
		cred.Addr = rt.clientIP(r)
	}
	b := rt.sh.Backend
	changes, now := b.Changes(), time.Now()
	who, d := rt.sh.Decider.Decide(r.Context(), cred, &rt.audience, now)
	if d != nil {
		return rt.deny(w, r, nil, d)
	}
	p := &Pass{Principal: who, changes: changes, judged: now}
	if cred.APIKey {
		p.apiKey = cred.Value
	}
	return rt.serve(w, r, next, p, true)
}

// Pass is who a request was admitted as, carried to later routes on the same
// request.
type Pass struct {
	authn.Principal
	apiKey  string    // the API key presented; "" for an access token
	changes uint64    // the change feed's count before the credential was judged
	judged  time.Time // when the credential was judged
	// session wraps the response writer on an MCP route; kept here, since
	// the Pass is allocated anyway, so that costs nothing more.
	session sessionWriter
	// What the request asked for, for the decision log: its JSON-RPC
	// method and tool (or prompt, resource) on an MCP route, the scope of
	// its Blnk operation.
	mcpMethod, mcpName, op string
}

// String names the client only: a Pass holds the credential it was admitted
// with, which must not reach a log or a placeholder.
func (p *Pass) String() string { return "blnk_auth pass for " + p.Client.ID() }

// serve lets an authenticated request through for as long as what admitted
// it holds. The request is registered with the requests in flight before any
// of its body is read, so that a revocation while the body arrives ends it
// too; then its scopes are judged against what it asks for (which may mean
// reading the body); then its client is judged once more as it is now. It
// runs under a context that the in-flight registry cancels when the client is
// revoked, deleted, expires, no longer holds what the request needed or has
// its API key rolled, or the token is revoked or expires — on every instance,
// through the change feed. Cancelling it makes a proxying next handler end the
// upstream exchange and the response, so a held stream ends too, not just the
// next request. first is the first route the request meets: it records the
// Pass and removes the credential.
func (rt *Route) serve(w http.ResponseWriter, r *http.Request, next Next, p *Pass, first bool) error {
	if done := rt.rateLimit(w, r, p, first); done {
		return nil
	}
	a := inflight.Authority{ClientID: p.Client.ID(), ClientExpires: p.Client.ExpiresAt(), Need: rt.required, APIKey: p.apiKey}
	if t := p.Token; t != nil {
		// As long as the verifier would still accept the token.
		a.JTI, a.KID, a.Token, a.TokenScopes, a.TokenEnd = t.JTI, t.KID, true, t.Scopes, t.ExpiresAt.Add(rt.sh.Leeway)
	} else if p.Client.HasPreviousSecret() {
		// Rare (after a roll): the key may be the previous secret, which
		// works only until the grace period ends.
		if _, until := p.Client.SecretValidity(p.apiKey, p.judged); until != nil {
			a.KeyUntil = *until
		}
	}
	flights := rt.sh.Backend.Flights
	ctx, f := flights.Start(r.Context(), &a)
	// Deferred: a proxy ends a cut-off stream by panicking with
	// http.ErrAbortHandler, and the flight must be unregistered all the same.
	defer flights.End(f)
	r = r.WithContext(ctx)

	more, op, done, err := rt.authorize(w, r, p)
	if done {
		return err
	}
	if d := rt.admit(r, f, p, more, op); d != nil {
		return rt.deny(w, r, p, d)
	}

	if first {
		if p.ScopesBoxed == nil {
			p.ScopesBoxed = p.Scopes.String()
		}
		if rt.sh.Admitted != nil {
			rt.sh.Admitted(r, p)
		}
		// No token passthrough: the upstream trusts the gateway, not the caller's credential.
		r.Header.Del("Authorization")
		r.Header.Del(authn.APIKeyHeader)
		rt.sh.Backend.RecordUse(p.Client, p.judged)
		rt.decide(r, p, "allowed", "", http.StatusOK)
	}
	if rt.upstream != nil {
		r.Header[authn.APIKeyHeader] = rt.upstream
	}
	if rt.mcp != nil && !p.session.bound {
		if done := rt.bindSession(w, r, p); done {
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
func (rt *Route) admit(r *http.Request, f *inflight.Flight, p *Pass, more scope.Set, op string) *authn.Error {
	b := rt.sh.Backend
	refused := authn.ErrInvalidToken
	if p.Token == nil {
		refused = authn.ErrInvalidAPIKey
	}
	if !b.Flights.SetNeeds(f, more, op) {
		return refused // ended while its body arrived
	}
	if b.Changes() == p.changes {
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
	e, d := rt.sh.Decider.Client(r.Context(), p.Client.ID(), want, now)
	if d != nil {
		return d
	}
	if p.Token != nil && (b.Revoked.Has(p.Token.JTI) || !rt.sh.Decider.Verifier.Trusts(p.Token.KID)) {
		return refused // revoked, or its signing key was (an emergency rotation)
	}
	// The key was matched against p.Client moments ago; only a changed record
	// needs the hashing again.
	if !b.Flights.Confirm(f, e, now, e != p.Client) {
		return refused
	}
	return nil
}

// rateLimit refuses a request over its client's own rate limit (counted on
// the first route the request meets) or this route's limit for every client
// (each route its own): both must allow it, so the stricter wins. A refusal
// takes nothing from the other bucket. It answers 429 with Retry-After and
// the RateLimit header fields, on an MCP route with a JSON-RPC error, and
// reports done. Without limits it costs two nil checks; with one, a bucket
// lookup and no allocation.
func (rt *Route) rateLimit(w http.ResponseWriter, r *http.Request, p *Pass, first bool) (done bool) {
	var own ratelimit.Limit
	hasOwn := first && p.Client.RateLimit() != nil && rt.sh.ClientLimits != nil
	if !hasOwn && rt.limit == nil {
		return false
	}
	id, now := p.Client.ID(), p.judged
	if hasOwn {
		own = ratelimit.Limit(*p.Client.RateLimit())
		if rt.limit != nil {
			// Look before taking from the route's bucket.
			if wait := rt.sh.ClientLimits.Wait(id, own, now); wait > 0 {
				rt.refuseRate(w, r, p, "client", own, wait)
				return true
			}
		}
	}
	if rt.limit != nil {
		// Per client, and per person for a token the client holds for one:
		// people sharing one MCP host do not share the route's bucket.
		key := id
		if p.Token != nil && p.Token.Subject != id {
			key = id + " " + p.Token.Subject // a client ID has no space
		}
		if ok, wait := rt.limits.Allow(key, *rt.limit, now); !ok {
			rt.refuseRate(w, r, p, "route", *rt.limit, wait)
			return true
		}
	}
	if hasOwn {
		if ok, wait := rt.sh.ClientLimits.Allow(id, own, now); !ok {
			rt.refuseRate(w, r, p, "client", own, wait)
			return true
		}
	}
	return false
}

// errRateLimited is the body of a 429 over a rate limit.
var errRateLimited = &authn.Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Description: "rate limit exceeded; retry after the Retry-After delay"}

// jsonRPCRateLimited is an MCP route's 429 body: a JSON-RPC error of the
// server-error range, since the request's id is not read before the limit.
var jsonRPCRateLimited = mcpscope.JSONRPCError(nil, -32000, "Too Many Requests: rate limit exceeded; retry after the Retry-After delay")

func (rt *Route) refuseRate(w http.ResponseWriter, r *http.Request, p *Pass, policy string, l ratelimit.Limit, wait time.Duration) {
	rt.decide(r, p, "rate_limited", "over the "+policy+" rate limit", http.StatusTooManyRequests)
	if rt.sh.RateLimited != nil {
		rt.sh.RateLimited()
	}
	h := w.Header()
	ratelimit.SetHeaders(h, policy, l, wait)
	if rt.mcp != nil {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(jsonRPCRateLimited)
		return
	}
	authn.WriteJSON(w, errRateLimited.Status, errRateLimited.Code, errRateLimited.Description)
}

// clientIP is the caller's address as the server determined it.
func (rt *Route) clientIP(r *http.Request) string {
	if rt.sh.ClientIP != nil {
		if ip := rt.sh.ClientIP(r); ip != "" {
			return ip
		}
	}
	return r.RemoteAddr
}

// decide counts a decision and, when the decision log is on, writes it: who
// (client, token ID; never a credential), where (route, method, path), what
// (MCP method and tool, Blnk operation), and the outcome with its reason.
// p is nil when no client was identified.
func (rt *Route) decide(r *http.Request, p *Pass, outcome, reason string, status int) {
	if rt.sh.Decision != nil {
		rt.sh.Decision(rt.kind, outcome)
	}
	// When the request is traced (Caddy's tracing directive), the decision
	// appears in its span; not recording costs a context lookup.
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		attrs := []attribute.KeyValue{attribute.String("blnk_auth.outcome", outcome)}
		if p != nil {
			attrs = append(attrs, attribute.String("blnk_auth.client_id", p.Client.ID()))
		}
		span.SetAttributes(attrs...)
		span.AddEvent("blnk_auth decision", trace.WithAttributes(attrs...))
	}
	c := rt.log.Check(zapcore.DebugLevel, "decision")
	if c == nil {
		return
	}
	fields := make([]zap.Field, 0, 12)
	fields = append(fields, zap.String("outcome", outcome), zap.Int("status", status))
	if reason != "" {
		fields = append(fields, zap.String("reason", reason))
	}
	fields = append(fields, zap.String("route", rt.mount+"/"), zap.String("method", r.Method), zap.String("path", r.URL.Path))
	if p != nil {
		fields = append(fields, zap.String("client_id", p.Client.ID()))
		if p.Token != nil {
			fields = append(fields, zap.String("jti", p.Token.JTI))
			if p.Token.Subject != p.Client.ID() { // the person a client acts for
				fields = append(fields, zap.String("sub", p.Token.Subject))
			}
		} else {
			fields = append(fields, zap.String("credential", "api_key"))
		}
		if p.mcpMethod != "" {
			fields = append(fields, zap.String("mcp_method", p.mcpMethod))
		}
		if p.mcpName != "" {
			fields = append(fields, zap.String("mcp_name", p.mcpName))
		}
		if p.op != "" {
			fields = append(fields, zap.String("blnk_scope", p.op))
		}
	}
	c.Write(fields...)
}

// deny writes the RFC 6750 §3 challenge and a JSON error body.
func (rt *Route) deny(w http.ResponseWriter, r *http.Request, p *Pass, d *authn.Error) error {
	return rt.denyNeeding(w, r, p, d, "")
}

// denyNeeding is deny naming the scopes the request needs ("" for the route's).
func (rt *Route) denyNeeding(w http.ResponseWriter, r *http.Request, p *Pass, d *authn.Error, need string) error {
	outcome := d.Code
	switch {
	case outcome == "":
		outcome = "unauthenticated"
	case d.Status == http.StatusTooManyRequests:
		outcome = "throttled" // not the store outage that shares its error code
	}
	reason := d.Description
	if need != "" {
		reason += " (needs " + need + ")"
	}
	if d.Status == http.StatusTooManyRequests && rt.sh.Throttled != nil {
		rt.sh.Throttled()
	}
	rt.decide(r, p, outcome, reason, d.Status)
	// RFC 6750 §3 with RFC 9728 §5.1: where to discover the authorization
	// server, and the scopes this route needs (on a 401 the least it needs
	// for any use, on a 403 all the refused request needs: the same here).
	c := authn.Challenge{Realm: rt.realm, Scope: need}
	if c.Scope == "" {
		c.Scope = rt.base.String()
	}
	if id := rt.identifierFor(r); id != nil {
		c.ResourceMetadata = id.metadata
	}
	d.Write(w, c)
	return nil
}
