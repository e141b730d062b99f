// Package oidclogin signs people in through an OpenID Connect provider: the
// authorization code flow with PKCE (S256), state and nonce (OpenID Connect
// Core 1.0 §3.1), the ID token verified against the provider's JWKS for
// issuer, audience, expiry and nonce by github.com/coreos/go-oidc, and
// configured rules that decide who may sign in and what they may grant.
//
// It keeps no state of a sign-in in progress: the caller binds State, Nonce
// and Verifier to the browser (the dashboard, in a short-lived cookie) and
// hands them back to Finish. Discovery happens on first use and is retried
// (at most every RetryAfter) while the provider cannot be reached, so a
// provider that is down does not stop the gateway from starting. It knows
// nothing of Caddy.
package oidclogin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// Defaults of Config.
const (
	// RetryAfter is the least time between two discovery attempts while the
	// provider cannot be reached.
	RetryAfter = 5 * time.Second
	// Timeout bounds each request to the provider.
	Timeout = 10 * time.Second
)

// DefaultScopes are asked for when Config.Scopes is empty.
var DefaultScopes = []string{oidc.ScopeOpenID, "email", "profile"}

// ErrUnavailable: the provider cannot be reached (discovery, keys, token
// endpoint); trying again later may work.
var ErrUnavailable = errors.New("the sign-in provider cannot be reached")

// Config configures a Login.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document states it; https, or http for loopback addresses only.
	Issuer string
	// ClientID and ClientSecret are the gateway's registration at the
	// provider (a confidential client).
	ClientID, ClientSecret string
	// Scopes are asked for; DefaultScopes when empty ("openid" is added
	// when missing).
	Scopes []string
	// Rules decide who may sign in and what they may grant.
	Rules Rules
	// HTTPClient talks to the provider; one with Timeout when nil.
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Login signs people in through one provider. It is safe for concurrent use.
type Login struct {
	cfg    Config
	scopes []string
	client *http.Client

	mu       sync.Mutex // held during discovery: one attempt at a time
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	lastTry  time.Time
	lastErr  error
}

// New checks cfg; it does no I/O.
func New(cfg Config) (*Login, error) {
	u, err := url.Parse(cfg.Issuer)
	if cfg.Issuer == "" || err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("issuer must be an absolute URL without query or fragment (got %q)", cfg.Issuer)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname())) {
		return nil, fmt.Errorf("issuer must use https (http only for loopback addresses), got %q", cfg.Issuer)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("client_id and client_secret are required")
	}
	if err := cfg.Rules.Check(); err != nil {
		return nil, err
	}
	l := &Login{cfg: cfg, client: cfg.HTTPClient}
	if l.client == nil {
		l.client = &http.Client{Timeout: Timeout}
	}
	if l.cfg.Now == nil {
		l.cfg.Now = time.Now
	}
	l.scopes = cfg.Scopes
	if len(l.scopes) == 0 {
		l.scopes = DefaultScopes
	}
	hasOpenID := false
	for _, s := range l.scopes {
		hasOpenID = hasOpenID || s == oidc.ScopeOpenID
	}
	if !hasOpenID {
		l.scopes = append([]string{oidc.ScopeOpenID}, l.scopes...)
	}
	return l, nil
}

// Issuer is the provider's issuer URL as configured.
func (l *Login) Issuer() string { return l.cfg.Issuer }

// Rules are the rules as configured.
func (l *Login) Rules() Rules { return l.cfg.Rules }

// discover returns the provider, discovering it if no attempt succeeded yet
// and none failed within RetryAfter.
func (l *Login) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.provider != nil {
		return l.provider, l.verifier, nil
	}
	now := l.cfg.Now()
	if l.lastErr != nil && now.Sub(l.lastTry) < RetryAfter {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, l.lastErr)
	}
	l.lastTry = now
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, l.client), Timeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, l.cfg.Issuer)
	if err != nil {
		l.lastErr = err
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	l.provider, l.lastErr = p, nil
	l.verifier = p.Verifier(&oidc.Config{ClientID: l.cfg.ClientID, Now: l.cfg.Now})
	return l.provider, l.verifier, nil
}

// Discover tries discovery now (e.g. at start, in the background); a failure
// is returned and retried on next use.
func (l *Login) Discover(ctx context.Context) error {
	_, _, err := l.discover(ctx)
	return err
}

func (l *Login) oauth2Config(p *oidc.Provider, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: l.cfg.ClientID, ClientSecret: l.cfg.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: redirectURI, Scopes: l.scopes,
	}
}

// Flow is one sign-in in progress: what the browser must bring back.
type Flow struct {
	State, Nonce, Verifier string
}

// NewFlow makes a flow with fresh random values (state and nonce 256 bits,
// the PKCE verifier per RFC 7636 §4.1).
func NewFlow() (Flow, error) {
	var f Flow
	for _, p := range []*string{&f.State, &f.Nonce} {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return Flow{}, err
		}
		*p = base64.RawURLEncoding.EncodeToString(b)
	}
	f.Verifier = oauth2.GenerateVerifier()
	return f, nil
}

// AuthCodeURL is where to send the browser to sign in: the provider's
// authorization endpoint with the flow's state, nonce and S256 challenge.
func (l *Login) AuthCodeURL(ctx context.Context, redirectURI string, f Flow) (string, error) {
	p, _, err := l.discover(ctx)
	if err != nil {
		return "", err
	}
	return l.oauth2Config(p, redirectURI).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), nil
}

