package authserver

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
)

// ScopeIntrospect lets a client use the introspection endpoint.
const ScopeIntrospect = "oauth:introspect"

// inactive is RFC 7662 §2.2's answer for any token that is not active:
// nothing else, so the answer tells nothing about why.
var inactive = []byte(`{"active":false}`)

// introspection is an RFC 7662 §2.2 answer for an active token.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	TokenType string   `json:"token_type"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Sub       string   `json:"sub"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
}

// serveIntrospect is RFC 7662 token introspection for other resource servers:
// POST token=… (§2.1) with client authentication (Basic or body), by an
// active OAuth client holding oauth:introspect. An access token is active
// while its signature, expiry and client (not revoked, not expired) hold; its
// scope is narrowed to what the client holds now, as the resource servers do.
// API keys are answered too (token_type "api_key").
func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	req, oerr := parseClientRequest(w, r)
	var caller *clientcache.Entry
	if oerr == nil {
		caller, oerr = s.authenticate(r, req, "introspect", now)
	}
	if oerr == nil && !caller.Scopes().Covers(ScopeIntrospect) {
		oerr = oauthErr(http.StatusForbidden, "insufficient_scope", "introspection needs the oauth:introspect scope")
	}
	if oerr == nil && req.form.Get("token") == "" {
		oerr = badRequest("token is required")
	}
	if oerr != nil {
		s.refuse(w, req, oerr, "introspection refused")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	answer, d := s.introspect(r, req.form.Get("token"), now)
	if d != nil && d.Status == http.StatusServiceUnavailable {
		h.Del("Content-Type")
		s.refuse(w, req, errStoreUnavailable, "introspection: store unavailable")
		return
	}
	if answer == nil {
		_, _ = w.Write(inactive)
		return
	}
	b, _ := json.Marshal(answer)
	_, _ = w.Write(b)
}

// introspect judges one token exactly as a resource server would (any
// audience); nil means inactive (§2.2).
func (s *Server) introspect(r *http.Request, tok string, now time.Time) (*introspection, *authn.Error) {
	cred := authn.Credential{Value: tok, APIKey: credential.IsAPIKey(tok)}
	who, d := s.cfg.Decider.Decide(r.Context(), cred, authn.AnyAudience{}, now)
	if d != nil {
		return nil, unavailableOnly(d)
	}
	id, scopes, t := who.Client.ID(), who.Scopes, who.Token
	if t == nil {
		return &introspection{Active: true, Scope: scopes.String(), ClientID: id, TokenType: "api_key", Sub: id}, nil
	}
	return &introspection{
		Active: true, Scope: scopes.String(), ClientID: id, TokenType: "Bearer",
		Exp: t.ExpiresAt.Unix(), Iat: t.IssuedAt.Unix(), Sub: t.Subject, Aud: t.Audience, Iss: s.issuer, Jti: t.JTI,
	}, nil
}

// unavailableOnly passes on a 503; every other refusal means "inactive".
func unavailableOnly(d *authn.Error) *authn.Error {
	if d != nil && d.Status == http.StatusServiceUnavailable {
		return d
	}
	return nil
}
