package caddymodule

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientassertion"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// BenchmarkTokenEndpointPrivateKeyJWT: a client_credentials request
// authenticated by a private_key_jwt assertion (ES256, inline JWKS): form
// parsing, the assertion's parse, the key set's parse, the signature, the
// replay table's insert in the store (SQLite here) and the token's signing.
// Assertions are signed before the timer starts (each is usable once).
func BenchmarkTokenEndpointPrivateKeyJWT(b *testing.B) {
	_, a, _ := benchHandler(b, 0)
	o := &OAuth{server: a.authServer(a.logger)}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: "bench"}}})
	c, err := a.Service().Create(context.Background(), admin.CLI, admin.CreateParams{Name: "bench pkjwt", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKS: string(set)}})
	if err != nil {
		b.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", "bench"))
	if err != nil {
		b.Fatal(err)
	}
	body := func() string {
		now := time.Now()
		payload, _ := json.Marshal(map[string]any{"iss": c.Client.ID, "sub": c.Client.ID, "aud": a.issuerURL.String(), "exp": now.Add(4 * time.Minute).Unix(), "jti": rand.Text()})
		obj, err := signer.Sign(payload)
		if err != nil {
			b.Fatal(err)
		}
		s, _ := obj.CompactSerialize()
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {clientassertion.Type}, "client_assertion": {s}}.Encode()
	}
	serve := func(form string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, authserver.TokenPath, strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		_ = o.ServeHTTP(w, r, nopHandler{})
		return w
	}
	for i := 0; i < 3; i++ {
		if w := serve(body()); w.Code != 200 {
			b.Fatalf("warm-up: %d %s", w.Code, w.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	forms := make([]string, b.N)
	for i := range forms {
		forms[i] = body()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if w := serve(forms[i]); w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
