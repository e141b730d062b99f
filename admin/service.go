// Package admin is the client lifecycle: create (the secret shown once), list,
// inspect, revoke and delete OAuth clients and API keys. It knows nothing of
// Caddy: the CLI drives the Service, and Handler serves it over HTTP as the
// admin API.
package admin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/keyring"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// Limits on what a client may be given.
const (
	MaxNameLength = 128
	MaxScopes     = 64
	// MaxScopesLength bounds a client's scopes joined by single spaces (each
	// at most scope.MaxLength bytes): every token carries them (unless it asks
	// for fewer), and token.MaxScopeLength is what a token can carry and still
	// fit in the 4096 bytes blnk_auth accepts.
	MaxScopesLength = token.MaxScopeLength
	// DefaultListLimit and MaxListLimit bound a page of clients.
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// ValidationError says which input field is wrong and why.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Actor is who asks for a change: a client holding scopes, or an
// unrestricted operator (the master key, the CLI).
type Actor struct {
	// ID is the caller's client ID, "master_key" or "cli".
	ID string
	// Scopes the caller holds; ignored when Unrestricted.
	Scopes scope.Set
	// Unrestricted callers may grant any scope.
	Unrestricted bool
	// Source and RequestID go into the audit event.
	Source, RequestID string
}

// The actors that are not clients.
var (
	CLI = Actor{ID: "cli", Unrestricted: true}
)

// ErrForbidden: the actor may not grant what it asked for (no escalation).
var ErrForbidden = errors.New("forbidden")

// mayGrant reports whether the actor holds every scope in s: nobody hands out
// more than they have.
func (a Actor) mayGrant(s scope.Set) bool { return a.Unrestricted || a.Scopes.CoversAll(s) }

// mayManage is the store guard of a change to an existing client: the actor
// must hold every scope the client holds, as committed when the change is
// made (so a concurrent widening of the client cannot slip in between a check
// and the change); what names the change for the error. A client may always
// revoke itself when self is set: giving up one's own access needs no power.
func (a Actor) mayManage(what string, self bool) store.Guard {
	if a.Unrestricted {
		return nil
	}
	return func(c *store.Client) error {
		if self && c.ID == a.ID {
			return nil
		}
		if !a.Scopes.CoversAll(c.Scopes) {
			return fmt.Errorf("%w: %s needs every scope of that client", ErrForbidden, what)
		}
		return nil
	}
}

// keyAudit is the audit of a key change a makes through s.
func (a Actor) keyAudit(s *Service) store.Audit { return s.audit(a) }

func (s *Service) audit(a Actor) store.Audit {
	return store.Audit{Time: s.now().UTC().Truncate(time.Microsecond), Actor: a.ID, Source: a.Source, RequestID: a.RequestID}
}

// Service manages clients in a store.
type Service struct {
	Store store.Store
	// Invalidate, if set, is called after every change so this process's cache
	// forgets the client at once (other processes learn from the change feed).
	Invalidate func(clientID string)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Keys manages the signing keys (GET /keys, POST /keys/rotate); nil
	// answers those 503.
	Keys keyring.Manager
	// Issuer is the gateway's issuer URL: a private_key_jwt client's
	// jwks_uri on its host and port is refused (the gateway never fetches
	// keys from itself). Default nil: not checked here (the authorization
	// server still refuses such a URL at every token request).
	Issuer *url.URL
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) changed(id string) {
	if s.Invalidate != nil {
		s.Invalidate(id)
	}
}

// CreateParams describe a new client.
type CreateParams struct {
	Name      string
	Type      store.Type // default oauth
	Scopes    []string
	ExpiresAt *time.Time // nil: never
	// RateLimit is the client's own rate limit; nil for none. A Burst of 0
	// means Requests.
	RateLimit *store.RateLimit
	// AuthMethod is how an OAuth client authenticates: "" is
	// client_secret_basic, or private_key_jwt when Keys are given.
	AuthMethod store.AuthMethod
	// Keys are a private_key_jwt client's public keys (jwks or jwks_uri).
	Keys store.ClientKeys
	// RedirectURIs are where the authorization-code flow may send the
	// client's codes; OAuth clients only.
	RedirectURIs []string
}

// MaxRateLimit bounds a rate limit's requests and burst.
const MaxRateLimit = 1_000_000

// CheckRateLimit validates a client's rate limit (nil: none) and fills in
// the default burst, Requests.
func CheckRateLimit(l *store.RateLimit) (*store.RateLimit, error) {
	if l == nil {
		return nil, nil
	}
	out := *l
	if out.Burst == 0 {
		out.Burst = out.Requests
	}
	switch {
	case out.Requests < 1 || out.Requests > MaxRateLimit:
		return nil, invalid("rate_limit", "requests must be between 1 and %d", MaxRateLimit)
	case out.Burst < 1 || out.Burst > MaxRateLimit:
		return nil, invalid("rate_limit", "burst must be between 1 and %d", MaxRateLimit)
	case !out.Valid():
		return nil, invalid("rate_limit", `per must be "1s", "1m" or "1h"`)
	}
	return &out, nil
}

// Created is a new client with its secret: the only time the secret exists
// outside the caller's hands.
type Created struct {
	Client *store.Client
	// Secret is the client secret (oauth) or the API key (api_key); "" for
	// a private_key_jwt client, which holds keys instead.
	Secret string
}

// ValidateName checks a client name: 1 to 128 printable characters, not blank.
func ValidateName(name string) error {
	switch {
	case !utf8.ValidString(name):
		return invalid("name", "must be valid UTF-8")
	case strings.TrimSpace(name) == "":
		return invalid("name", "is required")
	case utf8.RuneCountInString(name) > MaxNameLength:
		return invalid("name", "must be at most %d characters", MaxNameLength)
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return invalid("name", "must contain only printable characters")
	}
	return nil
}

// ParseScopes checks a client's scopes: 1 to 64 valid scope tokens, at most
// 1536 bytes joined by spaces (duplicates dropped).
func ParseScopes(list []string) (scope.Set, error) {
	if len(list) == 0 {
		return scope.Set{}, invalid("scopes", `at least one scope is required ("*" grants everything)`)
	}
	if len(list) > MaxScopes {
		return scope.Set{}, invalid("scopes", "at most %d scopes", MaxScopes)
	}
	set, err := scope.FromList(list)
	if err != nil {
		return scope.Set{}, invalid("scopes", "%v", err)
	}
	if n := len(set.String()); n > MaxScopesLength {
		return scope.Set{}, invalid("scopes", "at most %d bytes in all, joined by spaces (got %d), so that a token can carry them", MaxScopesLength, n)
	}
	return set, nil
}

// Create makes a client and returns it with its secret. The actor must hold
// every scope it grants.
func (s *Service) Create(ctx context.Context, actor Actor, p CreateParams) (*Created, error) {
	if p.Type == "" {
		p.Type = store.TypeOAuth
	}
	if !p.Type.Valid() {
		return nil, invalid("type", `must be "oauth" or "api_key"`)
	}
	if err := ValidateName(p.Name); err != nil {
		return nil, err
	}
	scopes, err := ParseScopes(p.Scopes)
	if err != nil {
		return nil, err
	}
	if !actor.mayGrant(scopes) {
		return nil, fmt.Errorf("%w: a client can only be given scopes the caller holds", ErrForbidden)
	}
	limit, err := CheckRateLimit(p.RateLimit)
	if err != nil {
		return nil, err
	}
	method, keys, err := clientAuth(p.Type, p.AuthMethod, p.Keys)
	if err != nil {
		return nil, err
	}
	if err := s.checkOwnHost(keys); err != nil {
		return nil, err
	}
	uris, err := CheckRedirectURIs(p.RedirectURIs, p.Type)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond) // Postgres keeps microseconds
	if p.ExpiresAt, err = futureTime(p.ExpiresAt, now); err != nil {
		return nil, err
	}
	id := credential.NewClientID()
	secret := credential.NewSecret()
	if p.Type == store.TypeAPIKey {
		if secret, err = credential.NewAPIKey(id); err != nil {
			return nil, err
		}
	}
	c := &store.Client{
		ID:           id,
		Name:         p.Name,
		Type:         p.Type,
		Scopes:       scopes,
		SecretHash:   credential.HashOf(secret),
		SecretHint:   credential.Hint(secret),
		CreatedAt:    now,
		ExpiresAt:    p.ExpiresAt,
		RateLimit:    limit,
		RedirectURIs: uris,
		AuthMethod:   method,
		Keys:         keys,
	}
	if method == store.AuthPrivateKeyJWT {
		// The hash column holds a secret nobody is given; the store never
		// matches a private_key_jwt client's secret anyway.
		c.SecretHint, secret = "", ""
	}
	if err := s.Store.CreateClient(ctx, c, s.audit(actor)); err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	s.changed(id)
	return &Created{Client: c, Secret: secret}, nil
}

