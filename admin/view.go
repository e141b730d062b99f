package admin

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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
	// RateLimit is the client's own rate limit; null for none.
	RateLimit *RateLimitView `json:"rate_limit"`
	// TokenEndpointAuthMethod is how an OAuth client authenticates (RFC 7591
	// §2): client_secret_basic, client_secret_post or private_key_jwt.
	// Absent for an API key.
	TokenEndpointAuthMethod store.AuthMethod `json:"token_endpoint_auth_method,omitempty"`
	// JWKS and JWKSURI are a private_key_jwt client's public keys: the JWK
	// Set as registered, or where it is fetched.
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI string          `json:"jwks_uri,omitempty"`
	// RedirectURIs are where the authorization-code flow may send the
	// client's codes; [] for none.
	RedirectURIs []string `json:"redirect_uris"`
}

// RateLimitView is a rate limit as the admin API reads and writes it:
// {"requests": 100, "per": "1s", "burst": 200}.
type RateLimitView struct {
	Requests int    `json:"requests"`
	Per      string `json:"per"`
	Burst    int    `json:"burst,omitempty"`
}

// ViewRateLimit renders l; nil for none.
func ViewRateLimit(l *store.RateLimit) *RateLimitView {
	if l == nil {
		return nil
	}
	return &RateLimitView{Requests: l.Requests, Per: FormatPeriod(l.Per), Burst: l.Burst}
}

// FormatPeriod writes a rate limit period as the API does: "1s", "1m" or "1h".
func FormatPeriod(d time.Duration) string {
	switch d {
	case time.Second:
		return "1s"
	case time.Minute:
		return "1m"
	case time.Hour:
		return "1h"
	}
	return d.String()
}

// ParsePeriod reads a rate limit period: "1s", "1m" or "1h" (also "s",
// "m", "h", "second", "minute", "hour").
func ParsePeriod(s string) (time.Duration, bool) {
	switch s {
	case "1s", "s", "sec", "second":
		return time.Second, true
	case "1m", "m", "min", "minute":
		return time.Minute, true
	case "1h", "h", "hour":
		return time.Hour, true
	}
	return 0, false
}

// CreatedView is a new client with its credentials, shown exactly once.
type CreatedView struct {
	ClientView
	ClientSecret string `json:"client_secret,omitempty"`
	APIKey       string `json:"api_key,omitempty"`
}

// View renders c with its status at now.
func View(c *store.Client, now time.Time) ClientView {
	v := ClientView{
		ClientID:     c.ID,
		Name:         c.Name,
		Type:         c.Type,
		Scopes:       c.Scopes.List(),
		Status:       string(c.Status(now)),
		CreatedAt:    c.CreatedAt,
		ExpiresAt:    c.ExpiresAt,
		RevokedAt:    c.RevokedAt,
		LastUsedAt:   c.LastUsedAt,
		SecretHint:   c.SecretHint,
		RateLimit:    ViewRateLimit(c.RateLimit),
		RedirectURIs: append([]string{}, c.RedirectURIs...),
	}
	if c.Type == store.TypeOAuth {
		v.TokenEndpointAuthMethod = c.AuthMethod.OrDefault()
	}
	if c.Keys.JWKS != "" {
		v.JWKS = json.RawMessage(c.Keys.JWKS)
	}
	v.JWKSURI = c.Keys.JWKSURI
	return v
}

// ViewCreated renders a new client with its secret in the field its type uses.
func ViewCreated(c *Created, now time.Time) CreatedView {
	v := CreatedView{ClientView: View(c.Client, now)}
	switch {
	case c.Client.AuthMethod == store.AuthPrivateKeyJWT:
		// No secret: the client signs with its own private key.
	case c.Client.Type == store.TypeAPIKey:
		v.APIKey = c.Secret
	default:
		v.ClientSecret = c.Secret
	}
	return v
}

// ParseRate reads a rate as the CLI and the Caddyfile write it, "100/s",
// "100/1m" or "5000/h", into a rate limit of burst (0: the requests).
func ParseRate(s string, burst int) (*store.RateLimit, error) {
	n, per, ok := strings.Cut(s, "/")
	requests, err := strconv.Atoi(n)
	period, known := ParsePeriod(per)
	if !ok || err != nil || !known {
		return nil, fmt.Errorf("rate %q: want requests/period, e.g. 100/s, 600/m or 5000/h", s)
	}
	return CheckRateLimit(&store.RateLimit{Requests: requests, Per: period, Burst: burst})
}
