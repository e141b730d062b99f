package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/throttle"
)

// Scopes of the admin API, in Blnk Core's resource:action vocabulary.
const (
	ScopeRead   = "api-keys:read"
	ScopeWrite  = "api-keys:write"
	ScopeDelete = "api-keys:delete"
)

const (
	// MasterKeyHeader carries the master key (the header of API keys).
	MasterKeyHeader = authn.APIKeyHeader
	// MasterActor is the audit actor of the master key.
	MasterActor = "master_key"
	// maxBody bounds a request body; a real one is well under 1 KiB.
	maxBody = 64 << 10
)

// Caller is the client of this gateway whose bearer token or API key a
// request presents.
type Caller struct {
	ClientID string
	// Scopes the credential holds now.
	Scopes scope.Set
	// Master: the caller proved the master key (a dashboard session opened
	// with it); ClientID and Scopes are ignored. Only ServeAs honours it.
	Master bool
}

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	// Service does the work; its Now is the handler's clock too.
	Service *Service
	// MasterKey, presented in the X-Blnk-Key header, may do anything; ""
	// means none. Whoever configures it checks its length.
	MasterKey string
	// AllowedOrigins may call the API from a browser (CORS).
	AllowedOrigins []string
	// Authenticate decides the request's credential: the client behind it
	// and the scopes it holds now. A refusal that is an *authn.Error is
	// answered with its RFC 6750 challenge; any other error is a 500. When
	// nil, only the master key gets in.
	Authenticate func(r *http.Request) (Caller, error)
	// ClientIP is the caller's address for the audit log; r.RemoteAddr when
	// nil or "".
	ClientIP func(r *http.Request) string
	// RequestID names the request in the audit log when it carries no sane
	// X-Request-Id; none when nil.
	RequestID func(r *http.Request) string
	// Logger gets unexpected failures; its "audit" child gets one line per
	// change (never a secret). Nothing is logged when nil.
	Logger *zap.Logger
	// Throttle counts wrong master keys per address (API keys are counted
	// by Authenticate's decider, against their client ID too) and refuses an
	// address over its budget unjudged: 429 with Retry-After. Nil throttles
	// nothing.
	Throttle *throttle.Throttle
	// Throttled, if not nil, is told of every request refused with 429 for
	// failing authentication too often.
	Throttled func()
}

// Handler is the admin API: the client lifecycle as JSON over HTTP (create,
// list, inspect, update, revoke, roll the secret, delete, and the audit log),
// at paths relative to wherever it is mounted. Every request must be
// authenticated: a credential of this gateway with api-keys:read (GET),
// api-keys:write (POST, PATCH) or api-keys:delete (DELETE), or the master
// key. The OpenAPI document, served at /openapi.json, describes it.
type Handler struct {
	cfg        HandlerConfig
	logger     *zap.Logger
	audit      *zap.Logger
	masterHash *[32]byte
}

// NewHandler is the admin API over cfg.Service.
func NewHandler(cfg HandlerConfig) *Handler {
	h := &Handler{cfg: cfg, logger: cfg.Logger}
	if h.logger == nil {
		h.logger = zap.NewNop()
	}
	h.audit = h.logger.Named("audit")
	if cfg.MasterKey != "" {
		sum := sha256.Sum256([]byte(cfg.MasterKey))
		h.masterHash = &sum
	}
	return h
}

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument is the OpenAPI 3.1 description of the API, as served at
// /openapi.json.
func OpenAPIDocument() []byte { return slices.Clone(openAPIDocument) }

func errBadRequest(format string, args ...any) *authn.Error {
	return authn.NewError(http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...))
}

var (
	errNotFound    = authn.NewError(http.StatusNotFound, "not_found", "no such client")
	errRevokedEdit = authn.NewError(http.StatusConflict, "conflict", "the client is revoked; revoked clients cannot change (create a new one)")
)

// Operation is one operation of the API: a method, a path pattern (with
// {client_id}) and the scope it needs.
type Operation struct {
	Method, Pattern, Scope string
}

