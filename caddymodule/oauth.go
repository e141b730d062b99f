package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

func init() {
	caddy.RegisterModule(OAuth{})
}

// Paths served by blnk_oauth, below the issuer's path.
const (
	tokenPath      = "/oauth/token"
	authorizePath  = "/oauth/authorize"
	introspectPath = "/oauth/introspect"
	revokePath     = "/oauth/revoke"
	// openIDPath serves the same metadata for clients that only look there.
	openIDPath   = "/.well-known/openid-configuration"
	jwksPath     = "/.well-known/jwks.json"
	metadataPath = "/.well-known/oauth-authorization-server"
	// maxTokenRequestBody bounds a token request; a real one is a few hundred bytes.
	maxTokenRequestBody = 16 << 10
)

// OAuth is the "blnk_oauth" handler: the OAuth 2.0 authorization server of the
// client credentials grant. It answers POST /oauth/token (RFC 6749 §4.4),
// GET /.well-known/oauth-authorization-server (RFC 8414) and
// GET /.well-known/jwks.json (RFC 7517), each below the issuer's path, and
// passes every other request to the next handler. It has no options: the
// blnk_auth app holds the settings.
type OAuth struct {
	app    *App
	logger *zap.Logger

	tokenPath, jwksPath, metadataPath         string
	authorizePath, introspectPath, openIDPath string
	revokePath                                string

	docs *documents
}

// documents are rendered once, at first use.
type documents struct {
	once           sync.Once
	metadata, jwks []byte
}

// CaddyModule returns the Caddy module information.
func (OAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.blnk_oauth",
		New: func() caddy.Module { return new(OAuth) },
	}
}

// Provision finds the blnk_auth app.
func (o *OAuth) Provision(ctx caddy.Context) error {
	a, err := app(ctx)
	if err != nil {
		return err
	}
	o.app = a
	o.logger = ctx.Logger()
	base := strings.TrimSuffix(a.issuerURL.Path, "/")
	o.tokenPath = base + tokenPath
	o.jwksPath = base + jwksPath
	// RFC 8414 §3: the well-known segment goes before the issuer's path.
	o.metadataPath = metadataPath + base
	o.authorizePath = base + authorizePath
	o.introspectPath = base + introspectPath
	o.revokePath = base + revokePath
	// OpenID Connect Discovery appends the well-known segment to the issuer.
	o.openIDPath = base + openIDPath
	o.docs = new(documents)
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (o *OAuth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	switch r.URL.Path {
	case o.tokenPath:
		o.serveToken(w, r)
	case o.metadataPath, o.openIDPath:
		o.serveDocument(w, r, func() []byte { return o.docs.metadata })
	case o.authorizePath:
		o.serveAuthorize(w)
	case o.introspectPath:
		o.serveIntrospect(w, r)
	case o.revokePath:
		o.serveRevoke(w, r)
	case o.jwksPath:
		o.serveDocument(w, r, func() []byte { return o.docs.jwks })
	default:
		return next.ServeHTTP(w, r)
	}
	return nil
}

func (o *OAuth) serveDocument(w http.ResponseWriter, r *http.Request, doc func() []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		authn.WriteJSON(w, http.StatusMethodNotAllowed, "invalid_request", "use GET")
		return
	}
	o.docs.once.Do(o.buildDocuments)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(doc())
	}
}

// buildDocuments renders the metadata and the JWKS once, at first use, when
// every blnk_auth route of the config has declared its scopes.
func (o *OAuth) buildDocuments() {
	a := o.app
	iss := a.issuerURL.String()
	scopes := a.knownScopes()
	md := map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        iss + tokenPath,
		"jwks_uri":                              iss + jwksPath,
		"grant_types_supported":                 []string{"client_credentials"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      scopes,
		// This server issues no authorization codes; the endpoint exists because
		// MCP SDKs' metadata schemas require one (it refuses every request).
		"authorization_endpoint": iss + authorizePath,
		// RFC 8414 requires the member; no response type is supported.
		"response_types_supported": []string{},
		// The official MCP Go SDK refuses metadata without PKCE support, even
		// for client credentials.
		"code_challenge_methods_supported":              []string{"S256"},
		"introspection_endpoint":                        iss + introspectPath,
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint":                           iss + revokePath,
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post"},
	}
	o.docs.metadata, _ = json.Marshal(md)
	keys := []map[string]string{}
	for _, k := range a.verifierKeys() {
		keys = append(keys, k.JWK())
	}
	o.docs.jwks, _ = json.Marshal(map[string]any{"keys": keys})
}

// tokenErr is an RFC 6749 §5.2 error response.
func tokenErr(status int, code, description string) *authn.Error {
	return authn.NewError(status, code, description)
}

func badRequest(description string) *authn.Error {
	return tokenErr(http.StatusBadRequest, "invalid_request", description)
}

