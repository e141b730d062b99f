package caddymodule

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientassertion"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// jwtSigner is a client's private key, signing assertions with go-jose (a
// library no one here wrote).
type jwtSigner struct {
	key crypto.Signer
	alg jose.SignatureAlgorithm
	kid string
}

func newJWTSigner(t *testing.T, kid string) *jwtSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &jwtSigner{key: k, alg: jose.ES256, kid: kid}
}

// jwks is the public JWK Set of signers, as a client registers it.
func jwks(t *testing.T, signers ...*jwtSigner) string {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, s := range signers {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: s.key.Public(), KeyID: s.kid, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertionClaims are RFC 7523 §3 claims of clientID for aud, valid for a
// minute, with a fresh jti.
func assertionClaims(clientID, aud string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": clientID, "sub": clientID, "aud": aud,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": rand.Text(),
	}
}

func (s *jwtSigner) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if s.kid != "" {
		opts = opts.WithHeader("kid", s.kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// createKeyClient makes a private_key_jwt client with inline keys.
func (g *testGateway) createKeyClient(name string, scopes []string, set string) *admin.Created {
	g.t.Helper()
	c, err := g.svc.Create(context.Background(), admin.CLI, admin.CreateParams{
		Name: name, Scopes: scopes, AuthMethod: store.AuthPrivateKeyJWT, Keys: store.ClientKeys{JWKS: set},
	})
	if err != nil {
		g.t.Fatalf("creating a private_key_jwt client: %v", err)
	}
	if c.Secret != "" {
		g.t.Fatalf("a private_key_jwt client was given a secret")
	}
	return c
}

// assertionForm is a client_credentials request authenticated by assertion.
func assertionForm(assertion string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {clientassertion.Type},
		"client_assertion":      {assertion},
	}
}

// ccConfig is golang.org/x/oauth2's client credentials flow carrying an
// assertion in EndpointParams (no secret: x/oauth2 then sends client_id in
// the body, which the gateway checks against iss).
func ccConfig(tokenURL, clientID, assertion string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:  clientID,
		TokenURL:  tokenURL,
		AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{
			"client_assertion_type": {clientassertion.Type},
			"client_assertion":      {assertion},
		},
	}
}

// wantInvalidClient fails unless err is x/oauth2's RetrieveError for 401
// invalid_client.
func wantInvalidClient(t *testing.T, what string, err error) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != http.StatusUnauthorized || re.ErrorCode != "invalid_client" {
		t.Errorf("%s: %v, want 401 invalid_client", what, err)
	}
}

