package authserver

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientmetadata"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// errBadGrant is RFC 6749 §5.2's invalid_grant, the same for every reason a
// code or refresh token does not work, so nothing tells which.
func errBadGrant(description string) *authn.Error {
	return oauthErr(http.StatusBadRequest, "invalid_grant", description)
}

var errGrantStore = oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "the grant store is unavailable; retry shortly")

// exchangeCode is the authorization_code grant (RFC 6749 §4.1.3, RFC 7636
// §4.5): the code, once, by the client it was issued to, with the same
// redirect_uri and the PKCE verifier of its challenge. A code presented a
// second time revokes what its first exchange issued: the access token (on
// the denylist, on every instance) and the refresh token family (§4.1.2).
func (s *Server) exchangeCode(w http.ResponseWriter, r *http.Request, req *clientRequest, e *clientcache.Entry, now time.Time) *authn.Error {
	f := req.form
	raw := f.Get("code")
	if raw == "" || f.Get("code_verifier") == "" {
		return badRequest("code and code_verifier are required")
	}
	if !authcode.IsCode(raw) {
		return errBadGrant("the code is invalid, expired or used")
	}
	if res, asked := f["resource"]; asked && !ValidResource(res[0]) {
		return oauthErr(http.StatusBadRequest, "invalid_target", "the resource must be an absolute URI")
	}
	c := e
	var (
		issued                     token.Issued
		granted                    scope.Set
		rt                         = authcode.NewRefreshToken()
		person, personName, family string
	)
	// The request is judged and the tokens minted inside the redemption's
	// transaction: the code is spent, and what it issues recorded, at once.
	err := s.cfg.Backend.Store.RedeemCode(r.Context(), credential.HashOf(raw), now, func(code *store.AuthCode) (*store.RefreshToken, error) {
		switch {
		case code.ClientID != c.ID():
			return nil, errBadGrant("the code was issued to another client")
		case f.Get("redirect_uri") != code.RedirectURI:
			return nil, errBadGrant("redirect_uri differs from the authorization request's")
		case !authcode.VerifierMatches(f.Get("code_verifier"), code.CodeChallenge):
			return nil, errBadGrant("the code_verifier does not match the code_challenge")
		}
		resource := code.Resource
		if res, asked := f["resource"]; asked && res[0] != code.Resource {
			// RFC 8707 §2.2: the token request may name the resource; it
			// must be the one the person approved.
			if code.Resource != "" || !s.knownResource(res[0]) || token.ClaimLength(res[0]) > token.MaxURLLength {
				return nil, oauthErr(http.StatusBadRequest, "invalid_target", "the resource differs from the authorization request's")
			}
			resource = res[0]
		}
		if oerr := s.personActive(r, code.PersonID, now); oerr != nil {
			return nil, oerr
		}
		// The client may have lost scopes since the person approved.
		if granted = code.Scopes.Filter(c.Scopes()); granted.IsEmpty() {
			return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "the client no longer holds any of the granted scopes")
		}
		person, personName, family = code.PersonID, code.PersonName, code.Family
		var oerr *authn.Error
		if issued, oerr = s.mintForPerson(c, code.PersonID, granted, resource, now); oerr != nil {
			return nil, oerr
		}
		until := issued.ExpiresAt.Add(s.cfg.Leeway)
		return &store.RefreshToken{
			Hash: credential.HashOf(rt), Family: code.Family, ClientID: c.ID(), PersonID: code.PersonID,
			Scopes: granted, Resource: resource, CreatedAt: now, ExpiresAt: now.Add(s.refreshTTL()),
			AccessJTI: issued.JTI, AccessExpiresAt: &until,
		}, nil
	})
	var oerr *authn.Error
	switch {
	case errors.Is(err, store.ErrCodeReused):
		s.cfg.Logger.Warn("authorization code replayed; what it issued is revoked", zap.String("client_id", c.ID()))
		return errBadGrant("the code was used before; what it issued is revoked")
	case errors.Is(err, store.ErrNoCode):
		return errBadGrant("the code is invalid, expired or used")
	case errors.Is(err, store.ErrNoGrant):
		return errBadGrant("the grant was revoked") // the access token minted is never handed out
	case errors.As(err, &oerr):
		return oerr
	case err != nil:
		s.cfg.Logger.Warn("redeeming an authorization code", zap.Error(err))
		return errGrantStore
	}
	if oerr := s.personStillAllowed(r.Context(), c.ID(), person, &personName, family); oerr != nil {
		return oerr // what the exchange minted is never handed out
	}
	s.writePersonToken(w, e, issued, granted, rt, now)
	return nil
}

