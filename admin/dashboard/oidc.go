package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/oidclogin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// Sign-in through an OpenID Connect provider (package oidclogin does the
// protocol and the rules). The browser goes to ui/oidc/start, which sets a
// short-lived flow cookie and sends it to the provider; the provider sends
// it back to ui/oidc/callback with a code, which the flow cookie's state,
// nonce and PKCE verifier redeem for a verified person, who gets a session
// like any other: same cookie, idle timeout, lifetime and CSRF guards.
//
// The flow cookie is SameSite=Lax, as the callback is a cross-site
// top-level GET (Strict would keep it away), HttpOnly, scoped to
// ui/oidc/, and authenticated with FlowKey, so that no one can plant a
// flow of their own in a browser. A callback is taken once: the cookie is
// cleared, its state remembered as used until the flow expires (and the
// provider redeems a code once).
const (
	signInOptionsPath = "/ui/sign-in"
	oidcStartPath     = "/ui/oidc/start"
	oidcCallbackPath  = "/ui/oidc/callback"
	// FlowCookieName carries a sign-in through the provider.
	FlowCookieName = "blnk_oidc_flow"
	// flowLifetime bounds a sign-in at the provider, login form included.
	flowLifetime = 10 * time.Minute
	// maxUsedFlows bounds the callbacks remembered.
	maxUsedFlows = 100_000
	// maxFlowCookie keeps the flow cookie, with its name and attributes,
	// within the 4096 bytes browsers keep.
	maxFlowCookie = 3800
)

// flow is what the flow cookie carries.
type flow struct {
	State       string `json:"s"`
	Nonce       string `json:"n"`
	Verifier    string `json:"v"`
	Next        string `json:"x,omitempty"`
	RedirectURI string `json:"r"`
	Expires     int64  `json:"e"` // unix seconds
}