// TestPrivateKeyJWT: a client without a shared secret gets tokens through
// real Caddy on both stores with golang.org/x/oauth2's client credentials
// flow and an assertion go-jose signed (RFC 7523 private_key_jwt); the token
// works at blnk_auth; the assertion cannot be used twice, neither here nor
// at a second instance (its own process) on the same database; every
// malformed or misdirected assertion is refused with 401 invalid_client;
// the introspection and revocation endpoints accept the same
// authentication; a revoked client's fresh assertion is refused.
func TestPrivateKeyJWT(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		tokenURL := g.authURL + "/oauth/token"
		signer := newJWTSigner(t, "k1")
		c := g.createKeyClient("signer", []string{"mcp:read", "oauth:introspect"}, jwks(t, signer))
		id := c.Client.ID
		ctx := context.Background()

		// x/oauth2, aud the issuer.
		assertion := signer.sign(t, assertionClaims(id, g.authURL))
		cfg := ccConfig(tokenURL, id, assertion)
		tok, err := cfg.Token(ctx)
		if err != nil {
			t.Fatalf("x/oauth2 with a private_key_jwt assertion: %v", err)
		}
		if r := g.call("/mcp", bearer(tok.AccessToken)...); r.status != http.StatusOK {
			t.Fatalf("API call with the token: %d %s", r.status, r.raw)
		}
		if got := g.upstream.lastHeader().Get("X-Client-Id"); got != id {
			t.Errorf("upstream saw client %q, want %q", got, id)
		}

		// The same assertion again: a replay.
		_, err = cfg.Token(ctx)
		wantInvalidClient(t, "the same assertion again", err)

		// aud the token endpoint works too.
		if r := g.postToken(assertionForm(signer.sign(t, assertionClaims(id, tokenURL))), "", ""); r.status != http.StatusOK {
			t.Errorf("aud = token endpoint: %d %s", r.status, r.raw)
		}

		// A second instance on the same database: an assertion used here is
		// a replay there, and a fresh one works there.
		second := startInstance(t, g.dsn, g.authURL)
		used := signer.sign(t, assertionClaims(id, g.authURL))
		if r := g.postToken(assertionForm(used), "", ""); r.status != http.StatusOK {
			t.Fatalf("first use: %d %s", r.status, r.raw)
		}
		_, err = ccConfig(second.authURL+"/oauth/token", id, used).Token(ctx)
		wantInvalidClient(t, "an assertion used at the first instance, at the second", err)
		if _, err := ccConfig(second.authURL+"/oauth/token", id, signer.sign(t, assertionClaims(id, g.authURL))).Token(ctx); err != nil {
			t.Errorf("a fresh assertion at the second instance: %v", err)
		}

		// Refusals, each with a fresh jti.
		other := newJWTSigner(t, "k1") // another key under the client's kid
		otherClient := g.createKeyClient("other", []string{"mcp:read"}, jwks(t, other))
		secretClient := g.create("secret", store.TypeOAuth, []string{"mcp:read"}, nil)
		with := func(k string, v any) map[string]any {
			c := assertionClaims(id, g.authURL)
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
			return c
		}
		b64 := base64.RawURLEncoding.EncodeToString
		noneClaims, _ := json.Marshal(assertionClaims(id, g.authURL))
		hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("s", 32))}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		hsObj, _ := hs.Sign(noneClaims)
		hsJWT, _ := hsObj.CompactSerialize()
		_, edKey, _ := ed25519.GenerateKey(rand.Reader)
		for _, tc := range []struct {
			name      string
			assertion string
			clientID  string // the form's client_id, if any
		}{
			{"aud another server", signer.sign(t, with("aud", "https://elsewhere.example.com")), ""},
			{"aud the issuer and another", signer.sign(t, with("aud", []string{g.authURL, "https://elsewhere.example.com"})), ""},
			{"iss another client", signer.sign(t, with("iss", otherClient.Client.ID)), ""},
			{"sub another client", signer.sign(t, with("sub", otherClient.Client.ID)), ""},
			{"expired", signer.sign(t, with("exp", time.Now().Add(-2*time.Minute).Unix())), ""},
			{"valid for an hour", signer.sign(t, with("exp", time.Now().Add(time.Hour).Unix())), ""},
			{"no exp", signer.sign(t, with("exp", nil)), ""},
			{"no jti", signer.sign(t, with("jti", nil)), ""},
			{"alg none", b64([]byte(`{"alg":"none","kid":"k1"}`)) + "." + b64(noneClaims) + ".", ""},
			{"HS256", hsJWT, ""},
			{"unknown kid", (&jwtSigner{signer.key, jose.ES256, "k2"}).sign(t, assertionClaims(id, g.authURL)), ""},
			{"an Ed25519 key signing as the EC kid", (&jwtSigner{edKey, jose.EdDSA, "k1"}).sign(t, assertionClaims(id, g.authURL)), ""},
			{"another client's key", other.sign(t, assertionClaims(id, g.authURL)), ""},
			{"client_id not iss", signer.sign(t, assertionClaims(id, g.authURL)), otherClient.Client.ID},
			{"a secret client's assertion", signer.sign(t, assertionClaims(secretClient.Client.ID, g.authURL)), ""},
			{"garbage", "not.a.jwt", ""},
		} {
			form := assertionForm(tc.assertion)
			if tc.clientID != "" {
				form.Set("client_id", tc.clientID)
			}
			r := g.postToken(form, "", "")
			if r.status != http.StatusUnauthorized || r.body["error"] != "invalid_client" {
				t.Errorf("%s: %d %s, want 401 invalid_client", tc.name, r.status, r.raw)
			}
		}
		// One method per request: an assertion with Basic or a secret.
		r := g.postToken(assertionForm(signer.sign(t, assertionClaims(id, g.authURL))), secretClient.Client.ID, secretClient.Secret)
		if r.status != http.StatusBadRequest || r.body["error"] != "invalid_request" {
			t.Errorf("assertion with Basic: %d %s, want 400 invalid_request", r.status, r.raw)
		}
		// One method per client: a private_key_jwt client has no secret
		// (the store keeps a hash of one nobody was given).
		if r := g.postToken(url.Values{"grant_type": {"client_credentials"}}, id, "blnk_cs_"+strings.Repeat("A", 43)); r.status != http.StatusUnauthorized {
			t.Errorf("a private_key_jwt client with a made-up secret: %d %s", r.status, r.raw)
		}

		// Introspection and revocation authenticate the same way.
		tok2 := g.postToken(assertionForm(signer.sign(t, assertionClaims(id, g.authURL))), "", "").body["access_token"].(string)
		form := url.Values{"token": {tok2}, "client_assertion_type": {clientassertion.Type}, "client_assertion": {signer.sign(t, assertionClaims(id, g.authURL))}}
		if r := g.postForm("/oauth/introspect", form, "", ""); r.status != http.StatusOK || r.body["active"] != true || r.body["client_id"] != id {
			t.Errorf("introspection by assertion: %d %s", r.status, r.raw)
		}
		form.Set("client_assertion", signer.sign(t, assertionClaims(id, g.authURL)))
		if r := g.postForm("/oauth/revoke", form, "", ""); r.status != http.StatusOK {
			t.Errorf("revocation by assertion: %d %s", r.status, r.raw)
		}
		eventually(t, 5*time.Second, "the revoked token refused", func() bool {
			return g.call("/mcp", bearer(tok2)...).status == http.StatusUnauthorized
		})

		// A revoked client's fresh, well-signed assertion is refused, here
		// and at the second instance.
		if _, err := g.svc.Revoke(ctx, admin.CLI, id); err != nil {
			t.Fatal(err)
		}
		// (The change feed brings the revocation: at once on PostgreSQL, at
		// the next poll on SQLite.)
		eventually(t, 5*time.Second, "the gateway refuses the revoked client", func() bool {
			r := g.postToken(assertionForm(signer.sign(t, assertionClaims(id, g.authURL))), "", "")
			if r.status == http.StatusOK {
				return false
			}
			if r.status != http.StatusUnauthorized || r.body["error"] != "invalid_client" {
				t.Errorf("revoked client: %d %s, want 401 invalid_client", r.status, r.raw)
			}
			return true
		})
		eventually(t, 5*time.Second, "the second instance refuses the revoked client", func() bool {
			_, err := ccConfig(second.authURL+"/oauth/token", id, signer.sign(t, assertionClaims(id, g.authURL))).Token(ctx)
			return err != nil
		})
	})
}

