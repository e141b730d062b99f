// Package admin is the client lifecycle: create (the secret shown once), list,
// inspect, revoke and delete OAuth clients and API keys. It knows nothing of
// Caddy or HTTP; the CLI and the admin API both drive it.
package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// Limits on what a client may be given.
const (
	MaxNameLength = 128
	MaxScopes     = 64
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

// Service manages clients in a store.
type Service struct {
	Store store.Store
	// Invalidate, if set, is called after every change so this process's cache
	// forgets the client at once (other processes learn from the change feed).
	Invalidate func(clientID string)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
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
}

// Created is a new client with its secret: the only time the secret exists
// outside the caller's hands.
type Created struct {
	Client *store.Client
	// Secret is the client secret (oauth) or the API key (api_key).
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

// ParseScopes checks a client's scopes: 1 to 64 valid scope tokens.
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
	return set, nil
}

// Create makes a client and returns it with its secret.
func (s *Service) Create(ctx context.Context, p CreateParams) (*Created, error) {
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
	now := s.now().UTC().Truncate(time.Microsecond) // Postgres keeps microseconds
	if p.ExpiresAt != nil {
		exp := p.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !exp.After(now) {
			return nil, invalid("expires_at", "must be in the future")
		}
		p.ExpiresAt = &exp
	}
	id := credential.NewClientID()
	secret := credential.NewSecret()
	if p.Type == store.TypeAPIKey {
		if secret, err = credential.NewAPIKey(id); err != nil {
			return nil, err
		}
	}
	c := &store.Client{
		ID:         id,
		Name:       p.Name,
		Type:       p.Type,
		Scopes:     scopes,
		SecretHash: credential.HashOf(secret),
		SecretHint: credential.Hint(secret),
		CreatedAt:  now,
		ExpiresAt:  p.ExpiresAt,
	}
	if err := s.Store.CreateClient(ctx, c); err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	s.changed(id)
	return &Created{Client: c, Secret: secret}, nil
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

// Revoke disables a client for good; revoking again changes nothing.
func (s *Service) Revoke(ctx context.Context, id string) (*store.Client, error) {
	if !credential.ValidClientID(id) {
		return nil, store.ErrNotFound
	}
	c, err := s.Store.RevokeClient(ctx, id, s.now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return nil, err
	}
	s.changed(id)
	return c, nil
}

// Delete removes a client; its tokens stop working.
func (s *Service) Delete(ctx context.Context, id string) error {
	if !credential.ValidClientID(id) {
		return store.ErrNotFound
	}
	if err := s.Store.DeleteClient(ctx, id); err != nil {
		return err
	}
	s.changed(id)
	return nil
}

// IsNotFound reports whether err means the client does not exist.
func IsNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