// MaxRedirectURIs bounds a client's redirect URIs.
const MaxRedirectURIs = 10

// CheckRedirectURIs validates redirect URIs (RFC 6749 §3.1.2, RFC 8252):
// absolute, no fragment, https or a loopback http URI or a private-use
// scheme; no duplicates; only for OAuth clients.
func CheckRedirectURIs(uris []string, typ store.Type) ([]string, error) {
	if len(uris) == 0 {
		return nil, nil
	}
	if typ != store.TypeOAuth {
		return nil, invalid("redirect_uris", "only OAuth clients have redirect URIs")
	}
	if len(uris) > MaxRedirectURIs {
		return nil, invalid("redirect_uris", "at most %d", MaxRedirectURIs)
	}
	out := make([]string, 0, len(uris))
	for _, u := range uris {
		if !authcode.ValidRedirectURI(u) {
			return nil, invalid("redirect_uris", "%q must be an absolute https URI, an http URI on a loopback address (127.0.0.1, [::1], localhost), or a private-use scheme, without fragment or spaces", u)
		}
		if slices.Contains(out, u) {
			return nil, invalid("redirect_uris", "%q is listed twice", u)
		}
		out = append(out, u)
	}
	return out, nil
}

// futureTime normalises an expiry (nil: never) and refuses a past one.
func futureTime(t *time.Time, now time.Time) (*time.Time, error) {
	if t == nil {
		return nil, nil
	}
	exp := t.UTC().Truncate(time.Microsecond)
	if !exp.After(now) {
		return nil, invalid("expires_at", "must be in the future")
	}
	return &exp, nil
}