// TestPrivateKeyJWTMetadata: the authorization server metadata offers
// private_key_jwt at every endpoint that authenticates clients, with the
// asymmetric algorithms only.
func TestPrivateKeyJWTMetadata(t *testing.T) {
	g := startGateway(t, gatewayOptions{store: kindSQLite})
	resp, err := http.Get(g.authURL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []string{"token_endpoint", "introspection_endpoint", "revocation_endpoint"} {
		methods, _ := md[ep+"_auth_methods_supported"].([]any)
		if !slices.Contains(methods, any("private_key_jwt")) {
			t.Errorf("%s_auth_methods_supported = %v, want private_key_jwt in it", ep, methods)
		}
		algs, _ := md[ep+"_auth_signing_alg_values_supported"].([]any)
		if len(algs) == 0 || !slices.Contains(algs, any("ES256")) || !slices.Contains(algs, any("EdDSA")) || !slices.Contains(algs, any("RS256")) {
			t.Errorf("%s_auth_signing_alg_values_supported = %v", ep, algs)
		}
		for _, a := range algs {
			if s := a.(string); s == "none" || strings.HasPrefix(s, "HS") {
				t.Errorf("%s_auth_signing_alg_values_supported lists %s", ep, s)
			}
		}
	}
}

// TestMCPTypeScriptSDKPrivateKeyJWT: the official MCP TypeScript SDK's
// PrivateKeyJwtProvider (@modelcontextprotocol/sdk/client/auth-extensions.js,
// which signs with the npm jose package) connects through the gateway to an
// MCP server, on both stores: discovery, a token by private_key_jwt (no
// Basic header, no secret), tools/list and tools/call. The SDK's assertion
// carries no kid (the client's one key is used), aud the issuer from the
// metadata and exp 300 s ahead.
func TestMCPTypeScriptSDKPrivateKeyJWT(t *testing.T) {
	requireMCPTS(t)
	forEachStore(t, func(t *testing.T, kind string) {
		_, upSrv, echoes, _ := startSDKServer(t, "blnk-ts-pkjwt")
		upHost := strings.TrimPrefix(upSrv.URL, "http://")
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: sdkRoutes(upHost)})
		endpoint := g.apiURL + "/mcp"

		for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA} {
			t.Run(string(alg), func(t *testing.T) {
				var priv crypto.Signer
				if alg == jose.EdDSA {
					_, priv, _ = ed25519.GenerateKey(rand.Reader)
				} else {
					priv, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				}
				signer := &jwtSigner{key: priv, alg: alg, kid: "ts-" + string(alg)}
				c := g.createKeyClient("ts "+string(alg), []string{"mcp:read", "mcp:write"}, jwks(t, signer))
				privJWK, err := json.Marshal(jose.JSONWebKey{Key: priv, KeyID: signer.kid})
				if err != nil {
					t.Fatal(err)
				}
				before := echoes.Load()
				res, code := runMCPTSEnv(t, "pkjwt", "MCP_ENDPOINT="+endpoint, "MCP_CLIENT_ID="+c.Client.ID,
					"MCP_PRIVATE_KEY_JWK="+string(privJWK), "MCP_ALG="+string(alg), "MCP_ISSUER="+g.authURL)
				if code != tsExitOK || res.Error != "" || res.CallError != "" {
					t.Fatalf("client.mjs pkjwt: exit %d, %+v", code, res)
				}
				if res.Echo == nil || res.Echo.IsError || !strings.Contains(res.Echo.Text, "hello from pkjwt") || echoes.Load() != before+1 {
					t.Errorf("echo: %+v", res.Echo)
				}
				tokens := 0
				for _, r := range res.Requests {
					if r.URL != g.authURL+"/oauth/token" {
						continue
					}
					tokens++
					t.Logf("token request: Authorization %q, form %v", r.AuthScheme, r.Form)
					if r.Status != http.StatusOK || r.AuthScheme != "" || r.Form["client_secret"] != "" ||
						r.Form["client_assertion_type"] != clientassertion.Type || r.Form["client_assertion"] == "" {
						t.Errorf("token request %+v, want private_key_jwt in the body and no other credential", r)
					}
				}
				if tokens == 0 {
					t.Errorf("no token request: %+v", res.Requests)
				}
			})
		}
	})
}

