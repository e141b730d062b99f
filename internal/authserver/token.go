package authserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// serveToken is the token endpoint of the client credentials grant (RFC 6749
// §4.4): POST grant_type=client_credentials with client authentication
// (§2.3.1: Basic or client_id and client_secret in the body, not both), an
// optional scope (§3.3) narrowing the client's and an optional resource (RFC
// 8707 §2) choosing the audience. The answer is §5.1's, or §5.2's error.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	req, oerr := parseClientRequest(w, r)
	if oerr == nil && req.form.Get("grant_type") == "" {
		oerr = badRequest("grant_type is required")
	}
	if oerr == nil {
		var e *clientcache.Entry
		if req.public {
			e, oerr = s.publicClient(r, req)
		} else {
			e, oerr = s.authenticate(r, req, "token", now)
		}
		if oerr == nil {
			switch gt := req.form.Get("grant_type"); {
			case gt == "authorization_code" && s.cfg.Flow != nil:
				oerr = s.exchangeCode(w, r, req, e, now)
			case gt == "refresh_token" && s.cfg.Flow != nil:
				oerr = s.refresh(w, r, req, e, now)
			default:
				oerr = s.issue(w, req, e, now)
			}
		}
	}
	if oerr != nil {
		s.outcome(req, oerr.Code)
		s.refuse(w, req, oerr, "token request refused")
		return
	}
	s.outcome(req, "issued")
}

// Grants a token request is counted under; any other grant_type, or none,
// counts as GrantOther, so that a request cannot make up label values.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantOther             = "other"
)

// Grants are the grant values TokenOutcome is told.
var Grants = []string{GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken, GrantOther}

func (s *Server) outcome(req *clientRequest, o string) {
	if s.cfg.TokenOutcome == nil {
		return
	}
	grant := GrantOther
	if req != nil {
		switch g := req.form.Get("grant_type"); g {
		case GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken:
			grant = g
		}
	}
	s.cfg.TokenOutcome(grant, o)
}

// issue checks the grant, scope and resource, then mints the token (§4.4.3, §5.1).
func (s *Server) issue(w http.ResponseWriter, req *clientRequest, e *clientcache.Entry, now time.Time) *authn.Error {
	if gt := req.form.Get("grant_type"); gt != "client_credentials" {
		if s.cfg.Flow != nil {
			return oauthErr(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials, authorization_code or refresh_token")
		}
		return oauthErr(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
	}
	c := e
	granted := c.Scopes()
	if sc, asked := req.form["scope"]; asked {
		requested, err := scope.Parse(sc[0])
		if err != nil || requested.IsEmpty() {
			return oauthErr(http.StatusBadRequest, "invalid_scope", "scope must be space-separated scope tokens")
		}
		if !c.Scopes().CoversAll(requested) {
			return oauthErr(http.StatusBadRequest, "invalid_scope", "the requested scope exceeds the client's scopes")
		}
		granted = requested
	}
	audience := s.cfg.Audience
	if res, asked := req.form["resource"]; asked {
		if !ValidResource(res[0]) || !s.knownResource(res[0]) {
			return oauthErr(http.StatusBadRequest, "invalid_target", "the resource is not protected by this gateway")
		}
		// A mount's canonical URL may name any host: bound it as the
		// configured resources are, so the token fits.
		if token.ClaimLength(res[0]) > token.MaxURLLength {
			return oauthErr(http.StatusBadRequest, "invalid_target", fmt.Sprintf("the resource must be at most %d bytes", token.MaxURLLength))
		}
		audience = res[0]
	}
	issued, err := s.cfg.Signer.Issue(c.ID(), granted, audience, c.ExpiresAt(), now)
	if errors.Is(err, token.ErrTooLong) {
		// Only a client stored before its scopes were bounded gets here.
		return oauthErr(http.StatusBadRequest, "invalid_scope", "the client's scopes are too long for one token; request fewer with the scope parameter")
	}
	if errors.Is(err, token.ErrNoSigningKey) {
		return errNoSigningKey
	}
	if err != nil {
		if c.ExpiresAt() != nil {
			return errBadClient // expires within the second
		}
		s.cfg.Logger.Error("signing an access token", zap.Error(err))
		return oauthErr(http.StatusInternalServerError, "server_error", "could not sign the token")
	}
	s.cfg.Backend.RecordUse(e, now)

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

// knownResource: the default audience or one Config.Resource accepts.
func (s *Server) knownResource(id string) bool {
	return authn.SameResource(id, s.cfg.Audience) || (s.cfg.Resource != nil && s.cfg.Resource(id))
}

// ValidResource reports whether s is a resource indicator as RFC 8707 §2
// requires: an absolute URI without a fragment.
func ValidResource(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && u.Host != "" && u.Fragment == "" && !strings.Contains(s, "#")
}
