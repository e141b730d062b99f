package authcode

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientmetadata"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// IsMetadataClientID reports whether id names a client by a Client ID
// Metadata Document (an https URL); the gateway's own client IDs never do.
func IsMetadataClientID(id string) bool { return strings.HasPrefix(id, "https://") }

// PublicClients turns Client ID Metadata Documents into clients of the flow:
// public clients (no secret; PKCE is always required), never stored, whose
// redirect URIs and name are the document's. They may be granted at most
// Scopes, and, like every client, at most what the approving person may grant.
type PublicClients struct {
	Resolver *clientmetadata.Resolver
	// Scopes bounds what a client known only by its document may be granted.
	Scopes scope.Set
}

// ErrPublicClient: a document that names no way for this gateway to serve it.
var ErrPublicClient = errors.New("the client's metadata document asks for what this gateway does not support (it must use the authorization_code grant with token_endpoint_auth_method none)")

// Client resolves id's document into a client of the flow. Every error but
// ErrPublicClient is a *clientmetadata.Error (its Description is safe to show).
func (p *PublicClients) Client(ctx context.Context, id string) (*store.Client, error) {
	d, err := p.Resolver.Resolve(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.TokenEndpointAuthMethod != clientmetadata.AuthMethodNone || !slices.Contains(d.GrantTypes, "authorization_code") {
		return nil, ErrPublicClient
	}
	scopes := p.Scopes
	if d.Scope != "" {
		if asked, err := scope.Parse(d.Scope); err == nil {
			scopes = Meet(asked, p.Scopes)
		}
	}
	return &store.Client{
		ID: d.ClientID, Name: d.ClientName, Type: store.TypeOAuth, Scopes: scopes,
		RedirectURIs: d.RedirectURIs, CreatedAt: time.Time{},
	}, nil
}
