package authserver

import (
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientassertion"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// oauthErr is an RFC 6749 §5.2 error response.
func oauthErr(status int, code, description string) *authn.Error {
	return authn.NewError(status, code, description)
}

func badRequest(description string) *authn.Error {
	return oauthErr(http.StatusBadRequest, "invalid_request", description)
}

// errBadClient is deliberately the same for an unknown client, a wrong secret,
// a revoked, expired or API-key client: nothing tells an attacker which.
var errBadClient = oauthErr(http.StatusUnauthorized, "invalid_client", "client authentication failed")

// errStoreUnavailable: the client could not be looked up.
// errNoSigningKey: every key was revoked (an emergency rotation) and no
// successor is loaded here yet; retry, not a fault of the client's.
var errNoSigningKey = oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "no signing key is active; retry shortly")

var errStoreUnavailable = oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "the client store is unavailable; retry shortly")

// dummyHash stands in for the stored hash of an unknown client, so that a
// wrong ID costs the same as a wrong secret.
var dummyHash = credential.HashOf(credential.NewSecret())

// clientRequest is a parsed request of an authenticating client: its form
// and credentials, not yet judged.
type clientRequest struct {
	clientID, secret string
	basic            bool
	// public: a client known by its metadata document (an https URL as
	// client_id) sent no secret, as a public client must (RFC 6749 §2.1);
	// only the authorization-code flow's grants accept it.
	public bool
	form   url.Values
	// assertion is set when the client authenticates with a JWT (RFC 7523
	// §2.2); clientID is then its unverified iss.
	assertion *clientassertion.Assertion
}

// parseClientRequest reads the form and the client credentials of a request
// to the token, introspection or revocation endpoint (RFC 6749 §2.3.1, §3.2)
// without judging them.
func parseClientRequest(w http.ResponseWriter, r *http.Request) (*clientRequest, *authn.Error) {
	if r.Method != http.MethodPost {
		return nil, oauthErr(http.StatusMethodNotAllowed, "invalid_request", "this endpoint accepts POST only")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("the request body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, oauthErr(http.StatusRequestEntityTooLarge, "invalid_request", "request body too large")
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
				return nil, oauthErr(http.StatusBadRequest, "invalid_target", "request one resource per token")
			}
			return nil, badRequest("parameter " + strconv.Quote(k) + " is repeated")
		}
	}
	req := &clientRequest{form: form}
	if _, has := form["client_assertion_type"]; has {
		return req, parseAssertion(r, req)
	}
	if _, has := form["client_assertion"]; has {
		return req, parseAssertion(r, req)
	}
	if h := r.Header.Values("Authorization"); len(h) > 0 {
		if len(h) > 1 {
			return req, badRequest("more than one Authorization header")
		}
		id, secret, ok := parseBasic(h[0])
		if !ok {
			req.basic = true
			return req, oauthErr(http.StatusUnauthorized, "invalid_client", "malformed Basic credentials")
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
		if _, hasSecret := form["client_secret"]; !hasSecret && authcode.IsMetadataClientID(req.clientID) {
			req.public = true
			return req, nil
		}
		if req.clientID == "" || req.secret == "" {
			return req, oauthErr(http.StatusUnauthorized, "invalid_client", "client authentication required: HTTP Basic or client_id and client_secret in the body")
		}
	}
	return req, nil
}

