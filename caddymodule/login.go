package caddymodule

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/oidclogin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// LoginConfig is how people sign in at the gateway's sign-in page (the
// dashboard's), besides the keys it always takes.
type LoginConfig struct {
	// OIDC signs people in through an OpenID Connect provider. Default:
	// none (keys only).
	OIDC *OIDCLogin `json:"oidc,omitempty"`
}

// OIDCLogin is sign-in through an OpenID Connect provider: the dashboard's
// sign-in page offers "Sign in with <name>" (authorization code with PKCE
// S256, state and nonce, the ID token verified against the provider's
// keys). Register the gateway at the provider as a confidential web client
// with the redirect URI https://<dashboard host><mount>/ui/oidc/callback
// (e.g. https://gw.example.com/admin/ui/oidc/callback for handle_path
// /admin/*).
//
// Who may sign in: a person whose email address the provider says is
// verified (email_verified true), listed in AllowedEmails or at a domain
// in AllowedDomains; at least one of the two is required. What they may
// grant: DefaultGrant, plus the scopes of every Grants entry whose value is
// among the values of the ScopeClaim claim. Those scopes also decide what a
// person may do in the dashboard, as a client's scopes do (api-keys:read to
// see clients, api-keys:write, api-keys:delete). They are fixed at sign-in,
// for at most the session's lifetime (blnk_admin's session_lifetime).
type OIDCLogin struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document (/.well-known/openid-configuration) states it; https (http
	// only for loopback addresses). Required. Discovery happens in the
	// background at start and again on sign-in while it fails: a provider
	// that is down does not stop the gateway; sign-in says it is down.
	Issuer string `json:"issuer,omitempty"`
	// ClientID is the gateway's client ID at the provider. Required.
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret is the gateway's client secret at the provider.
	// Required; give it as {env.*} or {file.*}, read when the config loads.
	ClientSecret string `json:"client_secret,omitempty"`
	// Name is shown on the button ("Sign in with <name>"). Default: the
	// issuer's host.
	Name string `json:"name,omitempty"`
	// RedirectURI is the callback's URL as registered at the provider,
	// e.g. https://gw.example.com/admin/ui/oidc/callback: set it when the
	// gateway is behind a proxy that terminates TLS or changes the host.
	// Default: made of each request's scheme, host and mount.
	RedirectURI string `json:"redirect_uri,omitempty"`
	// Scopes are asked of the provider. Default: openid email profile
	// ("openid" is added when missing); add the one that makes the
	// provider send ScopeClaim (often "groups") if it needs one.
	Scopes []string `json:"scopes,omitempty"`
	// AllowedDomains: people with a verified address at one of these
	// domains (exactly; subdomains are other domains) may sign in.
	// Lowercase. Default: none.
	AllowedDomains []string `json:"allowed_domains,omitempty"`
	// AllowedEmails: people with one of these verified addresses may sign
	// in. Lowercase. Default: none.
	AllowedEmails []string `json:"allowed_emails,omitempty"`
	// ScopeClaim is the claim (a string or an array of strings, from the
	// ID token or else the UserInfo endpoint) whose values Grants maps to
	// scopes. Default: groups.
	ScopeClaim string `json:"scope_claim,omitempty"`
	// Grants give scopes to the people whose ScopeClaim has a value.
	// Default: none.
	Grants []OIDCGrant `json:"grants,omitempty"`
	// DefaultGrant are scopes every person allowed in may grant. Default:
	// none (such a person may sign in and grant nothing).
	DefaultGrant []string `json:"default_grant,omitempty"`
}

// OIDCGrant gives Scopes to the people whose ScopeClaim has the value Value.
type OIDCGrant struct {
	// Value is a value of the claim, e.g. a group's name. Required.
	Value string `json:"value"`
	// Scopes are what such a person may grant. Required (at least one).
	Scopes []string `json:"scopes"`
}

// provisionLogin builds the provider sign-in, if configured, and derives
// the key of its flow cookie from the app's secret (every instance on the
// database shares it, so a sign-in may come back to another instance).
func (a *App) provisionLogin(secret string, reg *prometheus.Registry) error {
	if a.Login == nil || a.Login.OIDC == nil {
		return nil
	}
	a.loginOutcome = signInMetrics(reg)
	o := a.Login.OIDC
	repl := caddy.NewReplacer()
	rules := oidclogin.Rules{AllowedDomains: o.AllowedDomains, AllowedEmails: o.AllowedEmails, ScopeClaim: o.ScopeClaim}
	var err error
	if rules.DefaultGrant, err = loginScopes("default_grant", o.DefaultGrant); err != nil {
		return err
	}
	for _, g := range o.Grants {
		if g.Value == "" || len(g.Scopes) == 0 {
			return fmt.Errorf("blnk_auth: login oidc: a grant needs a claim value and at least one scope")
		}
		s, err := loginScopes("grant "+g.Value, g.Scopes)
		if err != nil {
			return err
		}
		if rules.Grants == nil {
			rules.Grants = make(map[string]scope.Set)
		}
		rules.Grants[g.Value] = rules.Grants[g.Value].Union(s)
	}
	if ru := repl.ReplaceKnown(o.RedirectURI, ""); ru != "" {
		if u, err := url.Parse(ru); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" ||
			!strings.HasSuffix(u.Path, "/ui/oidc/callback") {
			return fmt.Errorf("blnk_auth: login oidc: redirect_uri %q must be an absolute URL ending in <mount>/ui/oidc/callback", ru)
		}
	}
	l, err := oidclogin.New(oidclogin.Config{
		Issuer:       repl.ReplaceKnown(o.Issuer, ""),
		ClientID:     repl.ReplaceKnown(o.ClientID, ""),
		ClientSecret: repl.ReplaceKnown(o.ClientSecret, ""),
		Scopes:       o.Scopes,
		Rules:        rules,
	})
	if err != nil {
		return fmt.Errorf("blnk_auth: login oidc: %w", err)
	}
	a.login = l
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("blnk dashboard oidc flow key"))
	a.loginFlowKey = m.Sum(nil)
	// Discover now, in the background, so the first sign-in is quick; a
	// failure is only logged (and retried on sign-in).
	logger := a.logger
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), oidclogin.Timeout)
		defer cancel()
		if err := l.Discover(ctx); err != nil {
			logger.Warn("blnk_auth: the OpenID Connect provider cannot be reached yet; sign-in through it will retry", zap.String("issuer", l.Issuer()), zap.Error(err))
		}
	}()
	return nil
}