// route is an operation with its implementation.
type route struct {
	Operation
	handle func(h *Handler, w http.ResponseWriter, r *http.Request, c *call) error
}

// routes are the API's operations. TestOpenAPIMatchesRoutes keeps the
// OpenAPI document in step with this table.
var routes = []route{
	{Operation{http.MethodPost, "/clients", ScopeWrite}, (*Handler).createClient},
	{Operation{http.MethodGet, "/clients", ScopeRead}, (*Handler).listClients},
	{Operation{http.MethodGet, "/clients/{client_id}", ScopeRead}, (*Handler).getClient},
	{Operation{http.MethodPatch, "/clients/{client_id}", ScopeWrite}, (*Handler).updateClient},
	{Operation{http.MethodDelete, "/clients/{client_id}", ScopeDelete}, (*Handler).deleteClient},
	{Operation{http.MethodPost, "/clients/{client_id}/revoke", ScopeWrite}, (*Handler).revokeClient},
	{Operation{http.MethodPost, "/clients/{client_id}/roll-secret", ScopeWrite}, (*Handler).rollSecret},
	{Operation{http.MethodGet, "/clients/{client_id}/grants", ScopeRead}, (*Handler).listGrants},
	{Operation{http.MethodDelete, "/clients/{client_id}/grants", ScopeDelete}, (*Handler).revokeGrant},
	{Operation{http.MethodGet, "/grants", ScopeRead}, (*Handler).listGrantsByQuery},
	{Operation{http.MethodDelete, "/grants", ScopeDelete}, (*Handler).revokeGrantByQuery},
	{Operation{http.MethodGet, "/audit", ScopeRead}, (*Handler).listAudit},
	{Operation{http.MethodGet, "/keys", ScopeKeysRead}, (*Handler).listKeys},
	{Operation{http.MethodPost, "/keys/rotate", ScopeKeysWrite}, (*Handler).rotateKeys},
	{Operation{http.MethodGet, "/openapi.json", ScopeRead}, (*Handler).serveOpenAPI},
}

// Operations lists the API's operations, as the OpenAPI document does.
func Operations() []Operation {
	ops := make([]Operation, len(routes))
	for i, rt := range routes {
		ops[i] = rt.Operation
	}
	return ops
}

// match finds the route for a path, with the client ID it names, and the
// methods the path allows.
func match(method, path string) (*route, string, []string) {
	var allowed []string
	for i := range routes {
		rt := &routes[i]
		id, ok := matchPattern(rt.Pattern, path)
		if !ok {
			continue
		}
		allowed = append(allowed, rt.Method)
		if rt.Method == method {
			return rt, id, nil
		}
	}
	return nil, "", allowed
}

func matchPattern(pattern, path string) (id string, ok bool) {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return "", false
	}
	for i, p := range ps {
		if p == "{client_id}" {
			if xs[i] == "" {
				return "", false
			}
			id = xs[i]
		} else if p != xs[i] {
			return "", false
		}
	}
	return id, true
}

// call is one authenticated request.
type call struct {
	actor    Actor
	clientID string // from the path
}

// ServeHTTP answers every request that reaches it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.cors(w, r) {
		return
	}
	h.serve(w, r, func(need string) (Actor, error) { return h.caller(r, need) })
}

// ServeAs answers a request on behalf of a caller decided elsewhere (the
// dashboard's session), ignoring the request's own credential headers: the
// same operations, scope checks and audit as ServeHTTP, without CORS (the
// dashboard is same-origin). The caller's scopes must be those it holds now.
func (h *Handler) ServeAs(w http.ResponseWriter, r *http.Request, who Caller) {
	w.Header().Set("Cache-Control", "no-store")
	h.serve(w, r, func(need string) (Actor, error) {
		actor := Actor{Source: h.clientIP(r), RequestID: h.requestID(r)}
		if who.Master {
			actor.ID, actor.Unrestricted = MasterActor, true
			return actor, nil
		}
		if !who.Scopes.Covers(need) {
			return actor, authn.ErrInsufficientScope
		}
		actor.ID, actor.Scopes = who.ClientID, who.Scopes
		return actor, nil
	})
}

