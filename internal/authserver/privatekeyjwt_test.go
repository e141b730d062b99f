package authserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientassertion"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// keySource is a JWKSFetcher over sets held in memory, counting what it is
// asked: the server's use of the interface is what is tested here (package
// safefetch tests the fetching).
type keySource struct {
	mu              sync.Mutex
	sets            map[string]string // what the URL serves now
	cached          map[string]string // what a Get answers
	gets, refreshes int
	rejected        []string
}

func (k *keySource) Get(_ context.Context, uri string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.gets++
	if s, ok := k.cached[uri]; ok {
		return []byte(s), nil
	}
	s, ok := k.sets[uri]
	if !ok {
		return nil, errors.New("404")
	}
	k.cached[uri] = s
	return []byte(s), nil
}

func (k *keySource) Refresh(_ context.Context, uri string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refreshes++
	s, ok := k.sets[uri]
	if !ok {
		return nil, errors.New("404")
	}
	k.cached[uri] = s
	return []byte(s), nil
}

func (k *keySource) Reject(uri string, _ error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.cached, uri)
	k.rejected = append(k.rejected, uri)
}

type ecKey struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func newECKey(t *testing.T, kid string) ecKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return ecKey{k, kid}
}

func keySet(t *testing.T, keys ...ecKey) string {
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (k ecKey) assertion(t *testing.T, clientID, aud string) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, (&jose.SignerOptions{}).WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "exp": now.Add(time.Minute).Unix(), "jti": rand.Text()})
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

func assertionBody(a string) string {
	return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {clientassertion.Type}, "client_assertion": {a}}.Encode()
}

// TestJWKSURI: a client registered with a jwks_uri is judged with the set
// the fetcher returns, cached; an assertion naming a kid the cached set
// lacks makes the server ask for a refresh once, so a key the client added
// works at once; a set that does not parse is rejected back to the fetcher;
// without a fetcher such clients are refused, never a 500.
func TestJWKSURI(t *testing.T) {
	const uri = "https://keys.example.com/jwks.json"
	src := &keySource{sets: map[string]string{}, cached: map[string]string{}}
	f := newFixtureWith(t, issuer, func(c *authserver.Config) { c.JWKSFetcher = src })
	old, added := newECKey(t, "old"), newECKey(t, "added")
	src.sets[uri] = keySet(t, old)
	c, err := f.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "remote", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKSURI: uri}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Client.ID
	if w := f.post(authserver.TokenPath, "", assertionBody(old.assertion(t, id, issuer))); w.Code != http.StatusOK {
		t.Fatalf("old key: %d %s", w.Code, w.Body)
	}
	// The client publishes a second key; the cached set lacks it.
	src.sets[uri] = keySet(t, old, added)
	if w := f.post(authserver.TokenPath, "", assertionBody(added.assertion(t, id, issuer))); w.Code != http.StatusOK {
		t.Fatalf("added key: %d %s", w.Code, w.Body)
	}
	if src.refreshes != 1 {
		t.Errorf("%d refreshes for one unknown kid, want 1", src.refreshes)
	}
	// A kid no set has: one refresh, then invalid_client.
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(newECKey(t, "nobody").assertion(t, id, issuer))), http.StatusUnauthorized, "invalid_client")
	if src.refreshes != 2 {
		t.Errorf("%d refreshes, want 2", src.refreshes)
	}
	// A known kid with a bad signature asks for no refresh.
	forged := ecKey{newECKey(t, "x").priv, "old"}
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(forged.assertion(t, id, issuer))), http.StatusUnauthorized, "invalid_client")
	if src.refreshes != 2 {
		t.Errorf("a bad signature under a known kid refreshed the set (%d)", src.refreshes)
	}
	// The URL now serves something that is not a key set.
	src.sets[uri] = `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`
	src.cached = map[string]string{}
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(old.assertion(t, id, issuer))), http.StatusUnauthorized, "invalid_client")
	if len(src.rejected) == 0 || src.rejected[0] != uri {
		t.Errorf("an invalid set was not rejected back to the fetcher: %v", src.rejected)
	}

	// Without a fetcher, jwks_uri clients are refused (inline keys still work).
	g := newFixture(t, issuer)
	c2, err := g.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "remote", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKSURI: uri}})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, g.post(authserver.TokenPath, "", assertionBody(old.assertion(t, c2.Client.ID, issuer))), http.StatusUnauthorized, "invalid_client")
}

// TestAssertionOneMethod: an assertion is the request's only
// authentication, and its client must be registered for it.
func TestAssertionOneMethod(t *testing.T) {
	f := newFixture(t, issuer)
	k := newECKey(t, "k")
	c, err := f.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "signer", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKS: keySet(t, k)}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Client.ID
	secretID, secret := f.client(t, store.TypeOAuth, "mcp:read")
	a := k.assertion(t, id, issuer)
	wantError(t, f.post(authserver.TokenPath, basic(secretID, secret), assertionBody(a)), http.StatusBadRequest, "invalid_request")
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(a)+"&client_secret="+url.QueryEscape(secret)), http.StatusBadRequest, "invalid_request")
	wantError(t, f.post(authserver.TokenPath, "", "grant_type=client_credentials&client_assertion_type=urn%3Aother&client_assertion="+a), http.StatusUnauthorized, "invalid_client")
	wantError(t, f.post(authserver.TokenPath, "", "grant_type=client_credentials&client_assertion="+a), http.StatusUnauthorized, "invalid_client")
	wantError(t, f.post(authserver.TokenPath, "", "grant_type=client_credentials&client_assertion_type="+url.QueryEscape(clientassertion.Type)), http.StatusUnauthorized, "invalid_client")
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(a)+"&client_assertion_type=x"), http.StatusBadRequest, "invalid_request") // repeated
	// The assertion is still unused: it works once.
	if w := f.post(authserver.TokenPath, "", assertionBody(a)); w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(a)), http.StatusUnauthorized, "invalid_client")
}

// TestInlineKeysReplaced: the parsed key set is cached per client, yet a
// client whose keys are replaced is judged with the new set at once: the
// old key is refused, the new one accepted.
func TestInlineKeysReplaced(t *testing.T) {
	f := newFixture(t, issuer)
	old, next := newECKey(t, "k"), newECKey(t, "k")
	c, err := f.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "signer", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKS: keySet(t, old)}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Client.ID
	if w := f.post(authserver.TokenPath, "", assertionBody(old.assertion(t, id, issuer))); w.Code != http.StatusOK {
		t.Fatalf("old key: %d %s", w.Code, w.Body)
	}
	keys := store.ClientKeys{JWKS: keySet(t, next)}
	if _, err := f.clients.Update(context.Background(), admin.CLI, id, admin.UpdateParams{Keys: &keys}); err != nil {
		t.Fatal(err)
	}
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(old.assertion(t, id, issuer))), http.StatusUnauthorized, "invalid_client")
	if w := f.post(authserver.TokenPath, "", assertionBody(next.assertion(t, id, issuer))); w.Code != http.StatusOK {
		t.Fatalf("new key: %d %s", w.Code, w.Body)
	}
}