// TestDashboardPrivateKeyJWT: in a browser, through real Caddy on both
// stores, the create form makes a client authenticating with "Private key
// JWT": a pasted JWKS; the credentials panel shows the client ID and how to
// sign (the token endpoint, the issuer as aud, the algorithms) and no
// secret, and closes without asking (nothing to lose); the client then gets
// a token with x/oauth2 and an assertion signed by its key, used through
// blnk_auth. A JWKS URL that is not https is refused in the form, next to
// the field.
func TestDashboardPrivateKeyJWT(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: dashboardRoutes})
		p := openPage(t, g.apiURL+"/admin/", 1440, 900)
		p.open()
		p.signIn("master_key", testMasterKey, "")
		signer := newJWTSigner(t, "dash")

		// A JWKS URL over http: refused, said next to the field.
		p.click("#create-open")
		p.wait(`document.getElementById("create-dialog").open`, "the create dialog")
		p.fill("#create-name", "bad url")
		p.click(`#create-scope-choices input[value="mcp:read"]`)
		p.click(`input[name="create-auth"][value="private_key_jwt"]`)
		p.wait(visible("#create-jwks-uri"), "the JWKS URL field")
		p.fill("#create-jwks-uri", "http://keys.example.com/jwks.json")
		p.click("#create-submit")
		p.wait(`document.getElementById("create-auth-error").textContent.includes("https")`, "the jwks_uri error next to the field")

		// Paste a JWKS instead.
		p.run("rename", chromedp.Evaluate[chromedp.Void](`document.getElementById("create-name").value = "signing service"`))
		p.click(`input[name="create-keys-source"][value="paste"]`)
		p.wait(visible("#create-jwks")+` && !`+visible("#create-jwks-uri"), "the JWKS text area")
		p.run("paste the JWKS", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById("create-jwks").value = %q`, jwks(t, signer))))
		p.click("#create-submit")
		p.wait(`document.getElementById("secret-dialog").open`, "the credentials panel")
		p.readmeShot("dashboard-private-key-jwt")
		id := p.text("#secret-client-id")
		if eval[bool](p, visible("#secret-value")) || eval[bool](p, visible("#secret-warning")) || p.text("#secret-value") != "" {
			t.Fatal("the panel of a private_key_jwt client shows a secret (or the secret warning)")
		}
		if got := p.text("#sign-token-endpoint"); got != g.authURL+"/oauth/token" {
			t.Errorf("panel token endpoint %q, want %q", got, g.authURL+"/oauth/token")
		}
		if got := p.text("#sign-issuer"); got != g.authURL {
			t.Errorf("panel issuer %q, want %q", got, g.authURL)
		}
		if got := p.text("#sign-algs"); !strings.Contains(got, "ES256") || !strings.Contains(got, "EdDSA") || strings.Contains(got, "HS256") {
			t.Errorf("panel algorithms %q", got)
		}
		if howto := p.text("#sign-howto"); !strings.Contains(howto, "client ID") || !strings.Contains(howto, clientassertion.Type) {
			t.Errorf("panel instructions %q", howto)
		}
		p.click("#secret-done")
		p.wait(`!document.getElementById("secret-dialog").open`, "the panel closed at once")
		p.wait(fmt.Sprintf(`!!document.querySelector('#keys-body tr[data-client-id=%q]')`, id), "the new row")
		if txt := eval[string](p, fmt.Sprintf(`document.querySelector('#keys-body tr[data-client-id=%q]').textContent`, id)); !strings.Contains(txt, "Private key JWT") {
			t.Errorf("the row says %q, want Private key JWT in place of a secret hint", txt)
		}

		c, err := g.store.GetClient(t.Context(), id)
		if err != nil || c.AuthMethod != store.AuthPrivateKeyJWT || c.Keys.JWKS == "" {
			t.Fatalf("stored client %+v %v", c, err)
		}
		tok, err := ccConfig(g.authURL+"/oauth/token", id, signer.sign(t, assertionClaims(id, g.authURL))).Token(context.Background())
		if err != nil {
			t.Fatalf("token for the client the dashboard made: %v", err)
		}
		if r := g.call("/mcp", bearer(tok.AccessToken)...); r.status != http.StatusOK {
			t.Fatalf("API call: %d %s", r.status, r.raw)
		}

		// Its details: no Roll secret button, the keys listed.
		p.click(fmt.Sprintf(`#keys-body button[data-client-id=%q]`, id))
		p.wait(`document.getElementById("details-dialog").open`, "the details panel")
		if eval[bool](p, visible("#details-roll")) {
			t.Error("the details panel offers to roll the secret of a private_key_jwt client")
		}
		if txt := p.text("#details-fields"); !strings.Contains(txt, "dash") {
			t.Errorf("details %q do not list the key", txt)
		}
	})
}