// serve routes the request and runs its operation for the caller that
// authenticate decides, given the scope the operation needs.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, authenticate func(need string) (Actor, error)) {
	rt, id, allowed := match(r.Method, r.URL.Path)
	if rt == nil {
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			h.fail(w, authn.NewError(http.StatusMethodNotAllowed, "method_not_allowed", "use "+strings.Join(allowed, " or ")))
			return
		}
		h.fail(w, authn.NewError(http.StatusNotFound, "not_found", "no such endpoint"))
		return
	}
	actor, err := authenticate(rt.Scope)
	if err != nil {
		var d *authn.Error
		if !errors.As(err, &d) {
			h.fail(w, err)
			return
		}
		c := authn.Challenge{Realm: "blnk"}
		if d.Status == http.StatusForbidden {
			c.Scope = rt.Scope
		}
		if d.Status == http.StatusTooManyRequests && h.cfg.Throttled != nil {
			h.cfg.Throttled()
		}
		d.Write(w, c)
		return
	}
	if err := rt.handle(h, w, r, &call{actor: actor, clientID: id}); err != nil {
		h.fail(w, err)
	}
}

// caller authenticates the request: the master key, or a token or API key of
// this gateway holding need.
func (h *Handler) caller(r *http.Request, need string) (Actor, error) {
	actor := Actor{Source: h.clientIP(r), RequestID: h.requestID(r)}
	if keys := r.Header.Values(MasterKeyHeader); h.masterHash != nil && len(keys) == 1 && r.Header.Get("Authorization") == "" {
		// Anything but an API key here is a try at the master key: one that
		// fails counts against the address, and an address failing too
		// often is refused before the comparison. (API keys are counted by
		// Authenticate.)
		masterTry := !credential.IsAPIKey(keys[0])
		now := h.service().now()
		if masterTry {
			if wait, refused := h.cfg.Throttle.Check(actor.Source, "", now); refused {
				return actor, authn.Throttled(wait)
			}
		}
		sum := sha256.Sum256([]byte(keys[0]))
		if subtle.ConstantTimeCompare(sum[:], h.masterHash[:]) == 1 {
			actor.ID, actor.Unrestricted = MasterActor, true
			return actor, nil
		}
		if masterTry {
			h.cfg.Throttle.Failed(actor.Source, "", now)
		}
	}
	if h.cfg.Authenticate == nil {
		if _, err := authn.CredentialOf(r.Header); err != nil {
			return actor, err
		}
		return actor, authn.ErrInvalidToken
	}
	who, err := h.cfg.Authenticate(r)
	if err != nil {
		return actor, err
	}
	if !who.Scopes.Covers(need) {
		return actor, authn.ErrInsufficientScope
	}
	actor.ID, actor.Scopes = who.ClientID, who.Scopes
	return actor, nil
}

// cors answers a preflight from an allowed origin (true: answered) and adds
// the CORS headers to other requests from one.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || !slices.Contains(h.cfg.AllowedOrigins, origin) {
		return false
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", origin)
	hdr.Add("Vary", "Origin")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	hdr.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
	hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Blnk-Key, X-Request-Id")
	hdr.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID is the caller's X-Request-Id when it is sane, else the configured one.
func (h *Handler) requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); requestIDPattern.MatchString(id) {
		return id
	}
	if h.cfg.RequestID != nil {
		return h.cfg.RequestID(r)
	}
	return ""
}

// clientIP is the caller's address as the server determined it.
func (h *Handler) clientIP(r *http.Request) string {
	if h.cfg.ClientIP != nil {
		if ip := h.cfg.ClientIP(r); ip != "" {
			return ip
		}
	}
	return r.RemoteAddr
}