// parseAssertion reads a JWT client assertion (RFC 7521 §4.2, RFC 7523
// §2.2): the only authentication of the request (RFC 6749 §2.3: one method
// per request), its client the assertion's iss, which a client_id, if sent,
// must equal (RFC 7521 §4.2).
func parseAssertion(r *http.Request, req *clientRequest) *authn.Error {
	form := req.form
	if len(r.Header.Values("Authorization")) > 0 {
		return badRequest("client authenticated by both Basic and client_assertion: use one method")
	}
	if _, has := form["client_secret"]; has {
		return badRequest("client authenticated by both client_secret and client_assertion: use one method")
	}
	if form.Get("client_assertion_type") != clientassertion.Type {
		return oauthErr(http.StatusUnauthorized, "invalid_client", "client_assertion_type must be "+clientassertion.Type)
	}
	raw := form.Get("client_assertion")
	if raw == "" {
		return oauthErr(http.StatusUnauthorized, "invalid_client", "client_assertion is required with client_assertion_type")
	}
	a, err := clientassertion.Parse(raw)
	if err != nil {
		return oauthErr(http.StatusUnauthorized, "invalid_client", "client_assertion is not a JWT signed with an accepted asymmetric algorithm")
	}
	req.assertion, req.clientID = a, a.Issuer()
	if id, has := form["client_id"]; has && id[0] != req.clientID {
		return oauthErr(http.StatusUnauthorized, "invalid_client", "client_id differs from the client assertion's iss")
	}
	return nil
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

// authenticate finds the OAuth client of req and checks its secret in
// constant time (RFC 6749 §2.3.1), or its JWT assertion (RFC 7523 §2.2,
// checkAssertion). A client failing too often from the
// caller's address is refused before anything is looked up (Config.Throttle);
// every failure is counted against the address and the client ID.
func (s *Server) authenticate(r *http.Request, req *clientRequest, endpoint string, now time.Time) (*clientcache.Entry, *authn.Error) {
	addr, id := s.clientIP(r), ""
	if credential.ValidClientID(req.clientID) {
		id = req.clientID
	}
	if wait, refused := s.cfg.Throttle.Check(addr, id, now); refused {
		if s.cfg.Throttled != nil {
			s.cfg.Throttled(endpoint)
		}
		return nil, authn.Throttled(wait)
	}
	e, oerr := s.findClient(r, req, addr, now)
	switch {
	case oerr == errBadClient:
		s.cfg.Throttle.Failed(addr, id, now)
	case oerr != nil && oerr.Status == http.StatusTooManyRequests && s.cfg.Throttled != nil:
		s.cfg.Throttled(endpoint)
	}
	return e, oerr
}

// clientIP is the caller's address as the server determined it.
func (s *Server) clientIP(r *http.Request) string {
	if s.cfg.ClientIP != nil {
		if ip := s.cfg.ClientIP(r); ip != "" {
			return ip
		}
	}
	return r.RemoteAddr
}

// findClient is authenticate's judgement, unthrottled.
func (s *Server) findClient(r *http.Request, req *clientRequest, addr string, now time.Time) (*clientcache.Entry, *authn.Error) {
	// Malformed IDs and secrets (bad prefix, length or checksum) never reach the cache or the database.
	if req.assertion != nil {
		if !credential.ValidClientID(req.clientID) {
			return nil, errBadClient
		}
	} else if !credential.ValidClientID(req.clientID) || credential.CheckSecret(req.secret) != nil {
		dummyHash.Matches(req.secret)
		return nil, errBadClient
	}
	// One cache lookup; a client the cache does not know costs a store read,
	// which the throttle must allow first, so that concurrent guesses from
	// one address cannot each cost one before the first failure is counted.
	clients := s.cfg.Backend.Clients
	e, cached, err := clients.Lookup(req.clientID)
	if !cached {
		wait, ok := s.cfg.Throttle.Reserve(addr, now)
		if !ok {
			return nil, authn.Throttled(wait)
		}
		e, err = clients.Load(r.Context(), req.clientID)
		s.cfg.Throttle.Release(addr)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		dummyHash.Matches(req.secret)
		return nil, errBadClient
	case err != nil:
		if c := s.cfg.Logger.Check(zapcore.DebugLevel, "token request: client store unavailable"); c != nil {
			c.Write(zap.Error(err))
		}
		return nil, errStoreUnavailable
	}
	if req.assertion != nil {
		if oerr := s.checkAssertion(r, req.assertion, e, now); oerr != nil {
			return nil, oerr
		}
		return e, nil
	}
	match := e.SecretMatches(req.secret, now)
	if !match || e.Type() != store.TypeOAuth || !e.Active(now) {
		return nil, errBadClient
	}
	return e, nil
}

// refuse writes an RFC 6749 §5.2 error answer, with the §5.2 Basic challenge
// on a 401 when the client tried Basic or no authentication at all.
func (s *Server) refuse(w http.ResponseWriter, req *clientRequest, oerr *authn.Error, msg string) {
	if c := s.cfg.Logger.Check(zapcore.DebugLevel, msg); c != nil {
		c.Write(zap.String("error", oerr.Code), zap.String("description", oerr.Description), zap.String("client_id", req.clientIDForLog()))
	}
	if oerr.Status == http.StatusUnauthorized && (req == nil || req.basic || req.clientID == "") {
		w.Header().Set("WWW-Authenticate", s.realm)
	}
	oerr.SetRetryAfter(w.Header())
	if oerr.Status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "POST")
	}
	w.Header().Set("Cache-Control", "no-store")
	authn.WriteJSON(w, oerr.Status, oerr.Code, oerr.Description)
}

func (req *clientRequest) clientIDForLog() string {
	if req == nil || !credential.ValidClientID(req.clientID) {
		return ""
	}
	return req.clientID
}
