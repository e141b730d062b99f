package authserver

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/internal/backend/backendtest"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/keyring"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// TestPersonTokenNoSigningKey: the tokens of a person's grant (the
// authorization-code and refresh grants) with no active signing key (its key
// revoked, no successor opened here yet) are refused as the client
// credentials grant's are: 503 temporarily_unavailable, never a 500, and
// never invalid_client for a client with an expiry.
func TestPersonTokenNoSigningKey(t *testing.T) {
	const oldSecret, newSecret = "q0mJ3sV9yq8m3Xw1H4nTQm6u9q2L5d8rFh7bKc1sZx4=", "Zt4P8wq1Lr6yN2vC9xK3mB7hJ5gF0dS4aQ1eW8uI6oU="
	st := backendtest.Backend(t).Store
	off := keyring.Policy{Lead: time.Hour}
	o := keyring.Options{Secret: oldSecret, Algorithm: token.ES256, Policy: off}
	ring, err := keyring.Open(t.Context(), st, o)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(ring.Keys, "https://auth.example.com", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	live := keyring.NewLive(st, o, ring, "https://auth.example.com", time.Hour, v, nil, zaptest.NewLogger(t))
	t.Cleanup(live.Close)
	if _, err := keyring.Open(t.Context(), st, keyring.Options{Secret: newSecret, Previous: []string{oldSecret}, Algorithm: token.ES256, Policy: off}); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.Rotate(t.Context(), st, keyring.Options{Secret: newSecret, Algorithm: token.ES256, Policy: off}, true); err != nil {
		t.Fatal(err)
	}
	_ = live.Reload(t.Context()) // fails: the old secret no longer opens the keyring
	if live.Signing(time.Now()) != nil {
		t.Fatal("this instance still signs with a revoked key: the test would prove nothing")
	}
	u, _ := url.Parse("https://auth.example.com")
	s := New(Config{Issuer: u, Audience: "https://auth.example.com", Signer: live, Verifier: v, Logger: zaptest.NewLogger(t)})
	expires := time.Now().Add(time.Hour)
	for _, c := range []*store.Client{{ID: "blnk_cid_a"}, {ID: "blnk_cid_b", ExpiresAt: &expires}} {
		_, e := s.mintForPerson(clientcache.EntryOf(c), "person@example.com", scope.MustParse("mcp:read"), "", time.Now())
		if e == nil || e.Status != http.StatusServiceUnavailable || e.Code != "temporarily_unavailable" {
			t.Errorf("client %s (expires %v): %+v, want 503 temporarily_unavailable", c.ID, c.ExpiresAt, e)
		}
	}
}