// refresh is the refresh_token grant (RFC 6749 §6, OAuth 2.1 §4.3): the
// token is spent and a new one issued with the access token (rotation); a
// spent token presented again revokes its whole family. scope may narrow
// the access token, never widen it.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request, req *clientRequest, e *clientcache.Entry, now time.Time) *authn.Error {
	raw := req.form.Get("refresh_token")
	if raw == "" {
		return badRequest("refresh_token is required")
	}
	if !authcode.IsRefreshToken(raw) {
		return errBadGrant("the refresh token is invalid, expired or revoked")
	}
	c := e
	var narrow *scope.Set
	if sc, asked := req.form["scope"]; asked {
		requested, err := scope.Parse(sc[0])
		if err != nil || requested.IsEmpty() {
			return oauthErr(http.StatusBadRequest, "invalid_scope", "scope must be space-separated scope tokens")
		}
		narrow = &requested
	}
	if res, asked := req.form["resource"]; asked && !ValidResource(res[0]) {
		return oauthErr(http.StatusBadRequest, "invalid_target", "the resource must be an absolute URI")
	}
	ctx := r.Context()
	next := authcode.NewRefreshToken()
	var (
		issued           token.Issued
		granted          scope.Set
		foreignFamily    string
		family, personID string
	)
	// The access token is minted inside the rotation's transaction, so that
	// the stored successor names it (revoking the family revokes it) and a
	// refusal spends nothing.
	_, err := s.cfg.Backend.Store.RotateRefreshToken(ctx, credential.HashOf(raw), credential.HashOf(next), now, func(t *store.RefreshToken) error {
		if t.ClientID != c.ID() {
			foreignFamily = t.Family
			return errForeignRefresh
		}
		family, personID = t.Family, t.PersonID
		if res, asked := req.form["resource"]; asked && res[0] != t.Resource && !(t.Resource == "" && authn.SameResource(res[0], s.cfg.Audience)) {
			// RFC 8707 §2.2: the resource of a refresh is the approved one.
			return oauthErr(http.StatusBadRequest, "invalid_target", "the resource differs from the one approved")
		}
		if oerr := s.personActive(r, t.PersonID, now); oerr != nil {
			return oerr
		}
		granted = t.Scopes.Filter(c.Scopes())
		if narrow != nil {
			if !granted.CoversAll(*narrow) {
				return oauthErr(http.StatusBadRequest, "invalid_scope", "the requested scope exceeds the grant")
			}
			granted = *narrow
		}
		if granted.IsEmpty() {
			return oauthErr(http.StatusBadRequest, "invalid_scope", "the client no longer holds any of the granted scopes")
		}
		var oerr *authn.Error
		if issued, oerr = s.mintForPerson(c, t.PersonID, granted, t.Resource, now); oerr != nil {
			return oerr
		}
		until := issued.ExpiresAt.Add(s.cfg.Leeway)
		t.AccessJTI, t.AccessExpiresAt = issued.JTI, &until
		return nil
	})
	var oerr *authn.Error
	switch {
	case errors.Is(err, store.ErrRefreshReused):
		s.cfg.Logger.Warn("refresh token replayed; its family is revoked", zap.String("client_id", c.ID()))
		return errBadGrant("the refresh token was used before; its family is revoked")
	case errors.Is(err, store.ErrNoRefreshToken):
		return errBadGrant("the refresh token is invalid, expired or revoked")
	case errors.Is(err, errForeignRefresh):
		// Another client's token: stolen. End its family.
		if err := s.cfg.Backend.Store.RevokeRefreshFamily(ctx, foreignFamily); err != nil {
			s.cfg.Logger.Warn("revoking a refresh token family", zap.Error(err))
		}
		return errBadGrant("the refresh token was issued to another client")
	case errors.As(err, &oerr):
		return oerr
	case err != nil:
		s.cfg.Logger.Warn("rotating a refresh token", zap.Error(err))
		return errGrantStore
	}
	if oerr := s.personStillAllowed(ctx, c.ID(), personID, nil, family); oerr != nil {
		return oerr // the access token minted is never handed out
	}
	s.writePersonToken(w, e, issued, granted, next, now)
	return nil
}

