package dashboard

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientassertion"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

const (
	// CookieName is the session cookie.
	CookieName = "blnk_admin_session"
	// CSRFHeader carries the session's CSRF token on every change.
	CSRFHeader = "X-CSRF-Token"
	// sessionPath: GET who is signed in, POST sign in, DELETE sign out.
	sessionPath = "/ui/session"
	// tokenBytes of randomness in a session token (base64url in the cookie).
	tokenBytes = 32
	// maxSignInBody bounds a sign-in request; a real one is well under 1 KiB.
	maxSignInBody = 4 << 10
)

var (
	errNoSession   = authn.NewError(http.StatusUnauthorized, "invalid_session", "sign in again: no session, or it ended")
	errSignIn      = authn.NewError(http.StatusUnauthorized, "invalid_client", "the key or the client ID and secret are wrong, revoked or expired")
	errNoReadScope = authn.NewError(http.StatusForbidden, "insufficient_scope", "the client must hold "+admin.ScopeRead+" to use the dashboard")
	errCrossSite   = authn.NewError(http.StatusForbidden, "csrf", "the request does not come from this page (Origin or Sec-Fetch-Site)")
	errCSRFToken   = authn.NewError(http.StatusForbidden, "csrf", "missing or wrong "+CSRFHeader)
	errBadNext     = authn.NewError(http.StatusBadRequest, "invalid_request", "next must be a path on this site under the dashboard or the authorization endpoint")
)

// sessionView is what the page learns about its session.
type sessionView struct {
	Actor       string    `json:"actor"` // a client ID, "master_key", or a person's "oidc:<issuer>#<subject>"
	Name        string    `json:"name"`
	Type        string    `json:"type,omitempty"` // the client's type, or "person"
	Email       string    `json:"email,omitempty"`
	Next        string    `json:"next,omitempty"` // where to go now, when asked with a safe next
	Scopes      []string  `json:"scopes"`
	CanRead     bool      `json:"can_read"`
	CanWrite    bool      `json:"can_write"`
	CanDelete   bool      `json:"can_delete"`
	CSRFToken   string    `json:"csrf_token"`
	ExpiresAt   time.Time `json:"expires_at"`
	IdleTimeout int       `json:"idle_timeout_seconds"`
	Choices     []string  `json:"scope_choices"`
	// Issuer and TokenEndpoint tell a private_key_jwt client how to sign
	// (iss = sub = its client ID, aud = one of these); "" when unknown.
	Issuer        string `json:"issuer,omitempty"`
	TokenEndpoint string `json:"token_endpoint,omitempty"`
	// AssertionAlgs are the algorithms such an assertion may use.
	AssertionAlgs []string `json:"assertion_algorithms"`
}

func (h *Handler) serveSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet:
		ses, who, err := h.session(r)
		if err != nil {
			h.refuse(w, r, err)
			return
		}
		next := ""
		if nexts := r.URL.Query()["next"]; len(nexts) == 1 {
			next, _ = h.safeNext(r, nexts[0]) // an unsafe one is not followed
		}
		h.writeViewToken(w, r, ses, who, r.CookiesNamed(CookieName)[0].Value, next)
	case http.MethodPost:
		h.signIn(w, r)
	case http.MethodDelete:
		h.signOut(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		fail(w, authn.NewError(http.StatusMethodNotAllowed, "method_not_allowed", "use GET, POST or DELETE"))
	}
}