// serveSignInOptions tells the sign-in page which ways in there are.
func (h *Handler) serveSignInOptions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !safeMethod(r.Method) {
		w.Header().Set("Allow", "GET, HEAD")
		fail(w, authn.NewError(http.StatusMethodNotAllowed, "method_not_allowed", "use GET"))
		return
	}
	type oidcOption struct {
		Name  string `json:"name"`
		Start string `json:"start"`
	}
	var out struct {
		Keys bool        `json:"keys"`
		OIDC *oidcOption `json:"oidc,omitempty"`
	}
	out.Keys = true
	if h.cfg.OIDC != nil {
		out.OIDC = &oidcOption{Name: h.providerName(), Start: strings.TrimPrefix(oidcStartPath, "/")}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (h *Handler) providerName() string {
	if h.cfg.OIDCName != "" {
		return h.cfg.OIDCName
	}
	if u, err := url.Parse(h.cfg.OIDC.Issuer()); err == nil {
		return u.Host
	}
	return "single sign-on"
}

// serveOIDCStart begins a sign-in at the provider.
func (h *Handler) serveOIDCStart(w http.ResponseWriter, r *http.Request) {
	if h.cfg.OIDC == nil {
		fail(w, authn.NewError(http.StatusNotFound, "not_found", "no such page"))
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		fail(w, authn.NewError(http.StatusMethodNotAllowed, "method_not_allowed", "use GET"))
		return
	}
	f := flow{Expires: h.cfg.Now().Add(flowLifetime).Unix(), RedirectURI: h.callbackURL(r)}
	if nexts := r.URL.Query()["next"]; len(nexts) > 0 {
		next, ok := h.safeNext(r, nexts[0])
		if len(nexts) != 1 || !ok {
			h.page(w, r, http.StatusBadRequest, "That sign-in link is not valid: it would lead away from this site.")
			return
		}
		f.Next = next
	}
	of, err := oidclogin.NewFlow()
	if err != nil {
		h.internal(w, "starting a sign-in", err)
		return
	}
	f.State, f.Nonce, f.Verifier = of.State, of.Nonce, of.Verifier
	to, err := h.cfg.OIDC.AuthCodeURL(r.Context(), f.RedirectURI, of)
	if err != nil {
		h.logger.Warn("the sign-in provider cannot be reached", zap.Error(err))
		h.page(w, r, http.StatusServiceUnavailable, "The sign-in provider cannot be reached right now. Try again in a moment, or sign in with a key.")
		return
	}
	sealed := h.sealFlow(f)
	if len(sealed) > maxFlowCookie {
		h.page(w, r, http.StatusBadRequest, "That sign-in link is too long.")
		return
	}
	http.SetCookie(w, h.flowCookie(r, sealed, int(flowLifetime/time.Second)))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// serveOIDCCallback finishes a sign-in: the provider's answer must belong
// to the flow this browser started, and verify; the person must pass the
// rules.
func (h *Handler) serveOIDCCallback(w http.ResponseWriter, r *http.Request) {
	if h.cfg.OIDC == nil {
		fail(w, authn.NewError(http.StatusNotFound, "not_found", "no such page"))
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		fail(w, authn.NewError(http.StatusMethodNotAllowed, "method_not_allowed", "use GET"))
		return
	}
	// Whatever happens, this flow is over.
	http.SetCookie(w, h.flowCookie(r, "", -1))
	outcome := "refused"
	defer func() { h.oidcOutcome(outcome) }()
	now := h.cfg.Now()
	again := "Start again from the sign-in page."
	cookies := r.CookiesNamed(FlowCookieName)
	if len(cookies) != 1 {
		h.page(w, r, http.StatusBadRequest, "This sign-in was not started in this browser, or it took too long. "+again)
		return
	}
	f, ok := h.openFlow(cookies[0].Value, now)
	if !ok {
		h.page(w, r, http.StatusBadRequest, "This sign-in was not started in this browser, or it took too long. "+again)
		return
	}
	q := r.URL.Query()
	if len(q["state"]) != 1 || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		h.page(w, r, http.StatusBadRequest, "This answer from the sign-in provider is not for the sign-in this browser started. "+again)
		return
	}
	// RFC 9207: a provider that names itself must be the one asked (a
	// mix-up with another provider's answer is refused).
	if iss, ok := q["iss"]; ok && (len(iss) != 1 || iss[0] != h.cfg.OIDC.Issuer()) {
		h.page(w, r, http.StatusBadRequest, "This answer comes from another sign-in provider. "+again)
		return
	}
	if !h.flows.take(f.State, time.Unix(f.Expires, 0), now) {
		h.page(w, r, http.StatusBadRequest, "This sign-in was already used. "+again)
		return
	}
	if len(q["error"]) > 0 {
		// RFC 6749 §4.1.2.1; the code is shown, never the description,
		// which anyone could have written into the link.
		code := q.Get("error")
		if !validErrorCode(code) {
			code = "invalid"
		}
		h.page(w, r, http.StatusForbidden, "The sign-in provider did not sign you in ("+code+"). "+again)
		return
	}
	if len(q["code"]) != 1 || q.Get("code") == "" || f.RedirectURI != h.callbackURL(r) {
		h.page(w, r, http.StatusBadRequest, "This answer from the sign-in provider is incomplete. "+again)
		return
	}
	p, err := h.cfg.OIDC.Finish(r.Context(), f.RedirectURI, q.Get("code"), oidclogin.Flow{State: f.State, Nonce: f.Nonce, Verifier: f.Verifier})
	var notAllowed *oidclogin.NotAllowedError
	var invalid *oidclogin.InvalidError
	switch {
	case errors.As(err, &notAllowed):
		outcome = "not_allowed"
		h.logger.Info("dashboard sign-in refused by the rules", zap.String("reason", notAllowed.Reason), zap.String("source", h.clientIP(r)))
		h.page(w, r, http.StatusForbidden, "You may not sign in here: "+notAllowed.Reason+".")
		return
	case errors.As(err, &invalid):
		outcome = "invalid"
		h.logger.Warn("dashboard sign-in through the provider does not verify", zap.Error(err), zap.String("source", h.clientIP(r)))
		h.page(w, r, http.StatusBadRequest, "The sign-in provider's answer could not be verified. "+again)
		return
	case err != nil:
		outcome = "unavailable"
		h.logger.Warn("the sign-in provider cannot be reached", zap.Error(err))
		h.page(w, r, http.StatusServiceUnavailable, "The sign-in provider cannot be reached right now. Try again in a moment.")
		return
	}
	ts := now.UTC().Truncate(time.Microsecond)
	ses := &store.Session{
		CreatedAt: ts, LastSeenAt: ts, ExpiresAt: ts.Add(h.cfg.Lifetime),
		Person: &store.SessionPerson{Issuer: p.Issuer, Subject: p.Subject, Email: p.Email, Name: p.Name, MayGrant: p.MayGrant},
	}
	if _, ok := h.openSession(w, r, ses); !ok {
		outcome = "unavailable"
		return
	}
	outcome = "signed_in"
	to := f.Next
	if to == "" {
		to = h.mount(r) + "/"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (h *Handler) oidcOutcome(o string) {
	if h.cfg.OIDCOutcome != nil {
		h.cfg.OIDCOutcome(o)
	}
}

// callbackURL is the redirect URI of this site's callback, which must be
// registered at the provider: OIDCRedirectURI, else this request's scheme,
// host and mount.
func (h *Handler) callbackURL(r *http.Request) string {
	if h.cfg.OIDCRedirectURI != "" {
		return h.cfg.OIDCRedirectURI
	}
	scheme := "http"
	if h.https(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host + h.mount(r) + oidcCallbackPath
}

// sealFlow encodes f with its MAC under FlowKey.
func (h *Handler) sealFlow(f flow) string {
	b, _ := json.Marshal(f) // plain strings and an integer
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(h.flowMAC(payload))
}

// openFlow checks the cookie's MAC (in constant time) and expiry.
func (h *Handler) openFlow(v string, now time.Time) (flow, bool) {
	payload, mac, ok := strings.Cut(v, ".")
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if !ok || err != nil || !hmac.Equal(got, h.flowMAC(payload)) {
		return flow{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	var f flow
	if err != nil || json.Unmarshal(b, &f) != nil || f.State == "" || f.Nonce == "" || f.Verifier == "" || !now.Before(time.Unix(f.Expires, 0)) {
		return flow{}, false
	}
	return f, true
}

func (h *Handler) flowMAC(payload string) []byte {
	m := hmac.New(sha256.New, h.cfg.FlowKey)
	m.Write([]byte("blnk dashboard oidc flow\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// flowCookie is the flow cookie (maxAge < 0 clears it).
func (h *Handler) flowCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: FlowCookieName, Value: value, Path: h.mount(r) + "/ui/oidc/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.https(r), SameSite: http.SameSiteLaxMode,
	}
}

// usedFlows remembers the states of callbacks taken, until their flows
// expire, so that a callback replayed to this instance is refused before
// the provider is asked.
type usedFlows struct {
	mu   sync.Mutex
	used map[string]time.Time
}

// take marks state used; false if it was already.
func (u *usedFlows) take(state string, expires, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.used == nil {
		u.used = make(map[string]time.Time)
	}
	if _, ok := u.used[state]; ok {
		return false
	}
	if len(u.used) >= maxUsedFlows/2 {
		for s, exp := range u.used {
			if !now.Before(exp) {
				delete(u.used, s)
			}
		}
	}
	if len(u.used) >= maxUsedFlows {
		// Full of live flows: a flood. The flow cookie still ends the
		// flow in the browser, and the provider redeems a code once.
		return true
	}
	u.used[state] = expires
	return true
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{{.Mount}}/ui/app.css"></head>
<body><main><section class="card narrow"><h1>Sign in</h1>
<p id="message" class="error" role="alert">{{.Message}}</p>
<p><a href="{{.Mount}}/">Back to the sign-in page</a></p>
</section></main></body></html>
`))

// page answers a browser's navigation with a short HTML page (the
// callback and the start are top-level navigations, not the page's API
// calls).
func (h *Handler) page(w http.ResponseWriter, r *http.Request, status int, message string) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, struct{ Mount, Message string }{h.mount(r), message})
}

// personBinding is what a person's session stores as its credential hash:
// an HMAC under the session's token of who the person is, so that a
// session row cannot be turned into another person's without the token.
func personBinding(token string, p *store.SessionPerson) credential.Hash {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("blnk dashboard person\x00"))
	m.Write([]byte(p.Issuer))
	m.Write([]byte{0})
	m.Write([]byte(p.Subject))
	var out credential.Hash
	copy(out[:], m.Sum(nil))
	return out
}

// PersonID is the stable identity of a person signed in through a provider.
func PersonID(issuer, subject string) string { return personIDPrefix + issuer + "#" + subject }

const personIDPrefix = "oidc:"

// PersonAllowed reports whether the person who approved a grant may still
// hold it, by the rule that keeps their dashboard session open (see
// session): a person signed in through a provider ("oidc:<issuer>#<sub>")
// only while login (nil: none configured) is that provider and its rules
// still let their address in; name is the grant's person name, their
// address (the rules let no one in without one). People of key sessions
// ("master", "client:<id>") are not the rules' to decide: true.
func PersonAllowed(login *oidclogin.Login, personID, name string) bool {
	rest, ok := strings.CutPrefix(personID, personIDPrefix)
	if !ok {
		return true
	}
	if login == nil {
		return false
	}
	sub, ok := strings.CutPrefix(rest, login.Issuer()+"#")
	return ok && sub != "" && login.Allowed(name)
}

// validErrorCode: an error code as RFC 6749 registers them (lowercase
// letters and underscores), short enough to show.
func validErrorCode(c string) bool {
	if c == "" || len(c) > 64 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if (c[i] < 'a' || c[i] > 'z') && c[i] != '_' {
			return false
		}
	}
	return true
}