// errPersonRefused: the person who approved the grant may no longer hold it.
var errPersonRefused = errBadGrant("the person who approved the grant may no longer hold it")

// personStillAllowed asks PersonAllowed, once a code or refresh token has
// been spent, whether the person who approved its grant may still hold it
// (name: the person's name as the code records it; nil for a refresh token,
// which does not: their grant is read), and ends the family of a person it
// refuses, so that the successor stored and the access token minted are
// never used. A store that cannot say lets the request through, with a
// warning: the next refresh asks again.
func (s *Server) personStillAllowed(ctx context.Context, clientID, personID string, name *string, family string) *authn.Error {
	if s.cfg.PersonAllowed == nil {
		return nil
	}
	var (
		ok  bool
		err error
	)
	if name == nil {
		var g *store.Grant
		if g, err = s.cfg.Backend.Store.GetGrant(ctx, clientID, personID); err == nil {
			name = &g.PersonName
		}
	}
	if name != nil {
		ok, err = s.cfg.PersonAllowed(ctx, personID, *name)
	}
	switch {
	case ok:
		return nil
	case err != nil && !errors.Is(err, store.ErrNoGrant):
		s.cfg.Logger.Warn("checking that a grant's person may still hold it; allowed", zap.Error(err))
		return nil
	}
	s.cfg.Logger.Info("grant refused: the person who approved may no longer hold it", zap.String("client_id", clientID), zap.String("person", personID))
	if err := s.cfg.Backend.Store.RevokeRefreshFamily(ctx, family); err != nil {
		s.cfg.Logger.Warn("revoking a refresh token family", zap.Error(err))
	}
	return errPersonRefused
}

// publicClient is the client of a token request without a secret: one
// known by its metadata document, for the authorization-code flow's grants
// only (its code is bound to a PKCE challenge; its refresh tokens rotate).
func (s *Server) publicClient(r *http.Request, req *clientRequest) (*clientcache.Entry, *authn.Error) {
	gt := req.form.Get("grant_type")
	if s.cfg.Flow == nil || s.cfg.Flow.Public == nil || (gt != "authorization_code" && gt != "refresh_token") {
		return nil, errBadClient
	}
	c, throttled, err := s.fetchPublicClient(r, "token", req.clientID, time.Now())
	if throttled != nil {
		return nil, throttled
	}
	var cm *clientmetadata.Error
	if errors.As(err, &cm) && cm.Reason == clientmetadata.ReasonFetch {
		return nil, oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "the client's metadata document could not be fetched; retry shortly")
	}
	if err != nil {
		return nil, errBadClient
	}
	return clientcache.EntryOf(c), nil
}

