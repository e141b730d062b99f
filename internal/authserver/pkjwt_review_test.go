package authserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
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

// TestAssertionMalleatedReplay: an ECDSA signature (r, s) has a twin (r,
// n-s) that verifies too, so an eavesdropper can make a second, different
// string of a used assertion. Replay detection goes by the jti, not by the
// bytes: the twin is refused. A DER-encoded signature (not JWS's fixed-size
// r||s, RFC 7518 §3.4) is refused.
func TestAssertionMalleatedReplay(t *testing.T) {
	f := newFixture(t, issuer)
	k := newECKey(t, "k")
	c, err := f.clients.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "signer", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKS: keySet(t, k)}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Client.ID
	a := k.assertion(t, id, issuer)
	dot := strings.LastIndexByte(a, '.')
	sig, err := base64.RawURLEncoding.DecodeString(a[dot+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature: %v (%d bytes)", err, len(sig))
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	twin := make([]byte, 64)
	r.FillBytes(twin[:32])
	new(big.Int).Sub(elliptic.P256().Params().N, s).FillBytes(twin[32:])
	malleated := a[:dot+1] + base64.RawURLEncoding.EncodeToString(twin)
	if malleated == a {
		t.Fatal("the twin is the same string")
	}
	// The twin verifies: it is accepted when it comes first.
	b := k.assertion(t, id, issuer)
	bdot := strings.LastIndexByte(b, '.')
	bsig, _ := base64.RawURLEncoding.DecodeString(b[bdot+1:])
	bt := make([]byte, 64)
	copy(bt, bsig[:32])
	new(big.Int).Sub(elliptic.P256().Params().N, new(big.Int).SetBytes(bsig[32:])).FillBytes(bt[32:])
	if w := f.post(authserver.TokenPath, "", assertionBody(b[:bdot+1]+base64.RawURLEncoding.EncodeToString(bt))); w.Code != http.StatusOK {
		t.Fatalf("a twin signature, first use: %d %s", w.Code, w.Body)
	}
	if w := f.post(authserver.TokenPath, "", assertionBody(a)); w.Code != http.StatusOK {
		t.Fatalf("first use: %d %s", w.Code, w.Body)
	}
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(malleated)), http.StatusUnauthorized, "invalid_client")

	// DER instead of r||s.
	d := k.assertion(t, id, issuer)
	ddot := strings.LastIndexByte(d, '.')
	h := sha256.Sum256([]byte(d[:ddot]))
	der, err := ecdsa.SignASN1(rand.Reader, k.priv, h[:])
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, f.post(authserver.TokenPath, "", assertionBody(d[:ddot+1]+base64.RawURLEncoding.EncodeToString(der))), http.StatusUnauthorized, "invalid_client")
}