// Person is who signed in, as the rules see them.
type Person struct {
	Issuer, Subject string
	Email, Name     string
	MayGrant        scope.Set
}

// InvalidError: the provider's answer does not verify (a code it refuses,
// an ID token with a wrong signature, issuer, audience, nonce or expiry).
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return "the sign-in could not be verified: " + e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Finish redeems the code the provider sent to redirectURI for the flow f
// (the caller has checked that the state matches f.State): it verifies the
// ID token (signature by the provider's JWKS, issuer, audience, expiry, and
// nonce = f.Nonce), reads the person's claims (from the ID token, with
// those it lacks from the UserInfo endpoint, whose subject must be the ID
// token's) and applies the rules. Errors are ErrUnavailable, *InvalidError
// or *NotAllowedError.
func (l *Login) Finish(ctx context.Context, redirectURI, code string, f Flow) (Person, error) {
	p, v, err := l.discover(ctx)
	if err != nil {
		return Person{}, err
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, l.client), Timeout)
	defer cancel()
	tok, err := l.oauth2Config(p, redirectURI).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return Person{}, &InvalidError{fmt.Errorf("the provider refused the code: %s", re.ErrorCode)}
		}
		return Person{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Person{}, &InvalidError{errors.New("the provider sent no ID token")}
	}
	id, err := v.Verify(ctx, raw)
	if err != nil {
		return Person{}, &InvalidError{err}
	}
	if id.Nonce == "" || id.Nonce != f.Nonce {
		return Person{}, &InvalidError{errors.New("the ID token's nonce is not this sign-in's")}
	}
	if id.AccessTokenHash != "" {
		if err := id.VerifyAccessToken(tok.AccessToken); err != nil {
			return Person{}, &InvalidError{err}
		}
	}
	var claims Claims
	if err := id.Claims(&claims); err != nil {
		return Person{}, &InvalidError{err}
	}
	if l.lacksClaims(claims) && p.UserInfoEndpoint() != "" {
		// Providers that keep the ID token small give the email address,
		// whether it is verified, groups and the rest at the UserInfo
		// endpoint (OpenID Connect Core §5.3).
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Person{}, fmt.Errorf("%w: reading user info: %v", ErrUnavailable, err)
		}
		if ui.Subject != id.Subject { // §5.3.2: it must be the same person
			return Person{}, &InvalidError{errors.New("the user info is of another subject than the ID token")}
		}
		var more Claims
		if err := ui.Claims(&more); err != nil {
			return Person{}, &InvalidError{err}
		}
		// Whether an address is verified is said of one address: the two
		// answers must not speak of different ones.
		if e, ok := claims["email"]; ok {
			if e2, ok2 := more["email"]; ok2 && e2 != e {
				return Person{}, &InvalidError{errors.New("the user info names another email address than the ID token")}
			}
		}
		for k, val := range more {
			if _, has := claims[k]; !has {
				claims[k] = val
			}
		}
	}
	grants, err := l.cfg.Rules.Decide(claims)
	if err != nil {
		return Person{}, err
	}
	person := Person{Issuer: id.Issuer, Subject: id.Subject, MayGrant: grants}
	person.Email, _ = claims["email"].(string)
	person.Name, _ = claims["name"].(string)
	// Core §2: a subject is at most 255 ASCII characters; it names the
	// person in sessions and audit entries, so nothing else is taken.
	if len(person.Subject) == 0 || len(person.Subject) > maxSubject || !printableASCII(person.Subject) {
		return Person{}, &InvalidError{errors.New("the ID token's subject is empty, too long or not printable ASCII")}
	}
	if len(person.Email) > maxEmail {
		return Person{}, &NotAllowedError{"the email address is too long"}
	}
	person.Name = displayName(person.Name)
	return person, nil
}

// lacksClaims: the ID token says nothing of what the rules read: the email
// address, whether it is verified, or (when grants are configured) the
// scope claim.
func (l *Login) lacksClaims(c Claims) bool {
	_, email := c["email"]
	_, verified := c["email_verified"]
	claim := l.cfg.Rules.ScopeClaim
	if claim == "" {
		claim = DefaultScopeClaim
	}
	_, groups := c[claim]
	return !email || !verified || (!groups && len(l.cfg.Rules.Grants) > 0)
}

// Allowed reports whether the rules as configured now still let the person
// with email in (for sessions opened under older rules).
func (l *Login) Allowed(email string) bool {
	_, err := l.cfg.Rules.Decide(Claims{"email": email, "email_verified": true})
	return err == nil
}

func loopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Bounds of what a session keeps of a person.
const (
	maxSubject = 255
	maxEmail   = 320
	maxName    = 200 // characters; longer names are cut
)

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// displayName is a name as shown: valid UTF-8 without control characters
// or bidirectional overrides (which could make a name read as another), at
// most maxName characters.
func displayName(s string) string {
	s = strings.ToValidUTF8(s, "")
	out := make([]rune, 0, min(len(s), maxName))
	for _, r := range s {
		if len(out) == maxName {
			break
		}
		if unicode.IsControl(r) || bidiControl(r) {
			continue
		}
		out = append(out, r)
	}
	return string(out)
}

func bidiControl(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}