// signIn exchanges a key for a session: {"master_key"}, {"api_key"} or
// {"client_id", "client_secret"}. The key is checked once, here, and then
// forgotten: the session remembers only the hash the store already knows.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		fail(w, errCrossSite) // no one may sign a browser in from elsewhere
		return
	}
	var in struct {
		MasterKey    string `json:"master_key"`
		APIKey       string `json:"api_key"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		// Next is where the page goes after signing in; see safeNext.
		Next *string `json:"next"`
	}
	if e := readJSON(w, r, &in); e != nil {
		fail(w, e)
		return
	}
	var next string
	if in.Next != nil {
		var ok bool
		if next, ok = h.safeNext(r, *in.Next); !ok {
			fail(w, errBadNext)
			return
		}
	}
	now := h.cfg.Now().UTC().Truncate(time.Microsecond)
	forms := 0
	for _, set := range []bool{in.MasterKey != "", in.APIKey != "", in.ClientID != "" || in.ClientSecret != ""} {
		if set {
			forms++
		}
	}
	if forms != 1 {
		fail(w, authn.NewError(http.StatusBadRequest, "invalid_request", "send one of master_key, api_key, or client_id with client_secret"))
		return
	}
	ses := &store.Session{CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(h.cfg.Lifetime)}
	// Sign-in takes the same credentials as the admin API, so it is
	// throttled with it: an address failing too often is refused before any
	// key is looked at, and every failure counts.
	addr, claimed := h.clientIP(r), in.ClientID
	if in.APIKey != "" {
		claimed, _ = credential.ParseAPIKey(in.APIKey)
	}
	if !credential.ValidClientID(claimed) {
		claimed = ""
	}
	if wait, refused := h.cfg.Throttle.Check(addr, claimed, now); refused {
		if h.cfg.Throttled != nil {
			h.cfg.Throttled()
		}
		fail(w, authn.Throttled(wait))
		return
	}
	// From here on a wrong credential also counts against the address.
	fail := func(w http.ResponseWriter, e *authn.Error) {
		if e == errSignIn {
			h.cfg.Throttle.Failed(addr, claimed, now)
		}
		fail(w, e)
	}
	var who admin.Caller
	switch {
	case in.MasterKey != "":
		sum := sha256.Sum256([]byte(in.MasterKey))
		if h.masterHash == nil || subtle.ConstantTimeCompare(sum[:], h.masterHash[:]) != 1 {
			fail(w, errSignIn)
			return
		}
		who.Master = true // CredentialHash is bound to the token below
	default:
		var id, secret string
		want := store.TypeOAuth
		if in.APIKey != "" {
			want, secret = store.TypeAPIKey, in.APIKey
			var err error
			if id, err = credential.ParseAPIKey(in.APIKey); err != nil {
				fail(w, errSignIn)
				return
			}
		} else {
			id, secret = in.ClientID, in.ClientSecret
			if !credential.ValidClientID(id) {
				fail(w, errSignIn)
				return
			}
		}
		if _, cached, _ := h.cfg.Clients.Lookup(id); !cached && h.cfg.Throttle != nil {
			// A store read: concurrent guesses may not each cost one.
			wait, ok := h.cfg.Throttle.Reserve(addr, now)
			if !ok {
				fail(w, authn.Throttled(wait))
				return
			}
			defer h.cfg.Throttle.Release(addr)
		}
		c, e := h.client(r.Context(), id, now)
		if e != nil {
			fail(w, e)
			return
		}
		if c == nil || c.Type != want || !c.SecretMatches(secret, now) {
			fail(w, errSignIn)
			return
		}
		if !c.Scopes.Covers(admin.ScopeRead) {
			fail(w, errNoReadScope)
			return
		}
		ses.ClientID, ses.CredentialHash = c.ID, credential.HashOf(secret)
		who = admin.Caller{ClientID: c.ID, Scopes: c.Scopes}
	}
	token, ok := h.openSession(w, r, ses)
	if !ok {
		return
	}
	h.writeViewToken(w, r, ses, who, token, next)
}

// openSession stores ses under a new token and sets the browser's cookie
// to it (replacing the browser's previous session); on failure it has
// answered.
func (h *Handler) openSession(w http.ResponseWriter, r *http.Request, ses *store.Session) (token string, ok bool) {
	token, err := newToken()
	if err != nil {
		h.internal(w, "creating a session token", err)
		return "", false
	}
	ses.TokenHash = credential.HashOf(token)
	switch {
	case ses.Person != nil:
		ses.CredentialHash = personBinding(token, ses.Person)
	case ses.ClientID == "":
		ses.CredentialHash = masterBinding(token, h.masterHash)
	}
	// Ended sessions go when new ones come; a failure here changes nothing.
	now := ses.CreatedAt
	if err := h.cfg.Store.PruneSessions(r.Context(), now, now.Add(-h.cfg.IdleTimeout)); err != nil {
		h.logger.Warn("pruning dashboard sessions", zap.Error(err))
	}
	if err := h.cfg.Store.CreateSession(r.Context(), ses); err != nil {
		h.logger.Warn("storing a dashboard session", zap.Error(err))
		fail(w, authn.ErrUnavailable)
		return "", false
	}
	// Signing in again replaces the browser's previous session.
	for _, old := range r.CookiesNamed(CookieName) {
		if err := h.cfg.Store.DeleteSession(r.Context(), credential.HashOf(old.Value)); err != nil {
			h.logger.Warn("ending a replaced dashboard session", zap.Error(err))
		}
	}
	http.SetCookie(w, h.cookie(r, token, int(h.cfg.Lifetime/time.Second)))
	h.logger.Info("dashboard sign-in", zap.String("actor", actorOf(ses)), zap.String("source", h.clientIP(r)))
	return token, true
}

// signOut ends the session named by the cookie (CSRF-checked) and clears
// the cookie. It deletes the stored session whether or not it still works
// (an unreachable client cache must not leave it alive), and answers 503,
// keeping the cookie, when the store cannot delete it.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	if hasSessionCookie(r) {
		if e := h.checkCSRF(r); e != nil {
			fail(w, e)
			return
		}
		hash := credential.HashOf(r.CookiesNamed(CookieName)[0].Value) // checkCSRF saw exactly one
		if err := h.cfg.Store.DeleteSession(r.Context(), hash); err != nil && !errors.Is(err, store.ErrNoSession) {
			h.logger.Warn("ending a dashboard session", zap.Error(err))
			fail(w, authn.ErrUnavailable)
			return
		}
		h.logger.Info("dashboard sign-out", zap.String("source", h.clientIP(r)))
	}
	http.SetCookie(w, h.cookie(r, "", -1))
	w.WriteHeader(http.StatusNoContent)
}

// masterBinding is what a master-key session stores instead of anything
// derived from the master key alone: an HMAC keyed by the session's token,
// which the database never holds, so a copy of the database offers nothing
// to test guesses of the master key against.
func masterBinding(token string, master *[32]byte) credential.Hash {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("blnk dashboard master key\x00"))
	m.Write(master[:])
	var out credential.Hash
	copy(out[:], m.Sum(nil))
	return out
}

// sessionError is why a request's session does not work: ended (the session
// is deleted and the cookie cleared), or not decidable right now.
type sessionError struct {
	*authn.Error
	ended *store.Session // the session to delete, if any
}

// session decides the request's session: the stored session its cookie
// names, within its idle and absolute timeouts, and the client it names as
// that client is now — active, its sign-in secret still working, holding
// api-keys:read — with the scopes it holds now.
func (h *Handler) session(r *http.Request) (*store.Session, admin.Caller, *sessionError) {
	cookies := r.CookiesNamed(CookieName)
	if len(cookies) != 1 {
		return nil, admin.Caller{}, &sessionError{Error: errNoSession}
	}
	raw, err := base64.RawURLEncoding.DecodeString(cookies[0].Value)
	if err != nil || len(raw) != tokenBytes {
		return nil, admin.Caller{}, &sessionError{Error: errNoSession}
	}
	ctx := r.Context()
	ses, err := h.cfg.Store.GetSession(ctx, credential.HashOf(cookies[0].Value))
	if errors.Is(err, store.ErrNoSession) {
		return nil, admin.Caller{}, &sessionError{Error: errNoSession}
	} else if err != nil {
		h.logger.Warn("reading a dashboard session", zap.Error(err))
		return nil, admin.Caller{}, &sessionError{Error: authn.ErrUnavailable}
	}
	now := h.cfg.Now()
	ended := &sessionError{Error: errNoSession, ended: ses}
	if !now.Before(ses.ExpiresAt) || !now.Before(ses.LastSeenAt.Add(h.cfg.IdleTimeout)) {
		return nil, admin.Caller{}, ended
	}
	var who admin.Caller
	if p := ses.Person; p != nil {
		// A person: the provider that signed them in must still be the
		// configured one, the rules must still let their address in, and
		// the session must be the one opened for them. What they may grant
		// was fixed at sign-in, for at most the session's lifetime.
		want := personBinding(cookies[0].Value, p)
		if h.cfg.OIDC == nil || p.Issuer != h.cfg.OIDC.Issuer() || !h.cfg.OIDC.Allowed(p.Email) ||
			subtle.ConstantTimeCompare(ses.CredentialHash[:], want[:]) != 1 {
			return nil, admin.Caller{}, ended
		}
		who = admin.Caller{ClientID: PersonID(p.Issuer, p.Subject), Scopes: p.MayGrant}
	} else if ses.ClientID == "" {
		if h.masterHash == nil {
			return nil, admin.Caller{}, ended // the master key was removed
		}
		if want := masterBinding(cookies[0].Value, h.masterHash); subtle.ConstantTimeCompare(ses.CredentialHash[:], want[:]) != 1 {
			return nil, admin.Caller{}, ended // the master key changed or was removed
		}
		who.Master = true
	} else {
		c, e := h.client(ctx, ses.ClientID, now)
		if e != nil {
			return nil, admin.Caller{}, &sessionError{Error: e}
		}
		if c == nil || !signInSecretWorks(c, ses.CredentialHash, now) || !c.Scopes.Covers(admin.ScopeRead) {
			return nil, admin.Caller{}, ended
		}
		who = admin.Caller{ClientID: c.ID, Scopes: c.Scopes}
	}
	// Record activity at most every minute (or tenth of the idle timeout):
	// the idle timeout needs no finer grain, and reads stay reads.
	if now.Sub(ses.LastSeenAt) >= min(time.Minute, h.cfg.IdleTimeout/10) {
		if err := h.cfg.Store.TouchSession(ctx, ses.TokenHash, now.UTC().Truncate(time.Microsecond)); err != nil {
			h.logger.Warn("recording dashboard session activity", zap.Error(err))
		}
	}
	return ses, who, nil
}

// client is the client as the cache has it now (its Record: the dashboard
// is off the request path); nil when it is unknown or not active. An
// unreachable store is ErrUnavailable.
func (h *Handler) client(ctx context.Context, id string, now time.Time) (*store.Client, *authn.Error) {
	e, err := h.cfg.Clients.Get(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		h.logger.Warn("looking up a client for the dashboard", zap.Error(err))
		return nil, authn.ErrUnavailable
	case !e.Active(now):
		return nil, nil
	}
	return e.Record(), nil
}

// actorOf names who a session is, as the audit log does.
func actorOf(ses *store.Session) string {
	if p := ses.Person; p != nil {
		return PersonID(p.Issuer, p.Subject)
	}
	if ses.ClientID == "" {
		return admin.MasterActor
	}
	return ses.ClientID
}

func (h *Handler) clientIP(r *http.Request) string {
	if h.cfg.ClientIP != nil {
		if ip := h.cfg.ClientIP(r); ip != "" {
			return ip
		}
	}
	return r.RemoteAddr
}

// signInSecretWorks: the secret the session was opened with is still the
// client's, or its previous one within a roll's grace period.
func signInSecretWorks(c *store.Client, h credential.Hash, now time.Time) bool {
	if subtle.ConstantTimeCompare(c.SecretHash[:], h[:]) == 1 {
		return true
	}
	return c.PreviousSecretHash != nil && c.PreviousSecretExpiresAt != nil && now.Before(*c.PreviousSecretExpiresAt) &&
		subtle.ConstantTimeCompare(c.PreviousSecretHash[:], h[:]) == 1
}

// refuse answers a request whose session does not work; an ended session is
// deleted and its cookie cleared.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, e *sessionError) {
	if e.ended != nil {
		if err := h.cfg.Store.DeleteSession(r.Context(), e.ended.TokenHash); err != nil {
			h.logger.Warn("deleting an ended dashboard session", zap.Error(err))
		}
	}
	if e.Status == http.StatusUnauthorized {
		http.SetCookie(w, h.cookie(r, "", -1))
	}
	fail(w, e.Error)
}

// checkCSRF guards a change made with a session: it must come from a page
// of this origin (SameSite=Strict already keeps the cookie off other sites'
// requests) and carry the session's CSRF token, which only the page has.
func (h *Handler) checkCSRF(r *http.Request) *authn.Error {
	if !h.sameOrigin(r) {
		return errCrossSite
	}
	got := r.Header.Values(CSRFHeader)
	cookie := r.CookiesNamed(CookieName)
	if len(got) != 1 || len(cookie) != 1 {
		return errCSRFToken
	}
	want := csrfToken(cookie[0].Value)
	if subtle.ConstantTimeCompare([]byte(got[0]), []byte(want)) != 1 {
		return errCSRFToken
	}
	return nil
}

// https reports whether the browser reached the page over HTTPS: by TLS
// here, or through a proxy the caller believes (Config.HTTPS).
func (h *Handler) https(r *http.Request) bool {
	return r.TLS != nil || (h.cfg.HTTPS != nil && h.cfg.HTTPS(r))
}

// sameOrigin: the browser says the request comes from a page of this origin.
// Sec-Fetch-Site, which every current browser sends and no page can set,
// decides when present; else Origin must be this very origin.
func (h *Handler) sameOrigin(r *http.Request) bool {
	sites := r.Header.Values("Sec-Fetch-Site")
	origins := r.Header.Values("Origin")
	if len(sites) > 1 || len(origins) > 1 {
		return false
	}
	if len(sites) == 1 {
		return sites[0] == "same-origin"
	}
	if len(origins) != 1 {
		return false
	}
	scheme := "http://"
	if h.https(r) {
		scheme = "https://"
	}
	return origins[0] == scheme+r.Host
}

// csrfToken is derived from the session token (an HMAC under it), so it
// needs no storage and means nothing without the cookie.
func csrfToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("blnk dashboard csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func newToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hasSessionCookie(r *http.Request) bool { return len(r.CookiesNamed(CookieName)) > 0 }

// cookie is the session cookie (maxAge < 0 clears it): HttpOnly, SameSite
// Strict, Secure under TLS, and scoped to the mount path.
func (h *Handler) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	path := "/"
	if h.cfg.MountPath != nil {
		if p := strings.TrimSuffix(h.cfg.MountPath(r), "/"); strings.HasPrefix(p, "/") {
			path = p + "/"
		}
	}
	return &http.Cookie{
		Name: CookieName, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: h.https(r), SameSite: http.SameSiteStrictMode,
	}
}

// writeViewToken writes the session's view, with the CSRF token of the
// session token.
func (h *Handler) writeViewToken(w http.ResponseWriter, r *http.Request, ses *store.Session, who admin.Caller, token, next string) {
	v := sessionView{
		ExpiresAt:   ses.ExpiresAt,
		IdleTimeout: int(h.cfg.IdleTimeout / time.Second),
		Choices:     h.scopeChoices(),
		CSRFToken:   csrfToken(token),
		Next:        next,

		Issuer:        h.cfg.Issuer,
		TokenEndpoint: h.cfg.TokenEndpoint,
		AssertionAlgs: clientassertion.Algorithms,
	}
	var scopes scope.Set
	if p := ses.Person; p != nil {
		scopes = p.MayGrant
		v.Actor, v.Name, v.Type, v.Email, v.Scopes = who.ClientID, personName(p), "person", p.Email, scopes.List()
		v.CanRead, v.CanWrite, v.CanDelete = scopes.Covers(admin.ScopeRead), scopes.Covers(admin.ScopeWrite), scopes.Covers(admin.ScopeDelete)
	} else if who.Master {
		v.Actor, v.Name, v.Scopes = admin.MasterActor, "Master key", []string{"*"}
		v.CanRead, v.CanWrite, v.CanDelete = true, true, true
	} else {
		scopes = who.Scopes
		v.Actor, v.Scopes = who.ClientID, scopes.List()
		v.CanRead, v.CanWrite, v.CanDelete = scopes.Covers(admin.ScopeRead), scopes.Covers(admin.ScopeWrite), scopes.Covers(admin.ScopeDelete)
		// For the page's header; the session was decided on this very entry.
		if c, _ := h.client(r.Context(), who.ClientID, h.cfg.Now()); c != nil {
			v.Name, v.Type = c.Name, string(c.Type)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		h.internal(w, "encoding the session", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
}

func (h *Handler) internal(w http.ResponseWriter, what string, err error) {
	h.logger.Error("dashboard: "+what, zap.Error(err))
	fail(w, authn.NewError(http.StatusInternalServerError, "server_error", "internal error"))
}

// readJSON reads one JSON object with only known members into dst.
func readJSON(w http.ResponseWriter, r *http.Request, dst any) *authn.Error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return authn.NewError(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSignInBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return authn.NewError(http.StatusRequestEntityTooLarge, "request_too_large", "the body is too large")
		}
		return authn.NewError(http.StatusBadRequest, "invalid_request", "could not read the body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil || dec.More() {
		return authn.NewError(http.StatusBadRequest, "invalid_request", "the body must be one JSON object with master_key, api_key, or client_id and client_secret")
	}
	return nil
}
