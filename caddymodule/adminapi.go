package caddymodule

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

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// Scopes of the admin API, in Blnk Core's resource:action vocabulary.
const (
	scopeKeysRead   = "api-keys:read"
	scopeKeysWrite  = "api-keys:write"
	scopeKeysDelete = "api-keys:delete"
	// maxAdminBody bounds a request body; a real one is well under 1 KiB.
	maxAdminBody = 64 << 10
	// masterActor is the audit actor of the master key.
	masterActor = "master_key"
)

//go:embed openapi.json
var openAPIDocument []byte

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
type AdminAPI struct {
	// MasterKey, presented in the X-Blnk-Key header, may do anything: it is
	// for bootstrap. Placeholders such as {env.BLNK_AUTH_MASTER_KEY} are
	// expanded (one that expands to nothing means none); at least 32
	// characters. Default: none.
	MasterKey string `json:"master_key,omitempty"`

	// AllowedOrigins may call the API from a browser (CORS), e.g.
	// https://dashboard.example.com. Default: none, so no CORS headers at all.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`

	app        *App
	logger     *zap.Logger
	audit      *zap.Logger
	masterHash *[32]byte
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.blnk_admin",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision finds the app and prepares the master key.
func (h *AdminAPI) Provision(ctx caddy.Context) error {
	a, err := app(ctx)
	if err != nil {
		return err
	}
	h.app = a
	h.logger = ctx.Logger()
	h.audit = h.logger.Named("audit")
	// A placeholder that expands to nothing means no master key.
	if key := caddy.NewReplacer().ReplaceKnown(h.MasterKey, ""); key != "" {
		if len(key) < MinSecretLength {
			return fmt.Errorf("blnk_admin: master_key must be at least %d characters (generate one with: openssl rand -base64 32)", MinSecretLength)
		}
		sum := sha256.Sum256([]byte(key))
		h.masterHash = &sum
	}
	return nil
}

// Validate checks the options.
func (h *AdminAPI) Validate() error {
	for _, o := range h.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("blnk_admin: allowed origin %q must be scheme://host[:port]", o)
		}
	}
	return nil
}

func errBadRequest(format string, args ...any) *authn.Error {
	return authn.NewError(http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...))
}

var (
	errNotFound    = authn.NewError(http.StatusNotFound, "not_found", "no such client")
	errRevokedEdit = authn.NewError(http.StatusConflict, "conflict", "the client is revoked; revoked clients cannot change (create a new one)")
)

// route is one operation of the API; the OpenAPI document lists the same.
type route struct {
	method, pattern, scope string
	handle                 func(h *AdminAPI, w http.ResponseWriter, r *http.Request, c *call) error
}

// adminRoutes are the API's operations. TestOpenAPIMatchesRoutes keeps the
// OpenAPI document in step with this table.
var adminRoutes = []route{
	{http.MethodPost, "/clients", scopeKeysWrite, (*AdminAPI).createClient},
	{http.MethodGet, "/clients", scopeKeysRead, (*AdminAPI).listClients},
	{http.MethodGet, "/clients/{client_id}", scopeKeysRead, (*AdminAPI).getClient},
	{http.MethodPatch, "/clients/{client_id}", scopeKeysWrite, (*AdminAPI).updateClient},
	{http.MethodDelete, "/clients/{client_id}", scopeKeysDelete, (*AdminAPI).deleteClient},
	{http.MethodPost, "/clients/{client_id}/revoke", scopeKeysWrite, (*AdminAPI).revokeClient},
	{http.MethodPost, "/clients/{client_id}/roll-secret", scopeKeysWrite, (*AdminAPI).rollSecret},
	{http.MethodGet, "/audit", scopeKeysRead, (*AdminAPI).listAudit},
	{http.MethodGet, "/openapi.json", scopeKeysRead, (*AdminAPI).serveOpenAPI},
}

