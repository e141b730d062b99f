package store_test

import (
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestKeyClientHasNoSecret: one method per client. A private_key_jwt
// client's secret never matches, not even the one its hash was made of, nor
// a previous one within its grace period; the same client with a secret
// method matches both (so the check is the method's).
func TestKeyClientHasNoSecret(t *testing.T) {
	now := time.Now()
	secret, previous := credential.NewSecret(), credential.NewSecret()
	prevHash := credential.HashOf(previous)
	until := now.Add(time.Hour)
	c := store.Client{
		Type: store.TypeOAuth, SecretHash: credential.HashOf(secret),
		PreviousSecretHash: &prevHash, PreviousSecretExpiresAt: &until,
	}
	for _, m := range []store.AuthMethod{"", store.AuthSecretBasic, store.AuthSecretPost} {
		c.AuthMethod = m
		if !c.SecretMatches(secret, now) || !c.SecretMatches(previous, now) {
			t.Errorf("method %q: the secrets do not match", m)
		}
	}
	c.AuthMethod, c.Keys = store.AuthPrivateKeyJWT, store.ClientKeys{JWKSURI: "https://keys.example.com/"}
	for what, s := range map[string]string{"current": secret, "previous": previous} {
		if ok, until := c.SecretValidity(s, now); ok || until != nil {
			t.Errorf("a private_key_jwt client's %s secret matched", what)
		}
	}
}