// errBadClient is deliberately the same for an unknown client, a wrong secret,
// a revoked, expired or API-key client: nothing tells an attacker which.
var errBadClient = tokenErr(http.StatusUnauthorized, "invalid_client", "client authentication failed")

// dummyHash stands in for the stored hash of an unknown client, so that a
// wrong ID costs the same as a wrong secret.
var dummyHash = credential.HashOf(credential.NewSecret())

// tokenRequest is a parsed, authenticated-to-be token request.
type tokenRequest struct {
	clientID, secret string
	basic            bool
	form             url.Values
}

func (o *OAuth) serveToken(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	req, oerr := parseTokenRequest(w, r)
	if oerr == nil {
		var e *clientcache.Entry
		if e, oerr = o.authenticate(r, req, now); oerr == nil {
			oerr = o.issue(w, req, e, now)
		}
	}
	if oerr != nil {
		o.app.metrics.token(oerr.Code)
		o.refuse(w, req, oerr, "token request refused")
		return
	}
	o.app.metrics.token("issued")
}

// refuse writes an RFC 6749 §5.2 error answer.
func (o *OAuth) refuse(w http.ResponseWriter, req *tokenRequest, oerr *authn.Error, msg string) {
	if c := o.logger.Check(zapcore.DebugLevel, msg); c != nil {
		c.Write(zap.String("error", oerr.Code), zap.String("description", oerr.Description), zap.String("client_id", req.clientIDForLog()))
	}
	if oerr.Status == http.StatusUnauthorized && (req == nil || req.basic || req.clientID == "") {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+o.app.issuerURL.Host+`", charset="UTF-8"`)
	}
	if oerr.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if oerr.Status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "POST")
	}
	w.Header().Set("Cache-Control", "no-store")
	authn.WriteJSON(w, oerr.Status, oerr.Code, oerr.Description)
}

func (req *tokenRequest) clientIDForLog() string {
	if req == nil || !credential.ValidClientID(req.clientID) {
		return ""
	}
	return req.clientID
}

// serveAuthorize answers every authorization request with RFC 6749 §4.1.2.1's
// unsupported_response_type: this server only does client credentials. It
// never redirects, since no redirection URI is registered to trust.
func (o *OAuth) serveAuthorize(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	authn.WriteJSON(w, http.StatusBadRequest, "unsupported_response_type", "this server issues no authorization codes; use the client_credentials grant at the token endpoint")
}

// parseTokenRequest reads a token request: the form, the client credentials
// and grant_type's presence.
func parseTokenRequest(w http.ResponseWriter, r *http.Request) (*tokenRequest, *authn.Error) {
	req, oerr := parseClientRequest(w, r)
	if oerr == nil && req.form.Get("grant_type") == "" {
		return req, badRequest("grant_type is required")
	}
	return req, oerr
}

// parseClientRequest reads the form and the client credentials of a request
// to the token or introspection endpoint (RFC 6749 §2.3.1, §3.2) without
// judging them.
func parseClientRequest(w http.ResponseWriter, r *http.Request) (*tokenRequest, *authn.Error) {
	if r.Method != http.MethodPost {
		return nil, tokenErr(http.StatusMethodNotAllowed, "invalid_request", "this endpoint accepts POST only")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("the request body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTokenRequestBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, tokenErr(http.StatusRequestEntityTooLarge, "invalid_request", "request body too large")
		}
		return nil, badRequest("could not read the request body")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest("malformed form body")
	}
	for k, v := range form {
		if len(v) > 1 {
			if k == "resource" {
				return nil, tokenErr(http.StatusBadRequest, "invalid_target", "request one resource per token")
			}
			return nil, badRequest("parameter " + strconv.Quote(k) + " is repeated")
		}
	}
	req := &tokenRequest{form: form}
	if h := r.Header.Values("Authorization"); len(h) > 0 {
		if len(h) > 1 {
			return req, badRequest("more than one Authorization header")
		}
		id, secret, ok := parseBasic(h[0])
		if !ok {
			req.basic = true
			return req, tokenErr(http.StatusUnauthorized, "invalid_client", "malformed Basic credentials")
		}
		req.clientID, req.secret, req.basic = id, secret, true
		if _, has := form["client_secret"]; has {
			return req, badRequest("client authenticated by both Basic and client_secret: use one method")
		}
		if bodyID, has := form["client_id"]; has && bodyID[0] != id {
			return req, badRequest("client_id in the body differs from the Basic credentials")
		}
	} else {
		req.clientID, req.secret = form.Get("client_id"), form.Get("client_secret")
		if req.clientID == "" || req.secret == "" {
			return req, tokenErr(http.StatusUnauthorized, "invalid_client", "client authentication required: HTTP Basic or client_id and client_secret in the body")
		}
	}
	return req, nil
}