// match finds the route for a path, with the client ID it names, and the
// methods the path allows.
func match(method, path string) (*route, string, []string) {
	var allowed []string
	for i := range adminRoutes {
		rt := &adminRoutes[i]
		id, ok := matchPattern(rt.pattern, path)
		if !ok {
			continue
		}
		allowed = append(allowed, rt.method)
		if rt.method == method {
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
	actor    admin.Actor
	clientID string // from the path
}

// ServeHTTP implements caddyhttp.MiddlewareHandler; the API answers every
// request that reaches it.
func (h *AdminAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	w.Header().Set("Cache-Control", "no-store")
	if h.cors(w, r) {
		return nil
	}
	rt, id, allowed := match(r.Method, r.URL.Path)
	if rt == nil {
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			return h.fail(w, authn.NewError(http.StatusMethodNotAllowed, "method_not_allowed", "use "+strings.Join(allowed, " or ")))
		}
		return h.fail(w, authn.NewError(http.StatusNotFound, "not_found", "no such endpoint"))
	}
	actor, d := h.caller(r, rt.scope)
	if d != nil {
		c := authn.Challenge{Realm: "blnk"}
		if d.Status == http.StatusForbidden {
			c.Scope = rt.scope
		}
		d.Write(w, c)
		return nil
	}
	if err := rt.handle(h, w, r, &call{actor: actor, clientID: id}); err != nil {
		return h.fail(w, err)
	}
	return nil
}

// caller authenticates the request: the master key, or a token or API key of
// this gateway holding need.
func (h *AdminAPI) caller(r *http.Request, need string) (admin.Actor, *authn.Error) {
	actor := admin.Actor{Source: clientIP(r), RequestID: requestID(r)}
	if keys := r.Header.Values(APIKeyHeader); h.masterHash != nil && len(keys) == 1 && r.Header.Get("Authorization") == "" {
		sum := sha256.Sum256([]byte(keys[0]))
		if subtle.ConstantTimeCompare(sum[:], h.masterHash[:]) == 1 {
			actor.ID, actor.Unrestricted = masterActor, true
			return actor, nil
		}
	}
	who, d := h.app.decider.Authenticate(r, &h.app.defaultAudience, time.Now())
	if d != nil {
		return actor, d
	}
	if !who.Scopes.Covers(need) {
		return actor, authn.ErrInsufficientScope
	}
	actor.ID, actor.Scopes = who.Client.Client.ID, who.Scopes
	return actor, nil
}

// cors answers a preflight from an allowed origin (true: answered) and adds
// the CORS headers to other requests from one.
func (h *AdminAPI) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || !slices.Contains(h.AllowedOrigins, origin) {
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

// requestID is the caller's X-Request-Id when it is sane, else Caddy's request UUID.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); requestIDPattern.MatchString(id) {
		return id
	}
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

// fail writes err as a JSON error; anything unexpected is a 500 that says nothing more.
func (h *AdminAPI) fail(w http.ResponseWriter, err error) error {
	var ae *authn.Error
	var ve *admin.ValidationError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &ve):
		ae = errBadRequest("%s", ve.Error())
	case errors.Is(err, store.ErrNotFound):
		ae = errNotFound
	case errors.Is(err, store.ErrRevoked):
		ae = errRevokedEdit
	case errors.Is(err, admin.ErrForbidden):
		ae = authn.NewError(http.StatusForbidden, "forbidden", strings.TrimPrefix(err.Error(), admin.ErrForbidden.Error()+": "))
	default:
		h.logger.Error("admin API request failed", zap.Error(err))
		ae = authn.NewError(http.StatusInternalServerError, "server_error", "internal error")
	}
	authn.WriteJSON(w, ae.Status, ae.Code, ae.Description)
	return nil
}

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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, authn.NewError(http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("the body must be at most %d bytes", maxAdminBody))
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

func (h *AdminAPI) service() *admin.Service { return h.app.Service() }

// logAudit sends a change to the audit logger (never a secret).
func (h *AdminAPI) logAudit(action string, c *call, clientID string) {
	h.audit.Info(action,
		zap.String("actor", c.actor.ID),
		zap.String("client_id", clientID),
		zap.String("source", c.actor.Source),
		zap.String("request_id", c.actor.RequestID))
}

