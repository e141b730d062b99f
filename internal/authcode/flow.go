package authcode

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// Defaults of Flow.
const (
	// DefaultCodeTTL is a code's life: RFC 6749 §4.1.2 recommends at most
	// ten minutes, the issue asks for at most 60 s.
	DefaultCodeTTL = time.Minute
	// DefaultRefreshTTL bounds a refresh token family's life, counted from
	// the code's exchange, however often it is rotated.
	DefaultRefreshTTL = 30 * 24 * time.Hour
)

// ErrPersonID: the person's ID is empty or too long to be a token's sub.
var ErrPersonID = errors.New("the person's identifier is empty or longer than a token's sub may be")

// Person is who decides at the consent page.
type Person struct {
	ID       string    // stable: "master", "client:<id>", "oidc:<issuer>#<sub>"
	Name     string    // shown, and written in audit entries and grants
	MayGrant scope.Set // the scopes the person may grant; "*" for any
}

// Flow issues codes for approved requests. Make one per configuration; it
// is safe for concurrent use.
type Flow struct {
	Sealer *Sealer
	Store  store.AuthCodeStore
	// Issuer is the authorization server's issuer identifier, sent as iss in
	// every authorization response (RFC 9207).
	Issuer string
	// CodeTTL is a code's life; DefaultCodeTTL when 0.
	CodeTTL time.Duration
	// Public, when set, accepts clients known only by a Client ID Metadata
	// Document (an https URL as client_id); nil refuses them.
	Public *PublicClients
}

// Granted is what the person may grant the client of req: the requested
// scopes (all the client's when none were named) that the client holds and
// the person may grant.
func Granted(req Request, client *store.Client, p Person) scope.Set {
	asked := client.Scopes
	if req.Scope != "" {
		if s, err := scope.Parse(req.Scope); err == nil {
			asked = Meet(s, client.Scopes)
		} else {
			return scope.Set{}
		}
	}
	return Meet(asked, p.MayGrant)
}

// Remembered reports whether an earlier approval of this client by this
// person covers granted: then no question need be asked again.
func (f *Flow) Remembered(ctx context.Context, clientID string, p Person, granted scope.Set) (bool, error) {
	g, err := f.Store.GetGrant(ctx, clientID, p.ID)
	if errors.Is(err, store.ErrNoGrant) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !granted.IsEmpty() && g.Scopes.CoversAll(granted), nil
}

// Approve records the person's grant (remembered until revoked) and a code
// for req bound to the client, redirect URI, PKCE challenge, resource,
// person and granted scopes, and returns the authorization response URI
// (RFC 6749 §4.1.2) with code, state and iss.
func (f *Flow) Approve(ctx context.Context, req Request, p Person, granted scope.Set, a store.Audit, now time.Time) (string, error) {
	if granted.IsEmpty() {
		return f.Deny(req, "invalid_scope", "none of the requested scopes may be granted"), nil
	}
	if p.ID == "" || token.ClaimLength(p.ID) > token.MaxSubjectLength {
		// Every token of the grant carries the person as sub: refuse now
		// rather than at every exchange.
		return "", ErrPersonID
	}
	g := &store.Grant{ClientID: req.ClientID, PersonID: p.ID, PersonName: p.Name, Scopes: granted, CreatedAt: now}
	if err := f.Store.SaveGrant(ctx, g, a); err != nil {
		return "", err
	}
	code := NewCode()
	bound := "" // the token request must send redirect_uri exactly when the request did
	if req.RedirectGiven {
		bound = req.RedirectURI
	}
	ttl := f.CodeTTL
	if ttl <= 0 {
		ttl = DefaultCodeTTL
	}
	err := f.Store.SaveCode(ctx, &store.AuthCode{
		Hash: credential.HashOf(code), ClientID: req.ClientID, PersonID: p.ID, PersonName: p.Name,
		RedirectURI: bound, CodeChallenge: req.Challenge, Resource: req.Resource,
		Scopes: granted, Family: NewFamily(), ExpiresAt: now.Add(ttl),
	})
	if err != nil {
		return "", err
	}
	q := url.Values{"code": {code}}
	if req.State != "" {
		q.Set("state", req.State)
	}
	return Response(req.RedirectURI, f.Issuer, q), nil
}

// Deny is the error response of RFC 6749 §4.1.2.1 for req: access_denied
// when the person says no.
func (f *Flow) Deny(req Request, code, description string) string {
	q := url.Values{"error": {code}}
	if description != "" {
		q.Set("error_description", description)
	}
	if req.State != "" {
		q.Set("state", req.State)
	}
	return Response(req.RedirectURI, f.Issuer, q)
}