// Get returns one client; store.ErrNotFound if there is none.
func (s *Service) Get(ctx context.Context, id string) (*store.Client, error) {
	if !credential.ValidClientID(id) {
		return nil, store.ErrNotFound
	}
	return s.Store.GetClient(ctx, id)
}

// ListParams select a page of clients.
type ListParams struct {
	Status store.Status
	Type   store.Type
	Limit  int // 0: DefaultListLimit
	After  *store.Cursor
}

// List returns a page of clients, newest first, and the cursor of the next
// page (nil on the last one).
func (s *Service) List(ctx context.Context, p ListParams) ([]*store.Client, *store.Cursor, error) {
	if p.Status != "" && !p.Status.Valid() {
		return nil, nil, invalid("status", `must be "active", "revoked" or "expired"`)
	}
	if p.Type != "" && !p.Type.Valid() {
		return nil, nil, invalid("type", `must be "oauth" or "api_key"`)
	}
	if p.Limit == 0 {
		p.Limit = DefaultListLimit
	}
	if p.Limit < 1 || p.Limit > MaxListLimit {
		return nil, nil, invalid("limit", "must be between 1 and %d", MaxListLimit)
	}
	// One extra row says whether there is a next page.
	clients, err := s.Store.ListClients(ctx, store.ListFilter{Status: p.Status, Type: p.Type, Limit: p.Limit + 1, After: p.After}, s.now())
	if err != nil {
		return nil, nil, err
	}
	if len(clients) <= p.Limit {
		return clients, nil, nil
	}
	clients = clients[:p.Limit]
	last := clients[len(clients)-1]
	return clients, &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}, nil
}

