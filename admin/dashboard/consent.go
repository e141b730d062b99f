package dashboard

import (
	"crypto/subtle"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// consentPath is the consent page of the authorization-code flow, below the
// mount, so that the session cookie (scoped to the mount) reaches it.
const consentPath = "/authorize"

// maxConsentBody bounds the consent form: a sealed request and a few scopes.
const maxConsentBody = 32 << 10

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize {{if .Unverified}}{{.Host}}{{else}}{{.Client}}{{end}}</title><link rel="stylesheet" href="ui/app.css"></head>
<body><main class="card narrow">
{{if .Unverified}}<h1 id="consent-title">Authorize an application from <span id="consent-host">{{.Host}}</span></h1>
<p id="consent-unverified">This application is not registered with this gateway. It is published at <strong>{{.Host}}</strong> and calls itself <bdi id="consent-client">{{.Client}}</bdi>, a name nobody checked. Approve only if you trust <strong>{{.Host}}</strong>.</p>
{{else}}<h1 id="consent-title">Authorize <bdi id="consent-client">{{.Client}}</bdi></h1>
{{end}}<p><strong><bdi>{{.Client}}</bdi></strong> (<code id="consent-client-id">{{.ClientID}}</code>) asks to act for you, <strong id="consent-person"><bdi>{{.Person}}</bdi></strong>, with these permissions:</p>
<form method="post" action="authorize" id="consent-form">
<input type="hidden" name="request" value="{{.Request}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<ul id="consent-scopes">{{range .Scopes}}
<li><label><input type="checkbox" name="scope" value="{{.}}" checked> <code>{{.}}</code></label></li>{{end}}
</ul>
{{if .Resource}}<p>For the resource <code id="consent-resource">{{.Resource}}</code>.</p>{{end}}
<p>You will be sent back to <code id="consent-redirect">{{.Redirect}}</code>. The application keeps this access until you or an administrator revoke it.</p>
{{if .RedirectElsewhere}}<p id="consent-redirect-warning"><strong>The answer goes to {{if .RedirectLocal}}an application on this computer ({{.RedirectHost}}){{else}}{{.RedirectHost}}{{end}}, not to {{.Host}}:</strong> whoever receives it there gets this access.</p>{{end}}
<button type="submit" name="decision" value="approve" class="primary" id="consent-approve">Approve</button>
<button type="submit" name="decision" value="deny" class="ghost" id="consent-deny">Deny</button>
</form></main></body></html>
`))

// serveConsent is the consent page: GET shows the request sealed by the
// authorization endpoint (signing the person in first), POST records the
// decision. A request this person approved before, for no more than was
// approved, is answered at once.
func (h *Handler) serveConsent(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	flow := h.cfg.Authorize
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		sealed := r.URL.Query().Get("request")
		req, c, ok := h.consentRequest(w, r, sealed)
		if !ok {
			return
		}
		p, signedIn := h.SignedIn(r)
		if !signedIn {
			// The sign-in page comes back here once the person is signed in
			// (next is a path under the mount: see safeNext). The Location is
			// relative to the page's own URL, which the browser knows with its
			// mount (http.Redirect would resolve it against the stripped path).
			w.Header().Set("Location", "./?next="+url.QueryEscape(h.mount(r)+consentPath+"?request="+sealed))
			w.WriteHeader(http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK) // a HEAD decides nothing
			return
		}
		granted := authcode.Granted(req, c, h.person(p))
		if granted.IsEmpty() {
			h.redirect(w, r, req, flow.Deny(req, "access_denied", "you may not grant any of the requested scopes"))
			return
		}
		if ok, err := flow.Remembered(r.Context(), c.ID, h.person(p), granted); err != nil {
			h.consentUnavailable(w, "reading a grant", err)
			return
		} else if ok {
			h.approve(w, r, req, p, granted)
			return
		}
		h.showConsent(w, r, sealed, req, c, p, granted)
	case http.MethodPost:
		h.decide(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		authcode.WriteErrorPage(w, http.StatusMethodNotAllowed, "Invalid request", "Use GET or POST.")
	}
}

// consentRequest opens a sealed request and finds its client, still an
// active OAuth client with that redirect URI; a page explains a refusal.
func (h *Handler) consentRequest(w http.ResponseWriter, r *http.Request, sealed string) (authcode.Request, *store.Client, bool) {
	req, err := h.cfg.Authorize.Sealer.Open(sealed, h.cfg.Now())
	if err != nil {
		authcode.WriteErrorPage(w, http.StatusBadRequest, "Invalid authorization request", err.Error())
		return req, nil, false
	}
	var (
		c *store.Client
		e *authn.Error
	)
	if flow := h.cfg.Authorize; authcode.IsMetadataClientID(req.ClientID) && flow.Public != nil {
		// Resolved again (from the fetcher's cache): a document withdrawn or
		// changed since the request was sealed is read as it is now.
		var err error
		if c, err = flow.Public.Client(r.Context(), req.ClientID); err != nil {
			authcode.WriteErrorPage(w, http.StatusBadRequest, "Unknown application", "The application's metadata document cannot be used now.")
			return req, nil, false
		}
	} else if c, e = h.client(r.Context(), req.ClientID, h.cfg.Now()); e != nil {
		authcode.WriteErrorPage(w, e.Status, "Try again shortly", e.Description)
		return req, nil, false
	}
	if c == nil || c.Type != store.TypeOAuth || !authcode.MatchRedirectURI(c.RedirectURIs, req.RedirectURI) {
		authcode.WriteErrorPage(w, http.StatusBadRequest, "Unknown application", "The application is no longer an active client of this gateway.")
		return req, nil, false
	}
	return req, c, true
}

func (h *Handler) person(p Person) authcode.Person {
	may, err := scope.FromList(p.MayGrant)
	if err != nil {
		may = scope.Set{}
	}
	return authcode.Person{ID: p.ID, Name: p.Name, MayGrant: may}
}

func (h *Handler) showConsent(w http.ResponseWriter, r *http.Request, sealed string, req authcode.Request, c *store.Client, p Person, granted scope.Set) {
	token := r.CookiesNamed(CookieName)[0].Value // SignedIn saw exactly one
	name := c.Name
	if name == "" {
		name = c.ID
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	// The form posts here; the answer redirects to the client, which
	// form-action must allow too (browsers check redirects of a submission).
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' "+formTarget(req.RedirectURI)+"; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(http.StatusOK)
	unverified := authcode.IsMetadataClientID(c.ID)
	host, redirectHost := hostOf(c.ID), hostOf(req.RedirectURI)
	err := consentPage.Execute(w, map[string]any{
		"Client": name, "ClientID": c.ID, "Person": p.Name, "Request": sealed, "CSRF": csrfToken(token),
		"Scopes": granted.List(), "Resource": req.Resource, "Redirect": req.RedirectURI,
		"Unverified": unverified, "Host": host,
		// A document's client names its own redirect URIs: say so when the
		// answer leaves the host that vouches for the document.
		"RedirectElsewhere": unverified && redirectHost != host, "RedirectHost": redirectHost,
		"RedirectLocal": strings.HasPrefix(req.RedirectURI, "http://"), // http only on loopback (authcode.ValidRedirectURI)
	})
	if err != nil {
		h.logger.Warn("rendering the consent page", zap.Error(err))
	}
}

// hostOf is the host of a URL in lower case: of a Client Identifier URL
// (draft §6.4: shown before the name the document claims; safefetch only
// lets ASCII names through, so an international one shows as punycode), or
// of a redirect URI (its scheme for a private-use one without a host).
func hostOf(id string) string {
	u, err := url.Parse(id)
	if err != nil {
		return ""
	}
	if u.Host == "" {
		return u.Scheme + ":"
	}
	return strings.ToLower(u.Host)
}

// formTarget is the CSP source of a redirect URI: its origin, or its scheme
// for a private-use scheme.
func formTarget(redirect string) string {
	u, err := url.Parse(redirect)
	if err != nil {
		return ""
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + ":"
}

// decide records the person's decision, posted by the consent page's form:
// same origin, with the session's CSRF token.
func (h *Handler) decide(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		authcode.WriteErrorPage(w, http.StatusForbidden, "Invalid request", "The decision must come from the consent page.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxConsentBody)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		authcode.WriteErrorPage(w, http.StatusUnsupportedMediaType, "Invalid request", "Send the consent form.")
		return
	}
	if err := r.ParseForm(); err != nil {
		authcode.WriteErrorPage(w, http.StatusBadRequest, "Invalid request", "The form is malformed.")
		return
	}
	f := r.PostForm
	if len(f["request"]) != 1 || len(f["csrf_token"]) != 1 || len(f["decision"]) != 1 {
		authcode.WriteErrorPage(w, http.StatusBadRequest, "Invalid request", "The form is incomplete.")
		return
	}
	p, signedIn := h.SignedIn(r)
	if !signedIn {
		authcode.WriteErrorPage(w, http.StatusUnauthorized, "Signed out", "Your session ended. Return to the application and start again.")
		return
	}
	want := csrfToken(r.CookiesNamed(CookieName)[0].Value)
	if subtle.ConstantTimeCompare([]byte(f.Get("csrf_token")), []byte(want)) != 1 {
		authcode.WriteErrorPage(w, http.StatusForbidden, "Invalid request", "The form does not belong to your session.")
		return
	}
	req, c, ok := h.consentRequest(w, r, f.Get("request"))
	if !ok {
		return
	}
	flow := h.cfg.Authorize
	if f.Get("decision") != "approve" {
		h.logger.Info("authorization denied", zap.String("person", p.ID), zap.String("client_id", c.ID))
		h.redirect(w, r, req, flow.Deny(req, "access_denied", "the person denied the request"))
		return
	}
	// Computed again, never taken from the form: the person may only untick.
	granted := authcode.Granted(req, c, h.person(p))
	if chosen, err := scope.FromList(f["scope"]); err == nil {
		granted = granted.Filter(chosen)
	} else {
		granted = scope.Set{}
	}
	if granted.IsEmpty() {
		h.redirect(w, r, req, flow.Deny(req, "access_denied", "no scope was approved"))
		return
	}
	h.approve(w, r, req, p, granted)
}

func (h *Handler) approve(w http.ResponseWriter, r *http.Request, req authcode.Request, p Person, granted scope.Set) {
	now := h.cfg.Now()
	a := store.Audit{Time: now, Actor: p.ID, Source: h.clientIP(r)}
	to, err := h.cfg.Authorize.Approve(r.Context(), req, h.person(p), granted, a, now)
	if errors.Is(err, authcode.ErrPersonID) {
		authcode.WriteErrorPage(w, http.StatusBadRequest, "Cannot authorize", "Your account's identifier is too long to be carried in a token.")
		return
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrRevoked) {
		authcode.WriteErrorPage(w, http.StatusBadRequest, "Unknown application", "The application is no longer an active client of this gateway.")
		return
	}
	if err != nil {
		h.consentUnavailable(w, "recording an approval", err)
		return
	}
	h.logger.Info("authorization approved", zap.String("person", p.ID), zap.String("client_id", req.ClientID), zap.String("scope", granted.String()))
	h.redirect(w, r, req, to)
}

func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, _ authcode.Request, to string) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (h *Handler) consentUnavailable(w http.ResponseWriter, what string, err error) {
	h.logger.Warn("consent: "+what, zap.Error(err))
	authcode.WriteErrorPage(w, http.StatusServiceUnavailable, "Try again shortly", "The gateway's store is unavailable.")
}