// parseBasic decodes "Basic base64(urlencode(id):urlencode(secret))" as RFC
// 6749 §2.3.1 specifies; net/http's BasicAuth skips the form-decoding.
func parseBasic(h string) (id, secret string, ok bool) {
	const prefix = "Basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	rawID, rawSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", false
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", false
	}
	return id, secret, id != "" && secret != ""
}

// authenticate finds the client and checks its secret in constant time.
func (o *OAuth) authenticate(r *http.Request, req *tokenRequest, now time.Time) (*clientcache.Entry, *authn.Error) {
	// Malformed IDs and secrets (bad prefix, length or checksum) never reach the cache or the database.
	if !credential.ValidClientID(req.clientID) || credential.CheckSecret(req.secret) != nil {
		dummyHash.Matches(req.secret)
		return nil, errBadClient
	}
	e, err := o.app.backend.Clients.Get(r.Context(), req.clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		dummyHash.Matches(req.secret)
		return nil, errBadClient
	case err != nil:
		if c := o.logger.Check(zapcore.DebugLevel, "token request: client store unavailable"); c != nil {
			c.Write(zap.Error(err))
		}
		return nil, tokenErr(http.StatusServiceUnavailable, "temporarily_unavailable", "the client store is unavailable; retry shortly")
	}
	c := e.Client
	match := c.SecretMatches(req.secret, now)
	if !match || c.Type != store.TypeOAuth || !c.Active(now) {
		return nil, errBadClient
	}
	return e, nil
}

// issue checks the grant, scope and resource, then mints the token (§4.4.3, §5.1).
func (o *OAuth) issue(w http.ResponseWriter, req *tokenRequest, e *clientcache.Entry, now time.Time) *authn.Error {
	if gt := req.form.Get("grant_type"); gt != "client_credentials" {
		return tokenErr(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
	}
	c := e.Client
	granted := c.Scopes
	if s, asked := req.form["scope"]; asked {
		requested, err := scope.Parse(s[0])
		if err != nil || requested.IsEmpty() {
			return tokenErr(http.StatusBadRequest, "invalid_scope", "scope must be space-separated scope tokens")
		}
		if !c.Scopes.CoversAll(requested) {
			return tokenErr(http.StatusBadRequest, "invalid_scope", "the requested scope exceeds the client's scopes")
		}
		granted = requested
	}
	audience := o.app.audience
	if res, asked := req.form["resource"]; asked {
		if !validResource(res[0]) || !o.app.knownResource(res[0]) {
			return tokenErr(http.StatusBadRequest, "invalid_target", "the resource is not protected by this gateway")
		}
		// A mount's canonical URL may name any host: bound it as the
		// configured resources are, so the token fits.
		if token.ClaimLength(res[0]) > token.MaxURLLength {
			return tokenErr(http.StatusBadRequest, "invalid_target", fmt.Sprintf("the resource must be at most %d bytes", token.MaxURLLength))
		}
		audience = res[0]
	}
	issued, err := o.app.issuer.Issue(c.ID, granted, audience, c.ExpiresAt, now)
	if errors.Is(err, token.ErrTooLong) {
		// Only a client stored before its scopes were bounded gets here.
		return tokenErr(http.StatusBadRequest, "invalid_scope", "the client's scopes are too long for one token; request fewer with the scope parameter")
	}
	if err != nil {
		if c.ExpiresAt != nil {
			return errBadClient // expires within the second
		}
		o.logger.Error("signing an access token", zap.Error(err))
		return tokenErr(http.StatusInternalServerError, "server_error", "could not sign the token")
	}
	o.app.backend.RecordUse(e, now)

	buf := make([]byte, 0, len(issued.Token)+128)
	buf = append(buf, `{"access_token":"`...)
	buf = append(buf, issued.Token...)
	buf = append(buf, `","token_type":"Bearer","expires_in":`...)
	buf = strconv.AppendInt(buf, issued.ExpiresIn, 10)
	buf = append(buf, `,"scope":"`...)
	buf = append(buf, granted.String()...) // scope tokens never contain '"' or '\'
	buf = append(buf, `"}`...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
	return nil
}

// validResource: RFC 8707 §2, an absolute URI without a fragment.
func validResource(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && u.Host != "" && u.Fragment == "" && !strings.Contains(s, "#")
}

// knownScopes lists the scopes the config's routes require, for scopes_supported.
func (a *App) knownScopes() []string {
	a.routes.mu.Lock()
	defer a.routes.mu.Unlock()
	set := map[string]bool{scope.All: true}
	for s := range a.routes.scopes {
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Interface guards
var (
	_ caddy.Provisioner           = (*OAuth)(nil)
	_ caddyhttp.MiddlewareHandler = (*OAuth)(nil)
)