// Revoke disables a client for good; revoking again changes nothing. The
// actor must hold every scope of the client, unless it is the client itself.
func (s *Service) Revoke(ctx context.Context, actor Actor, id string) (*store.Client, error) {
	if !credential.ValidClientID(id) {
		return nil, store.ErrNotFound
	}
	a := s.audit(actor)
	c, err := s.Store.RevokeClient(ctx, id, a.Time, a, actor.mayManage("revoking a client", true))
	if err != nil {
		return nil, err
	}
	s.changed(id)
	return c, nil
}

// Delete removes a client; its tokens stop working. The actor must hold
// every scope of the client.
func (s *Service) Delete(ctx context.Context, actor Actor, id string) error {
	if !credential.ValidClientID(id) {
		return store.ErrNotFound
	}
	if err := s.Store.DeleteClient(ctx, id, s.audit(actor), actor.mayManage("deleting a client", false)); err != nil {
		return err
	}
	s.changed(id)
	return nil
}

// UpdateParams list the fields to change; nil leaves a field as it is.
type UpdateParams struct {
	Name   *string
	Scopes *[]string
	// ExpiresAt: nil leaves it; a pointer to nil means never.
	ExpiresAt **time.Time
	// RateLimit: nil leaves it; a pointer to nil removes it.
	RateLimit **store.RateLimit
	// Keys: nil leaves them; else replaces a private_key_jwt client's keys
	// (jwks or jwks_uri).
	Keys *store.ClientKeys
	// RedirectURIs: nil leaves them; else replaces them (empty: none).
	RedirectURIs *[]string
}

// Update changes a client's name, scopes, expiry or rate limit. Narrowed scopes and an
// earlier expiry bite on live tokens at once (every request re-reads the
// client). The actor must hold every scope of the client and every scope it
// sets; a revoked client cannot change (store.ErrRevoked).
func (s *Service) Update(ctx context.Context, actor Actor, id string, p UpdateParams) (*store.Client, error) {
	if !credential.ValidClientID(id) {
		return nil, store.ErrNotFound
	}
	var u store.ClientUpdate
	if p.Name != nil {
		if err := ValidateName(*p.Name); err != nil {
			return nil, err
		}
		u.Name = p.Name
	}
	if p.Scopes != nil {
		set, err := ParseScopes(*p.Scopes)
		if err != nil {
			return nil, err
		}
		if !actor.mayGrant(set) {
			return nil, fmt.Errorf("%w: a client can only be given scopes the caller holds", ErrForbidden)
		}
		u.Scopes = &set
	}
	if p.ExpiresAt != nil {
		exp, err := futureTime(*p.ExpiresAt, s.now().UTC())
		if err != nil {
			return nil, err
		}
		u.ExpiresAt = &exp
	}
	if p.RateLimit != nil {
		l, err := CheckRateLimit(*p.RateLimit)
		if err != nil {
			return nil, err
		}
		u.RateLimit = &l
	}
	if p.Keys != nil {
		keys, err := CheckClientKeys(*p.Keys)
		if err != nil {
			return nil, err
		}
		if err := s.checkOwnHost(keys); err != nil {
			return nil, err
		}
		// The method never changes, so it may be read before the change.
		current, err := s.Store.GetClient(ctx, id)
		if err != nil {
			return nil, err
		}
		if current.AuthMethod != store.AuthPrivateKeyJWT {
			return nil, invalid("jwks", "the client authenticates with a secret; create a private_key_jwt client instead")
		}
		u.Keys = &keys
	}
	if p.RedirectURIs != nil {
		// The type is checked against the stored client by the guard below.
		uris, err := CheckRedirectURIs(*p.RedirectURIs, store.TypeOAuth)
		if err != nil {
			return nil, err
		}
		if uris == nil {
			uris = []string{}
		}
		u.RedirectURIs = &uris
	}
	// Managing a client (even renaming it or extending its life) needs the
	// power it holds, as rolling its secret does; the store checks it on the
	// client as it is when the change is made.
	guard := actor.mayManage("changing a client", false)
	if u.RedirectURIs != nil && len(*u.RedirectURIs) > 0 {
		manage := guard
		guard = func(c *store.Client) error {
			if c.Type != store.TypeOAuth {
				return invalid("redirect_uris", "only OAuth clients have redirect URIs")
			}
			if manage != nil {
				return manage(c)
			}
			return nil
		}
	}
	c, err := s.Store.UpdateClient(ctx, id, u, s.audit(actor), guard)
	if err != nil {
		return nil, err
	}
	s.changed(id)
	return c, nil
}