// keyHost is an https server publishing a client's JWK Set, counting its
// fetches.
type keyHost struct {
	srv     *httptest.Server
	mu      sync.Mutex
	set     string
	fetches int
}

func startKeyHost(t *testing.T, set string) *keyHost {
	h := &keyHost{set: set}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.fetches++
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = io.WriteString(w, h.set)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *keyHost) publish(set string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.set = set
}

func (h *keyHost) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fetches
}

// caFile writes the server's certificate as a PEM file.
func (h *keyHost) caFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.srv.Certificate().Raw})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPrivateKeyJWTJWKSURI: a client registered with a jwks_uri (an https
// server on loopback, allowed by jwks_uri allow_private and trusted by
// trusted_ca_file) authenticates through real Caddy on both stores with
// x/oauth2; its set is fetched once and cached (its max-age); a key the
// client adds is found by one refetch on the unknown kid; a flood of
// assertions naming made-up kids costs at most one fetch per min_refresh;
// and without allow_private the same loopback URL is never fetched (503
// temporarily_unavailable, as for any key host that cannot be reached).
func TestPrivateKeyJWTJWKSURI(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		k1, k2 := newJWTSigner(t, "k1"), newJWTSigner(t, "k2")
		host := startKeyHost(t, jwks(t, k1))
		uri := host.srv.URL + "/jwks.json"
		g := startGateway(t, gatewayOptions{store: kind, appExtra: "jwks_uri {\n\tallow_private\n\ttrusted_ca_file " + host.caFile(t) + "\n\tmin_refresh 1s\n}"})
		tokenURL := g.authURL + "/oauth/token"
		c, err := g.svc.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "remote keys", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKSURI: uri}})
		if err != nil {
			t.Fatal(err)
		}
		id := c.Client.ID
		ctx := context.Background()
		for i := range 3 {
			tok, err := ccConfig(tokenURL, id, k1.sign(t, assertionClaims(id, g.authURL))).Token(ctx)
			if err != nil {
				t.Fatalf("token %d with a key of the jwks_uri: %v", i, err)
			}
			if r := g.call("/mcp", bearer(tok.AccessToken)...); r.status != http.StatusOK {
				t.Fatalf("API call: %d %s", r.status, r.raw)
			}
		}
		if n := host.count(); n != 1 {
			t.Errorf("the key set was fetched %d times for three assertions, want 1 (cached)", n)
		}

		// Made-up kids: at most one refetch per min_refresh (1s), however many.
		start := time.Now()
		for range 10 {
			_, err := ccConfig(tokenURL, id, (&jwtSigner{k1.key, k1.alg, rand.Text()}).sign(t, assertionClaims(id, g.authURL))).Token(ctx)
			wantInvalidClient(t, "an unknown kid", err)
		}
		if n, max := host.count(), 2+int(time.Since(start)/time.Second); n > max {
			t.Errorf("%d fetches after ten unknown kids in %s, want at most %d", n, time.Since(start), max)
		}

		// The client adds k2; after min_refresh, an assertion by k2 finds it.
		host.publish(jwks(t, k1, k2))
		time.Sleep(1100 * time.Millisecond)
		before := host.count()
		if _, err := ccConfig(tokenURL, id, k2.sign(t, assertionClaims(id, g.authURL))).Token(ctx); err != nil {
			t.Fatalf("a key added to the jwks_uri: %v", err)
		}
		if n := host.count() - before; n != 1 {
			t.Errorf("%d fetches for the new kid, want 1", n)
		}
	})

	// Without allow_private a loopback jwks_uri is refused at the dial.
	k := newJWTSigner(t, "k")
	host := startKeyHost(t, jwks(t, k))
	metricsPort := freePort(t)
	g := startGateway(t, gatewayOptions{store: kindSQLite, appExtra: "jwks_uri {\n\ttrusted_ca_file " + host.caFile(t) + "\n}",
		extraConfig: fmt.Sprintf("http://:%d {\n\tbind 127.0.0.1\n\tmetrics\n}", metricsPort)})
	c, err := g.svc.Create(context.Background(), admin.CLI, admin.CreateParams{Name: "loopback keys", Scopes: []string{"mcp:read"}, Keys: store.ClientKeys{JWKSURI: host.srv.URL + "/jwks.json"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ccConfig(g.authURL+"/oauth/token", c.Client.ID, k.sign(t, assertionClaims(c.Client.ID, g.authURL))).Token(context.Background())
	// The key set could not be had (503, as for an unreachable host: an
	// outsider must not tell the two apart), not a wrong credential.
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != http.StatusServiceUnavailable || re.ErrorCode != "temporarily_unavailable" {
		t.Errorf("a loopback jwks_uri without allow_private: %v, want 503 temporarily_unavailable", err)
	}
	if n := host.count(); n != 0 {
		t.Errorf("the loopback key host was reached %d times", n)
	}
	// The refusal is counted for alerting.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `caddy_blnk_auth_jwks_uri_fetches_total{outcome="address_forbidden"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %q", want)
	}
}

// oauth4webapiDir is the Node project driving the npm oauth4webapi package
// (pinned exactly in package.json and package-lock.json); its node_modules
// is not committed: the test installs it with npm ci.
const oauth4webapiDir = "testdata/oauth4webapi"

var (
	oauth4webapiInstall    sync.Once
	oauth4webapiInstallErr error
)

// requireOAuth4WebAPI makes sure node, npm and the project's dependencies
// are there: without node or npm the test fails on CI and is skipped
// elsewhere.
func requireOAuth4WebAPI(t *testing.T) {
	t.Helper()
	needNode(t, "the oauth4webapi test")
	oauth4webapiInstall.Do(func() {
		if _, err := os.Stat(filepath.Join(oauth4webapiDir, "node_modules", "oauth4webapi", "package.json")); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = oauth4webapiDir
		cmd.WaitDelay = 5 * time.Second
		if out, err := cmd.CombinedOutput(); err != nil {
			oauth4webapiInstallErr = fmt.Errorf("npm ci in %s: %v\n%s", oauth4webapiDir, err, out)
		}
	})
	if oauth4webapiInstallErr != nil {
		t.Fatal(oauth4webapiInstallErr)
	}
}

// TestOAuth4WebAPIPrivateKeyJWT: the npm oauth4webapi package (a strict
// OAuth client no one here wrote) discovers the gateway's metadata and gets
// two tokens with PrivateKeyJwt client authentication, through real Caddy on
// both stores; the assertions it signs say what RFC 7523 asks; the tokens
// work at blnk_auth; its first request sent again byte for byte is a replay,
// refused with 401 invalid_client.
func TestOAuth4WebAPIPrivateKeyJWT(t *testing.T) {
	requireOAuth4WebAPI(t)
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		signer := &jwtSigner{key: priv, alg: jose.ES256, kid: "o4w"}
		c := g.createKeyClient("oauth4webapi", []string{"mcp:read"}, jwks(t, signer))
		privJWK, err := json.Marshal(jose.JSONWebKey{Key: priv})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "node", "client.mjs")
		cmd.Dir = oauth4webapiDir
		cmd.Env = append(os.Environ(), "ISSUER="+g.authURL, "CLIENT_ID="+c.Client.ID, "PRIVATE_KEY_JWK="+string(privJWK), "KID="+signer.kid)
		cmd.WaitDelay = 5 * time.Second
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		runErr := cmd.Run()
		var res struct {
			Tokens    []string `json:"tokens"`
			Assertion struct {
				Header              map[string]any `json:"header"`
				Claims              map[string]any `json:"claims"`
				ClientAssertionType string         `json:"client_assertion_type"`
				ClientID            string         `json:"client_id"`
				Authorization       string         `json:"authorization"`
			} `json:"assertion"`
			Replay struct {
				Status int    `json:"status"`
				Error  string `json:"error"`
			} `json:"replay"`
			Error string `json:"error"`
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || runErr != nil || res.Error != "" {
			t.Fatalf("client.mjs: %v %v %s\nstdout: %s\nstderr: %s", runErr, err, res.Error, stdout.String(), stderr.String())
		}
		a := res.Assertion
		t.Logf("oauth4webapi's assertion: header %v, claims %v, client_id %q", a.Header, a.Claims, a.ClientID)
		if a.Header["alg"] != "ES256" || a.Header["kid"] != "o4w" || a.Claims["iss"] != c.Client.ID || a.Claims["sub"] != c.Client.ID ||
			a.Claims["jti"] == nil || a.ClientAssertionType != clientassertion.Type || a.Authorization != "" {
			t.Errorf("the assertion oauth4webapi sent: %+v", a)
		}
		if len(res.Tokens) != 2 || res.Tokens[0] == res.Tokens[1] {
			t.Fatalf("tokens %v, want two", res.Tokens)
		}
		for _, tok := range res.Tokens {
			if r := g.call("/mcp", bearer(tok)...); r.status != http.StatusOK {
				t.Errorf("API call with oauth4webapi's token: %d %s", r.status, r.raw)
			}
		}
		if res.Replay.Status != http.StatusUnauthorized || res.Replay.Error != "invalid_client" {
			t.Errorf("the first request replayed: %+v, want 401 invalid_client", res.Replay)
		}
	})
}