// fail writes err as a JSON error; anything unexpected is a 500 that says nothing more.
func (h *Handler) fail(w http.ResponseWriter, err error) {
	var ae *authn.Error
	var ve *ValidationError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &ve):
		ae = errBadRequest("%s", ve.Error())
	case errors.Is(err, store.ErrNotFound):
		ae = errNotFound
	case errors.Is(err, store.ErrRevoked):
		ae = errRevokedEdit
	case errors.Is(err, ErrForbidden):
		ae = authn.NewError(http.StatusForbidden, "forbidden", strings.TrimPrefix(err.Error(), ErrForbidden.Error()+": "))
	case store.Unavailable(err):
		// An outage, not a fault of the request: say when to retry.
		h.logger.Warn("admin API request failed: the database is unavailable", zap.Error(err))
		ae = errUnavailable
	default:
		h.logger.Error("admin API request failed", zap.Error(err))
		ae = authn.NewError(http.StatusInternalServerError, "server_error", "internal error")
	}
	ae.SetRetryAfter(w.Header())
	authn.WriteJSON(w, ae.Status, ae.Code, ae.Description)
}

// errUnavailable answers a request the database could not serve.
var errUnavailable = authn.NewError(http.StatusServiceUnavailable, "temporarily_unavailable", "the database is unavailable; retry shortly")

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// readFields reads a JSON object body whose members must all be in allowed.
// An empty body is an empty object when emptyOK.
func readFields(w http.ResponseWriter, r *http.Request, emptyOK bool, allowed ...string) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, authn.NewError(http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("the body must be at most %d bytes", maxBody))
		}
		return nil, errBadRequest("could not read the body")
	}
	if len(bytes.TrimSpace(body)) == 0 && emptyOK {
		return map[string]json.RawMessage{}, nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, authn.NewError(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, errBadRequest("the body must be a JSON object")
	}
	if dec.More() {
		return nil, errBadRequest("the body must be one JSON object")
	}
	for k := range fields {
		switch {
		case slices.Contains(allowed, k):
		case k == "client_secret" || k == "api_key" || k == "secret":
			return nil, errBadRequest("%s: secrets are generated by the gateway and cannot be supplied", k)
		default:
			return nil, errBadRequest("%s: unknown field (allowed: %s)", k, strings.Join(allowed, ", "))
		}
	}
	return fields, nil
}