// MaxGracePeriod bounds how long a rolled secret keeps working.
const MaxGracePeriod = 30 * 24 * time.Hour

// RollSecret gives a client a new secret (or API key), returned once; the old
// one keeps working for grace (0: it stops at once). The actor must hold all
// of the client's scopes, since the new secret hands over that power.
func (s *Service) RollSecret(ctx context.Context, actor Actor, id string, grace time.Duration) (*Created, error) {
	if grace < 0 || grace > MaxGracePeriod {
		return nil, invalid("grace_period", "must be between 0 and %s", MaxGracePeriod)
	}
	// The type decides the new credential's form; it never changes, so it
	// may be read before the change. The scopes are judged in the change.
	current, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if current.AuthMethod == store.AuthPrivateKeyJWT {
		return nil, invalid("token_endpoint_auth_method", "a private_key_jwt client has no secret to roll; replace its jwks or jwks_uri instead")
	}
	secret := credential.NewSecret()
	if current.Type == store.TypeAPIKey {
		if secret, err = credential.NewAPIKey(id); err != nil {
			return nil, err
		}
	}
	a := s.audit(actor)
	roll := store.SecretRoll{Hash: credential.HashOf(secret), Hint: credential.Hint(secret)}
	if grace > 0 {
		until := a.Time.Add(grace)
		roll.PreviousValidUntil = &until
	}
	c, err := s.Store.RollSecret(ctx, id, roll, a, actor.mayManage("rolling a secret", false))
	if err != nil {
		return nil, err
	}
	s.changed(id)
	return &Created{Client: c, Secret: secret}, nil
}

// AuditParams select a page of audit events.
type AuditParams struct {
	ClientID string
	Limit    int   // 0: DefaultListLimit
	BeforeID int64 // the next page's cursor
}

// Audit returns audit events, newest first, and the next page's cursor (0 on the last page).
func (s *Service) Audit(ctx context.Context, p AuditParams) ([]store.AuditEvent, int64, error) {
	if p.ClientID != "" && !credential.ValidClientID(p.ClientID) {
		return nil, 0, invalid("client_id", "is not a client ID")
	}
	if p.Limit == 0 {
		p.Limit = DefaultListLimit
	}
	if p.Limit < 1 || p.Limit > MaxListLimit {
		return nil, 0, invalid("limit", "must be between 1 and %d", MaxListLimit)
	}
	if p.BeforeID < 0 {
		return nil, 0, invalid("cursor", "is malformed")
	}
	events, err := s.Store.ListAudit(ctx, store.AuditFilter{ClientID: p.ClientID, Limit: p.Limit + 1, BeforeID: p.BeforeID})
	if err != nil {
		return nil, 0, err
	}
	if len(events) <= p.Limit {
		return events, 0, nil
	}
	events = events[:p.Limit]
	return events, events[len(events)-1].ID, nil
}

// IsNotFound reports whether err means the client does not exist.
func IsNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
