package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientmetadata"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// serveAuthorize is the authorization endpoint of the authorization-code
// flow (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, PKCE RFC 7636 §4.3). It checks
// the request and sends the browser to the consent page with the request
// sealed (authcode.Request); the page signs the person in, asks, and
// answers the client. Errors about the client or its redirect URI are shown
// on a page, never redirected (§4.1.2.1); every other error goes back to
// the registered redirect URI with state and iss (RFC 9207).
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Flow == nil || s.cfg.ConsentURL == "" {
		// RFC 6749 §4.1.2.1's unsupported_response_type: without the consent
		// page this server only does client credentials. It never redirects,
		// since no redirection URI is trusted.
		w.Header().Set("Cache-Control", "no-store")
		authn.WriteJSON(w, http.StatusBadRequest, "unsupported_response_type", "this server issues no authorization codes; use the client_credentials grant at the token endpoint")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		authcode.WriteErrorPage(w, http.StatusMethodNotAllowed, "Invalid authorization request", "The authorization endpoint accepts GET only.")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		authcode.WriteErrorPage(w, http.StatusBadRequest, "Invalid authorization request", "The query string is malformed.")
		return
	}
	for k, v := range q {
		if len(v) > 1 { // §3.1: parameters must not be included more than once
			authcode.WriteErrorPage(w, http.StatusBadRequest, "Invalid authorization request", "The parameter "+k+" is repeated.")
			return
		}
	}
	now := time.Now()
	clientID := q.Get("client_id")
	c, ok := s.authorizeClient(w, r, clientID, now)
	if !ok {
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" && len(c.RedirectURIs) == 1 {
		redirectURI = c.RedirectURIs[0] // §3.1.2.3: optional when only one is registered
	} else if !authcode.MatchRedirectURI(c.RedirectURIs, redirectURI) {
		authcode.WriteErrorPage(w, http.StatusBadRequest, "Invalid redirect URI",
			"The redirect_uri is not registered for this client. Register it on the client (admin API redirect_uris, CLI --redirect-uri, or the dashboard).")
		return
	}
	req := authcode.Request{ClientID: c.ID, RedirectURI: redirectURI, RedirectGiven: q.Has("redirect_uri"), State: q.Get("state"), Expires: now.Add(authcode.RequestLifetime).Unix()}
	fail := func(code, description string) {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, s.cfg.Flow.Deny(req, code, description), http.StatusSeeOther)
	}
	if len(req.State) > authcode.MaxStateLength {
		req.State = ""
		fail("invalid_request", "state is too long")
		return
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	}
	switch m := q.Get("code_challenge_method"); {
	case q.Get("code_challenge") == "":
		fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
		return
	case m != "S256":
		fail("invalid_request", "code_challenge_method must be S256")
		return
	case !authcode.ValidChallenge(q.Get("code_challenge")):
		fail("invalid_request", "code_challenge must be the base64url SHA-256 of the code_verifier")
		return
	}
	req.Challenge = q.Get("code_challenge")
	if sc, asked := q["scope"]; asked {
		requested, err := scope.Parse(sc[0])
		if err != nil || requested.IsEmpty() {
			fail("invalid_scope", "scope must be space-separated scope tokens")
			return
		}
		if authcode.Meet(requested, c.Scopes).IsEmpty() {
			fail("invalid_scope", "the client holds none of the requested scopes")
			return
		}
		req.Scope = requested.String()
	}
	if res, asked := q["resource"]; asked {
		if !ValidResource(res[0]) || !s.knownResource(res[0]) || token.ClaimLength(res[0]) > token.MaxURLLength {
			fail("invalid_target", "the resource is not protected by this gateway")
			return
		}
		req.Resource = res[0]
	}
	sealed, err := s.cfg.Flow.Sealer.Seal(req)
	if err != nil {
		fail("server_error", "could not continue the request")
		return
	}
	consent := s.cfg.ConsentURL + "?request=" + sealed
	if u, err := url.Parse(consent); err != nil || len(u.RequestURI()) > authcode.MaxNext {
		// The person may have to sign in first, and come back here: the
		// sign-in carries the consent page's URL only up to MaxNext.
		fail("invalid_request", "the request is too long (state, redirect_uri, resource and scope together)")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, consent, http.StatusSeeOther)
}

// authorizeClient finds the OAuth client an authorization request names; a
// page explains a refusal.
func (s *Server) authorizeClient(w http.ResponseWriter, r *http.Request, id string, now time.Time) (*store.Client, bool) {
	if authcode.IsMetadataClientID(id) && s.cfg.Flow.Public != nil {
		c, throttled, err := s.fetchPublicClient(r, "authorize", id, now)
		if throttled != nil {
			throttled.SetRetryAfter(w.Header())
			authcode.WriteErrorPage(w, http.StatusTooManyRequests, "Try again later", "Too many requests from your address named applications that could not be used.")
			return nil, false
		}
		var cm *clientmetadata.Error
		switch {
		case errors.Is(err, safefetch.ErrBusy):
			authcode.WriteErrorPage(w, http.StatusServiceUnavailable, "Try again shortly", "The gateway is busy fetching application documents.")
			return nil, false
		case errors.As(err, &cm):
			authcode.WriteErrorPage(w, http.StatusBadRequest, "Unknown application", "The application's metadata document could not be used: "+cm.Description())
			return nil, false
		case err != nil:
			authcode.WriteErrorPage(w, http.StatusBadRequest, "Unknown application", err.Error())
			return nil, false
		}
		return c, true
	}
	if !credential.ValidClientID(id) {
		authcode.WriteErrorPage(w, http.StatusBadRequest, "Unknown application", "The client_id is missing or not a client of this gateway.")
		return nil, false
	}
	e, err := s.cfg.Backend.Clients.Get(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		authcode.WriteErrorPage(w, http.StatusBadRequest, "Unknown application", "The client_id is not a client of this gateway.")
		return nil, false
	case err != nil:
		authcode.WriteErrorPage(w, http.StatusServiceUnavailable, "Try again shortly", "The client store is unavailable.")
		return nil, false
	}
	if e.Type() != store.TypeOAuth || !e.Active(now) {
		authcode.WriteErrorPage(w, http.StatusBadRequest, "Unknown application", "The client is not an active OAuth client of this gateway.")
		return nil, false
	}
	if len(e.RedirectURIs()) == 0 {
		authcode.WriteErrorPage(w, http.StatusBadRequest, "Invalid redirect URI", "This client has no registered redirect URI.")
		return nil, false
	}
	// The authorization endpoint is a page flow, off the request path: the
	// whole record, as a public client's, costs an allocation here.
	return e.Record(), true
}