// createClient: POST /clients → 201 with the credentials, shown once.
func (h *AdminAPI) createClient(w http.ResponseWriter, r *http.Request, c *call) error {
	fields, err := readFields(w, r, false, "name", "type", "scopes", "expires_at")
	if err != nil {
		return err
	}
	var p admin.CreateParams
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
	created, err := h.service().Create(r.Context(), c.actor, p)
	if err != nil {
		return err
	}
	h.logAudit(store.ActionCreate, c, created.Client.ID)
	return writeJSON(w, http.StatusCreated, admin.ViewCreated(created, time.Now()))
}

// listCursor encodes a position in the newest-first listing, opaque to callers.
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
	if err != nil || n < 1 || n > admin.MaxListLimit {
		return 0, errBadRequest("limit: must be a whole number from 1 to %d", admin.MaxListLimit)
	}
	return n, nil
}

// listClients: GET /clients?status=&type=&limit=&cursor=
func (h *AdminAPI) listClients(w http.ResponseWriter, r *http.Request, _ *call) error {
	q, err := query(r, "status", "type", "limit", "cursor")
	if err != nil {
		return err
	}
	p := admin.ListParams{Status: store.Status(q.Get("status")), Type: store.Type(q.Get("type"))}
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
	now := time.Now()
	views := make([]admin.ClientView, 0, len(clients))
	for _, c := range clients {
		views = append(views, admin.View(c, now))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"clients": views, "next_cursor": encodeListCursor(next)})
}

// getClient: GET /clients/{client_id}
func (h *AdminAPI) getClient(w http.ResponseWriter, r *http.Request, c *call) error {
	client, err := h.service().Get(r.Context(), c.clientID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, admin.View(client, time.Now()))
}

// updateClient: PATCH /clients/{client_id} with any of name, scopes, expires_at.
func (h *AdminAPI) updateClient(w http.ResponseWriter, r *http.Request, c *call) error {
	fields, err := readFields(w, r, false, "name", "scopes", "expires_at", "type")
	if err != nil {
		return err
	}
	var p admin.UpdateParams
	if _, ok := fields["type"]; ok {
		return errBadRequest("type: cannot change; create a new client")
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
	if p.Name == nil && p.Scopes == nil && p.ExpiresAt == nil {
		return errBadRequest("nothing to change: send name, scopes or expires_at")
	}
	client, err := h.service().Update(r.Context(), c.actor, c.clientID, p)
	if err != nil {
		return err
	}
	h.logAudit(store.ActionUpdate, c, client.ID)
	return writeJSON(w, http.StatusOK, admin.View(client, time.Now()))
}

// revokeClient: POST /clients/{client_id}/revoke, idempotent.
func (h *AdminAPI) revokeClient(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := readFields(w, r, true); err != nil {
		return err
	}
	client, err := h.service().Revoke(r.Context(), c.actor, c.clientID)
	if err != nil {
		return err
	}
	h.logAudit(store.ActionRevoke, c, client.ID)
	return writeJSON(w, http.StatusOK, admin.View(client, time.Now()))
}

// rollSecret: POST /clients/{client_id}/roll-secret {"grace_period": "1h"}.
func (h *AdminAPI) rollSecret(w http.ResponseWriter, r *http.Request, c *call) error {
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
		if grace, err = caddy.ParseDuration(s); err != nil {
			return errBadRequest(`grace_period: a duration such as "1h" or "30m"`)
		}
	}
	created, err := h.service().RollSecret(r.Context(), c.actor, c.clientID, grace)
	if err != nil {
		return err
	}
	h.logAudit(store.ActionRollSecret, c, created.Client.ID)
	return writeJSON(w, http.StatusOK, admin.ViewCreated(created, time.Now()))
}

// deleteClient: DELETE /clients/{client_id} → 204.
func (h *AdminAPI) deleteClient(w http.ResponseWriter, r *http.Request, c *call) error {
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
func (h *AdminAPI) listAudit(w http.ResponseWriter, r *http.Request, _ *call) error {
	q, err := query(r, "client_id", "limit", "cursor")
	if err != nil {
		return err
	}
	p := admin.AuditParams{ClientID: q.Get("client_id")}
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
func (h *AdminAPI) serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ *call) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPIDocument)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*AdminAPI)(nil)
	_ caddy.Validator             = (*AdminAPI)(nil)
	_ caddyhttp.MiddlewareHandler = (*AdminAPI)(nil)
)