func loginScopes(field string, list []string) (scope.Set, error) {
	if len(list) == 0 {
		return scope.Set{}, nil
	}
	s, err := admin.ParseScopes(list)
	if err != nil {
		return scope.Set{}, fmt.Errorf("blnk_auth: login oidc: %s: %v", field, err)
	}
	return s, nil
}

// authorizePath is the path of the authorization endpoint on the issuer's
// site, where a sign-in may go back to.
func (a *App) authorizePath() string {
	return strings.TrimSuffix(a.issuerURL.Path, "/") + "/oauth/authorize"
}

// parseLogin parses the login option of the blnk_auth block:
//
//	login oidc {
//		issuer <url>                      # required
//		client_id <id>                    # required
//		client_secret <secret>            # required, e.g. {env.OIDC_CLIENT_SECRET}
//		name <text>                       # on the button; default: the issuer's host
//		redirect_uri <url>                # the callback as registered; default: from each request
//		scopes openid email profile ...   # default: openid email profile
//		allowed_domains example.com ...   # who may sign in (verified email at these domains)
//		allowed_emails a@example.org ...  # or these addresses; one of the two is required
//		scope_claim groups                # default: groups
//		grant <claim value> <scope...>    # what people with that value may grant; repeatable
//		default_grant <scope...>          # what everyone allowed may grant; default none
//	}
func parseLogin(d *caddyfile.Dispenser) (*LoginConfig, error) {
	if !d.NextArg() || d.Val() != "oidc" {
		return nil, d.Err("login: expected oidc")
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	o := new(OIDCLogin)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		var err error
		switch key {
		case "issuer":
			err = oneString(d, &o.Issuer)
		case "client_id":
			err = oneString(d, &o.ClientID)
		case "client_secret":
			if err = oneString(d, &o.ClientSecret); err == nil && isLiteral(o.ClientSecret) {
				warnLiteral(d, "login oidc client_secret")
			}
		case "name":
			err = oneString(d, &o.Name)
		case "redirect_uri":
			err = oneString(d, &o.RedirectURI)
		case "scope_claim":
			err = oneString(d, &o.ScopeClaim)
		case "scopes", "allowed_domains", "allowed_emails", "default_grant":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			dst := map[string]*[]string{"scopes": &o.Scopes, "allowed_domains": &o.AllowedDomains, "allowed_emails": &o.AllowedEmails, "default_grant": &o.DefaultGrant}[key]
			*dst = append(*dst, args...)
		case "grant":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return nil, d.Err("grant: expected a claim value and at least one scope")
			}
			o.Grants = append(o.Grants, OIDCGrant{Value: args[0], Scopes: args[1:]})
		default:
			return nil, d.Errf("unrecognized login oidc option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	return &LoginConfig{OIDC: o}, nil
}

// loginSettings is what the dashboard needs of the provider sign-in.
type loginSettings struct {
	login             *oidclogin.Login
	name, redirectURI string
	flowKey           []byte
	outcome           func(string)
}

func (a *App) loginSettings() loginSettings {
	s := loginSettings{login: a.login, flowKey: a.loginFlowKey, outcome: a.loginOutcome}
	if a.Login != nil && a.Login.OIDC != nil {
		s.name, s.redirectURI = a.Login.OIDC.Name, caddy.NewReplacer().ReplaceKnown(a.Login.OIDC.RedirectURI, "")
	}
	return s
}

// signInOutcomes are the outcomes of a sign-in through the provider (see
// dashboard.Config.OIDCOutcome).
var signInOutcomes = []string{"signed_in", "not_allowed", "invalid", "unavailable", "refused"}

// signInMetrics counts sign-ins through the provider by outcome, as
// caddy_blnk_auth_sso_sign_ins_total.
func signInMetrics(reg *prometheus.Registry) func(string) {
	v := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "blnk_auth", Name: "sso_sign_ins_total",
		Help: "Sign-ins to the dashboard through the OpenID Connect provider, by outcome (signed_in, not_allowed, invalid, unavailable, refused).",
	}, []string{"outcome"}))
	by := map[string]prometheus.Counter{}
	for _, o := range signInOutcomes {
		by[o] = v.WithLabelValues(o)
	}
	return func(o string) {
		if c, ok := by[o]; ok {
			c.Inc()
		}
	}
}