// decodeField unmarshals a present member; null is left to the caller.
func decodeField(fields map[string]json.RawMessage, name string, dst any) error {
	if err := json.Unmarshal(fields[name], dst); err != nil {
		return errBadRequest("%s: wrong type or format", name)
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// decodeExpiry reads expires_at: an RFC 3339 time, or null for never.
func decodeExpiry(fields map[string]json.RawMessage) (*time.Time, error) {
	raw := fields["expires_at"]
	if raw == nil || isNull(raw) {
		return nil, nil
	}
	var t time.Time
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, errBadRequest("expires_at: must be an RFC 3339 time, e.g. 2027-01-01T00:00:00Z, or null for never")
	}
	return &t, nil
}

// decodeRateLimit reads rate_limit: {"requests": N, "per": "1s"|"1m"|"1h",
// "burst": B} (burst optional, default N), or null for none.
func decodeRateLimit(fields map[string]json.RawMessage) (*store.RateLimit, error) {
	raw := fields["rate_limit"]
	if raw == nil || isNull(raw) {
		return nil, nil
	}
	const want = `rate_limit: must be {"requests": N, "per": "1s", "1m" or "1h", "burst": B} or null`
	var v struct {
		Requests *int    `json:"requests"`
		Per      *string `json:"per"`
		Burst    *int    `json:"burst"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil || v.Requests == nil || v.Per == nil {
		return nil, errBadRequest("%s", want)
	}
	per, ok := ParsePeriod(*v.Per)
	if !ok {
		return nil, errBadRequest("%s", want)
	}
	l := &store.RateLimit{Requests: *v.Requests, Per: per}
	if v.Burst != nil {
		if *v.Burst < 1 {
			return nil, errBadRequest("rate_limit: burst must be at least 1")
		}
		l.Burst = *v.Burst
	}
	return l, nil
}

// decodeClientKeys reads jwks (a JWK Set object, RFC 7591 §2) and jwks_uri
// (a string); nil when neither is given.
func decodeClientKeys(fields map[string]json.RawMessage) (*store.ClientKeys, error) {
	var k store.ClientKeys
	given := false
	if raw, ok := fields["jwks"]; ok && !isNull(raw) {
		if len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' {
			return nil, errBadRequest(`jwks: must be a JWK Set object, {"keys": [...]}`)
		}
		k.JWKS, given = string(raw), true
	}
	if raw, ok := fields["jwks_uri"]; ok && !isNull(raw) {
		if err := decodeField(fields, "jwks_uri", &k.JWKSURI); err != nil {
			return nil, err
		}
		given = true
	}
	if !given {
		return nil, nil
	}
	return &k, nil
}

func (h *Handler) service() *Service { return h.cfg.Service }

// logAudit sends a change to the audit logger (never a secret).
func (h *Handler) logAudit(action string, c *call, clientID string) {
	h.audit.Info(action,
		zap.String("actor", c.actor.ID),
		zap.String("client_id", clientID),
		zap.String("source", c.actor.Source),
		zap.String("request_id", c.actor.RequestID))
}

// createClient: POST /clients → 201 with the credentials, shown once.
func (h *Handler) createClient(w http.ResponseWriter, r *http.Request, c *call) error {
	fields, err := readFields(w, r, false, "name", "type", "scopes", "expires_at", "rate_limit", "redirect_uris", "token_endpoint_auth_method", "jwks", "jwks_uri")
	if err != nil {
		return err
	}
	var p CreateParams
	if _, ok := fields["name"]; !ok {
		return errBadRequest("name: is required")
	}
	if err := decodeField(fields, "name", &p.Name); err != nil {
		return err
	}
	if raw, ok := fields["type"]; ok && !isNull(raw) {
		var t string
		if err := decodeField(fields, "type", &t); err != nil {
			return err
		}
		p.Type = store.Type(t)
	}
	if _, ok := fields["scopes"]; !ok {
		return errBadRequest(`scopes: is required (["*"] grants everything)`)
	}
	if err := decodeField(fields, "scopes", &p.Scopes); err != nil {
		return err
	}
	if p.ExpiresAt, err = decodeExpiry(fields); err != nil {
		return err
	}
	if p.RateLimit, err = decodeRateLimit(fields); err != nil {
		return err
	}
	if raw, ok := fields["redirect_uris"]; ok && !isNull(raw) {
		if err := decodeField(fields, "redirect_uris", &p.RedirectURIs); err != nil {
			return err
		}
	}
	if raw, ok := fields["token_endpoint_auth_method"]; ok && !isNull(raw) {
		var m string
		if err := decodeField(fields, "token_endpoint_auth_method", &m); err != nil {
			return err
		}
		p.AuthMethod = store.AuthMethod(m)
	}
	if keys, err := decodeClientKeys(fields); err != nil {
		return err
	} else if keys != nil {
		p.Keys = *keys
	}
	created, err := h.service().Create(r.Context(), c.actor, p)
	if err != nil {
		return err
	}
	h.logAudit(store.ActionCreate, c, created.Client.ID)
	return writeJSON(w, http.StatusCreated, ViewCreated(created, h.service().now()))
}

// encodeListCursor encodes a position in the newest-first listing, opaque to callers.
func encodeListCursor(cur *store.Cursor) any {
	if cur == nil {
		return nil
	}
	return base64.RawURLEncoding.EncodeToString([]byte("c1|" + strconv.FormatInt(cur.CreatedAt.UnixMicro(), 10) + "|" + cur.ID))
}

func decodeListCursor(s string) (*store.Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	parts := strings.Split(string(raw), "|")
	if err != nil || len(parts) != 3 || parts[0] != "c1" || parts[2] == "" {
		return nil, errBadRequest("cursor: malformed (pass next_cursor from the previous page as it is)")
	}
	us, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return nil, errBadRequest("cursor: malformed (pass next_cursor from the previous page as it is)")
	}
	return &store.Cursor{CreatedAt: time.UnixMicro(us).UTC(), ID: parts[2]}, nil
}

// query reads the allowed query parameters, each at most once.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errBadRequest("malformed query string")
	}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			return nil, errBadRequest("%s: unknown query parameter (allowed: %s)", k, strings.Join(allowed, ", "))
		}
		if len(v) > 1 {
			return nil, errBadRequest("%s: given more than once", k)
		}
	}
	return q, nil
}

func limitParam(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxListLimit {
		return 0, errBadRequest("limit: must be a whole number from 1 to %d", MaxListLimit)
	}
	return n, nil
}

// listClients: GET /clients?status=&type=&limit=&cursor=
func (h *Handler) listClients(w http.ResponseWriter, r *http.Request, _ *call) error {
	q, err := query(r, "status", "type", "limit", "cursor")
	if err != nil {
		return err
	}
	p := ListParams{Status: store.Status(q.Get("status")), Type: store.Type(q.Get("type"))}
	if _, has := q["status"]; has && !p.Status.Valid() {
		return errBadRequest(`status: must be "active", "revoked" or "expired"`)
	}
	if _, has := q["type"]; has && !p.Type.Valid() {
		return errBadRequest(`type: must be "oauth" or "api_key"`)
	}
	if p.Limit, err = limitParam(q); err != nil {
		return err
	}
	if _, has := q["cursor"]; has {
		if p.After, err = decodeListCursor(q.Get("cursor")); err != nil {
			return err
		}
	}
	clients, next, err := h.service().List(r.Context(), p)
	if err != nil {
		return err
	}
	now := h.service().now()
	views := make([]ClientView, 0, len(clients))
	for _, c := range clients {
		views = append(views, View(c, now))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"clients": views, "next_cursor": encodeListCursor(next)})
}

// getClient: GET /clients/{client_id}
func (h *Handler) getClient(w http.ResponseWriter, r *http.Request, c *call) error {
	client, err := h.service().Get(r.Context(), c.clientID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, View(client, h.service().now()))
}

// updateClient: PATCH /clients/{client_id} with any of name, scopes, expires_at.
func (h *Handler) updateClient(w http.ResponseWriter, r *http.Request, c *call) error {
	fields, err := readFields(w, r, false, "name", "scopes", "expires_at", "rate_limit", "type", "redirect_uris", "jwks", "jwks_uri", "token_endpoint_auth_method")
	if err != nil {
		return err
	}
	var p UpdateParams
	if _, ok := fields["type"]; ok {
		return errBadRequest("type: cannot change; create a new client")
	}
	if _, ok := fields["token_endpoint_auth_method"]; ok {
		return errBadRequest("token_endpoint_auth_method: cannot change; create a new client")
	}
	if p.Keys, err = decodeClientKeys(fields); err != nil {
		return err
	}
	if _, ok := fields["name"]; ok {
		var name string
		if err := decodeField(fields, "name", &name); err != nil {
			return err
		}
		p.Name = &name
	}
	if _, ok := fields["scopes"]; ok {
		var list []string
		if err := decodeField(fields, "scopes", &list); err != nil {
			return err
		}
		p.Scopes = &list
	}
	if _, ok := fields["expires_at"]; ok {
		exp, err := decodeExpiry(fields)
		if err != nil {
			return err
		}
		p.ExpiresAt = &exp
	}
	if _, ok := fields["rate_limit"]; ok {
		l, err := decodeRateLimit(fields)
		if err != nil {
			return err
		}
		p.RateLimit = &l
	}
	if raw, ok := fields["redirect_uris"]; ok {
		list := []string{}
		if !isNull(raw) {
			if err := decodeField(fields, "redirect_uris", &list); err != nil {
				return err
			}
		}
		p.RedirectURIs = &list
	}
	if p.Name == nil && p.Scopes == nil && p.ExpiresAt == nil && p.RateLimit == nil && p.RedirectURIs == nil && p.Keys == nil {
		return errBadRequest("nothing to change: send name, scopes, expires_at, rate_limit, redirect_uris, jwks or jwks_uri")
	}
	client, err := h.service().Update(r.Context(), c.actor, c.clientID, p)
	if err != nil {
		return err
	}
	h.logAudit(store.ActionUpdate, c, client.ID)
	return writeJSON(w, http.StatusOK, View(client, h.service().now()))
}

// revokeClient: POST /clients/{client_id}/revoke, idempotent.
func (h *Handler) revokeClient(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := readFields(w, r, true); err != nil {
		return err
	}
	client, err := h.service().Revoke(r.Context(), c.actor, c.clientID)
	if err != nil {
		return err
	}
	h.logAudit(store.ActionRevoke, c, client.ID)
	return writeJSON(w, http.StatusOK, View(client, h.service().now()))
}

// rollSecret: POST /clients/{client_id}/roll-secret {"grace_period": "1h"}.
func (h *Handler) rollSecret(w http.ResponseWriter, r *http.Request, c *call) error {
	fields, err := readFields(w, r, true, "grace_period")
	if err != nil {
		return err
	}
	var grace time.Duration
	if raw, ok := fields["grace_period"]; ok && !isNull(raw) {
		var s string
		if err := decodeField(fields, "grace_period", &s); err != nil {
			return err
		}
		if grace, err = ParseDuration(s); err != nil {
			return errBadRequest(`grace_period: a duration such as "1h" or "30m"`)
		}
	}
	created, err := h.service().RollSecret(r.Context(), c.actor, c.clientID, grace)
	if err != nil {
		return err
	}
	h.logAudit(store.ActionRollSecret, c, created.Client.ID)
	return writeJSON(w, http.StatusOK, ViewCreated(created, h.service().now()))
}

// deleteClient: DELETE /clients/{client_id} → 204.
func (h *Handler) deleteClient(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := h.service().Delete(r.Context(), c.actor, c.clientID); err != nil {
		return err
	}
	h.logAudit(store.ActionDelete, c, c.clientID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// auditEventView is an audit event in JSON.
type auditEventView struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	ClientID  string    `json:"client_id"`
	Source    string    `json:"source"`
	RequestID string    `json:"request_id"`
}

// listAudit: GET /audit?client_id=&limit=&cursor=
func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request, _ *call) error {
	q, err := query(r, "client_id", "limit", "cursor")
	if err != nil {
		return err
	}
	p := AuditParams{ClientID: q.Get("client_id")}
	if p.Limit, err = limitParam(q); err != nil {
		return err
	}
	if s := q.Get("cursor"); s != "" {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		id, perr := strconv.ParseInt(strings.TrimPrefix(string(raw), "a1|"), 10, 64)
		if err != nil || perr != nil || !strings.HasPrefix(string(raw), "a1|") || id <= 0 {
			return errBadRequest("cursor: malformed (pass next_cursor from the previous page as it is)")
		}
		p.BeforeID = id
	}
	events, next, err := h.service().Audit(r.Context(), p)
	if err != nil {
		return err
	}
	views := make([]auditEventView, 0, len(events))
	for _, e := range events {
		views = append(views, auditEventView{strconv.FormatInt(e.ID, 10), e.Time, e.Actor, e.Action, e.ClientID, e.Source, e.RequestID})
	}
	var cursor any
	if next != 0 {
		cursor = base64.RawURLEncoding.EncodeToString([]byte("a1|" + strconv.FormatInt(next, 10)))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"events": views, "next_cursor": cursor})
}

// serveOpenAPI: GET /openapi.json, the OpenAPI 3.1 description of this API.
func (h *Handler) serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ *call) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPIDocument)
	return nil
}

// ParseDuration reads a Go duration ("90m", "1h30m") that may also count days
// ("1d", "1.5d"), as Caddy's configuration does.
func ParseDuration(s string) (time.Duration, error) {
	if len(s) > 1024 {
		return 0, fmt.Errorf("parsing duration: input string too long")
	}
	var inNumber bool
	var numStart int
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == 'd' {
			days, err := strconv.ParseFloat(s[numStart:i], 64)
			if err != nil {
				return 0, err
			}
			s = s[:numStart] + strconv.FormatFloat(days*24, 'f', -1, 64) + "h" + s[i+1:]
			i--
			continue
		}
		if !inNumber {
			numStart = i
		}
		inNumber = (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '+'
	}
	return time.ParseDuration(s)
}

// Interface guards
var _ http.Handler = (*Handler)(nil)
