package admin

import (
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// ClientView is a client as the CLI and the admin API show it. It never holds
// a secret, only a hint.
type ClientView struct {
	ClientID   string     `json:"client_id"`
	Name       string     `json:"name"`
	Type       store.Type `json:"type"`
	Scopes     []string   `json:"scopes"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	SecretHint string     `json:"secret_hint"`
}

// CreatedView is a new client with its credentials, shown exactly once.
type CreatedView struct {
	ClientView
	ClientSecret string `json:"client_secret,omitempty"`
	APIKey       string `json:"api_key,omitempty"`
}

// View renders c with its status at now.
func View(c *store.Client, now time.Time) ClientView {
	return ClientView{
		ClientID:   c.ID,
		Name:       c.Name,
		Type:       c.Type,
		Scopes:     c.Scopes.List(),
		Status:     string(c.Status(now)),
		CreatedAt:  c.CreatedAt,
		ExpiresAt:  c.ExpiresAt,
		RevokedAt:  c.RevokedAt,
		LastUsedAt: c.LastUsedAt,
		SecretHint: c.SecretHint,
	}
}

// ViewCreated renders a new client with its secret in the field its type uses.
func ViewCreated(c *Created, now time.Time) CreatedView {
	v := CreatedView{ClientView: View(c.Client, now)}
	if c.Client.Type == store.TypeAPIKey {
		v.APIKey = c.Secret
	} else {
		v.ClientSecret = c.Secret
	}
	return v
}
