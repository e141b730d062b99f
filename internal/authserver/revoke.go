package authserver

import (
	"errors"
	"net/http"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// serveRevoke is RFC 7009 token revocation: POST token=… (§2.1) with client
// authentication. A client revokes only its own access and refresh tokens
// (a refresh token ends with its family); the token
// stops working at once on every instance (its jti goes on a denylist kept
// until the token's expiry, spread through the change feed). Unknown,
// malformed or expired tokens get 200 as well (§2.2: nothing to revoke); an
// API key is refused with §2.2.1's unsupported_token_type.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	req, oerr := parseClientRequest(w, r)
	switch {
	case oerr == nil && req.public:
		// A public client (known by its metadata document) identifies
		// itself with client_id alone (RFC 7009 §2.1); revoking a token one
		// holds harms no one but its holder.
		if s.cfg.Flow == nil || s.cfg.Flow.Public == nil {
			oerr = errBadClient
		}
	case oerr == nil:
		_, oerr = s.authenticate(r, req, "revoke", now)
	}
	tok := ""
	if oerr == nil {
		if tok = req.form.Get("token"); tok == "" {
			oerr = badRequest("token is required")
		}
	}
	if oerr == nil && credential.IsAPIKey(tok) {
		// An API key is a client's credential, not a token: revoke the client.
		oerr = oauthErr(http.StatusBadRequest, "unsupported_token_type", "API keys are revoked by revoking their client")
	}
	if oerr == nil {
		oerr = s.revoke(r, req.clientID, tok, now)
	}
	if oerr != nil {
		s.refuse(w, req, oerr, "token revocation refused")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) revoke(r *http.Request, caller, tok string, now time.Time) *authn.Error {
	if authcode.IsRefreshToken(tok) {
		// A refresh token ends with its whole family (§2.1 allows it, and a
		// client revoking one means to end the grant's session).
		_, err := s.cfg.Backend.Store.RevokeRefreshToken(r.Context(), credential.HashOf(tok), caller)
		if err != nil && !errors.Is(err, store.ErrNoRefreshToken) {
			return oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "could not record the revocation; retry shortly")
		}
		return nil
	}
	t, err := s.cfg.Verifier.Verify(tok, now)
	if err != nil {
		return nil // not a live token of ours: nothing to revoke
	}
	if t.ClientID != caller {
		return oauthErr(http.StatusBadRequest, "unauthorized_client", "a client can only revoke its own tokens")
	}
	until := t.ExpiresAt.Add(s.cfg.Leeway)
	if err := s.cfg.Backend.RevokeToken(r.Context(), store.RevokedToken{JTI: t.JTI, ClientID: t.ClientID, ExpiresAt: until}); err != nil {
		return oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "could not record the revocation; retry shortly")
	}
	return nil
}