// fetchPublicClient resolves the client known by the metadata document at
// id, within the throttle of the caller's address (checked before anything
// is fetched): a document that cannot be used counts as a failed
// authentication, so an address probing URLs through the gateway is soon
// refused (throttled: 429) without another fetch.
func (s *Server) fetchPublicClient(r *http.Request, endpoint, id string, now time.Time) (c *store.Client, throttled *authn.Error, err error) {
	addr := s.clientIP(r)
	if wait, refused := s.cfg.Throttle.Check(addr, "", now); refused {
		if s.cfg.Throttled != nil {
			s.cfg.Throttled(endpoint)
		}
		return nil, authn.Throttled(wait), nil
	}
	// The gateway's load (busy) or the caller leaving (canceled) is not a
	// document that cannot be used.
	c, err = s.cfg.Flow.Public.Client(r.Context(), id)
	if err != nil && !errors.Is(err, safefetch.ErrBusy) && !errors.Is(err, safefetch.ErrCanceled) {
		s.cfg.Throttle.Failed(addr, "", now)
	}
	return c, nil, err
}

// personActive checks that the person of a grant may still act: a person
// signed in with a client's key ("client:<id>") acts with that client's
// authority, which ends when it is revoked (the store then ends its grants)
// or expires, or is deleted. Other persons are not looked up.
func (s *Server) personActive(r *http.Request, person string, now time.Time) *authn.Error {
	id, isKey := strings.CutPrefix(person, store.ClientPersonIDPrefix)
	if !isKey {
		return nil
	}
	e, err := s.cfg.Backend.Clients.Get(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errBadGrant("the key that approved this grant no longer exists")
	case err != nil:
		return errGrantStore
	case !e.Active(now):
		return errBadGrant("the key that approved this grant is revoked or expired")
	}
	return nil
}

// errForeignRefresh: a client presented another client's refresh token.
var errForeignRefresh = errors.New("refresh token of another client")

func (s *Server) refreshTTL() time.Duration {
	if s.cfg.RefreshTTL > 0 {
		return s.cfg.RefreshTTL
	}
	return authcode.DefaultRefreshTTL
}

// mintForPerson mints the access token of a person's grant.
func (s *Server) mintForPerson(c *clientcache.Entry, person string, granted scope.Set, resource string, now time.Time) (token.Issued, *authn.Error) {
	audience := s.cfg.Audience
	if resource != "" {
		audience = resource
	}
	issued, err := s.cfg.Signer.IssueFor(person, c.ID(), granted, audience, c.ExpiresAt(), now)
	if err != nil {
		if errors.Is(err, token.ErrSubjectTooLong) {
			return issued, errBadGrant("the person's identifier is too long for a token")
		}
		if errors.Is(err, token.ErrTooLong) {
			return issued, oauthErr(http.StatusBadRequest, "invalid_scope", "the granted scopes are too long for one token")
		}
		if errors.Is(err, token.ErrNoSigningKey) {
			return issued, errNoSigningKey
		}
		if c.ExpiresAt() != nil {
			return issued, errBadClient
		}
		s.cfg.Logger.Error("signing an access token", zap.Error(err))
		return issued, oauthErr(http.StatusInternalServerError, "server_error", "could not sign the token")
	}
	return issued, nil
}

// writePersonToken writes the §5.1 answer with the refresh token.
func (s *Server) writePersonToken(w http.ResponseWriter, e *clientcache.Entry, issued token.Issued, granted scope.Set, refresh string, now time.Time) {
	s.cfg.Backend.RecordUse(e, now)
	buf := make([]byte, 0, len(issued.Token)+len(refresh)+160)
	buf = append(buf, `{"access_token":"`...)
	buf = append(buf, issued.Token...)
	buf = append(buf, `","token_type":"Bearer","expires_in":`...)
	buf = strconv.AppendInt(buf, issued.ExpiresIn, 10)
	buf = append(buf, `,"scope":"`...)
	buf = append(buf, granted.String()...)
	buf = append(buf, `","refresh_token":"`...)
	buf = append(buf, refresh...) // base64url and a prefix: nothing to escape
	buf = append(buf, `"}`...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}
