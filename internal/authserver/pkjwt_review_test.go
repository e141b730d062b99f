package authserver_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/throttle"
)

// failingSource is a JWKSFetcher whose host fails as safefetch reports it
// (err), until fixed; then it serves set.
type failingSource struct {
	mu   sync.Mutex
	err  error
	set  string
	gets int
}

func (f *failingSource) Get(context.Context, string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if f.err != nil {
		return nil, f.err
	}
	return []byte(f.set), nil
}

func (f *failingSource) Refresh(ctx context.Context, uri string) ([]byte, error) {
	return f.Get(ctx, uri)
}

func (f *failingSource) Reject(string, error) {}

// TestJWKSURIFetchFailure: a jwks_uri the gateway cannot fetch (too many
// fetches under way, host unreachable, timeout, a bad answer) is the
// gateway's trouble of the moment, not a wrong credential: 503
// temporarily_unavailable with a Retry-After (safefetch-callers rule 5), and
// not counted as a failed authentication, so that a client whose key host
// hiccups is not locked out by the throttle once it is back.
func TestJWKSURIFetchFailure(t *testing.T) {
	const uri = "https://keys.example.com/jwks.json"
	k := newECKey(t, "k")
	src := &failingSource{set: keySet(t, k)}
	th := throttle.New(throttle.Config{AddressFailures: 2, ClientFailures: 2, Window: time.Hour})
	f := newFixtureWith(t, issuer, func(c *authserver.Config) { c.JWKSFetcher = src; c.Throttle = th })
	c, err := f.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "remote", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKSURI: uri}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Client.ID
	for _, fail := range []error{
		&safefetch.Error{Reason: safefetch.ReasonBusy},
		&safefetch.Error{Reason: safefetch.ReasonUnreachable, Detail: "dial tcp 203.0.113.9:443"},
		&safefetch.Error{Reason: safefetch.ReasonTimeout},
		&safefetch.Error{Reason: safefetch.ReasonStatus, Detail: "status 502"},
	} {
		src.mu.Lock()
		src.err = fail
		src.mu.Unlock()
		w := f.post(authserver.TokenPath, "", assertionBody(k.assertion(t, id, issuer)))
		wantError(t, w, http.StatusServiceUnavailable, "temporarily_unavailable")
		if w.Header().Get("Retry-After") == "" {
			t.Errorf("%v: no Retry-After", fail)
		}
	}
	src.mu.Lock()
	src.err = nil
	src.mu.Unlock()
	if w := f.post(authserver.TokenPath, "", assertionBody(k.assertion(t, id, issuer))); w.Code != http.StatusOK {
		t.Fatalf("the key host is back, yet: %d %s", w.Code, w.Body)
	}
}

// TestJWKSURIOwnHost: a jwks_uri on the gateway's own host (and port) is
// refused without being fetched (safefetch-callers rule 4): the gateway's own
// routes (its JWKS, the APIs it fronts) are no place for a client's keys,
// and a fetch of itself would spend its own fetch slots.
func TestJWKSURIOwnHost(t *testing.T) {
	k := newECKey(t, "k")
	for _, uri := range []string{
		issuer + "/.well-known/jwks.json",
		"https://AUTH.example.com/keys.json",
		"https://auth.example.com:443/keys.json",
	} {
		src := &failingSource{set: keySet(t, k)}
		f := newFixtureWith(t, issuer, func(c *authserver.Config) { c.JWKSFetcher = src })
		c, err := f.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "self", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKSURI: uri}})
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, f.post(authserver.TokenPath, "", assertionBody(k.assertion(t, c.Client.ID, issuer))), http.StatusUnauthorized, "invalid_client")
		if src.gets != 0 {
			t.Errorf("%s: the gateway fetched its own host %d times", uri, src.gets)
		}
	}
}

// TestAssertionFailuresThrottled: a refused assertion counts as a failed
// authentication, as a wrong secret does: past the budget, even a good
// assertion from that address waits (429), and a secret client's signed
// attempts count too.
func TestAssertionFailuresThrottled(t *testing.T) {
	th := throttle.New(throttle.Config{AddressFailures: 3, ClientFailures: 100, Window: time.Hour})
	f := newFixtureWith(t, issuer, func(c *authserver.Config) { c.Throttle = th })
	k := newECKey(t, "k")
	c, err := f.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "signer", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKS: keySet(t, k)}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Client.ID
	forged := ecKey{newECKey(t, "x").priv, "k"}
	secretID, _ := f.client(t, store.TypeOAuth, "mcp:read")
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(forged.assertion(t, id, issuer))), http.StatusUnauthorized, "invalid_client")
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(k.assertion(t, id, "https://elsewhere.example"))), http.StatusUnauthorized, "invalid_client")
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(k.assertion(t, secretID, issuer))), http.StatusUnauthorized, "invalid_client")
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(k.assertion(t, id, issuer))), http.StatusTooManyRequests, "temporarily_unavailable")
}
