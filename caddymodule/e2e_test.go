package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/keyring"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// TestClientCredentialsEndToEnd: the standard Go OAuth client gets a token
// with each client authentication method and calls an upstream through
// blnk_auth + reverse_proxy, which never sees the token.
func TestClientCredentialsEndToEnd(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		c := g.create("MCP Integration", store.TypeOAuth, []string{"mcp:read", "ledgers:read"}, nil)

		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			cfg := clientcredentials.Config{
				ClientID: c.Client.ID, ClientSecret: c.Secret,
				TokenURL: g.authURL + "/oauth/token", AuthStyle: style,
			}
			tok, err := cfg.Token(context.Background())
			if err != nil {
				t.Fatalf("auth style %d: %v", style, err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.Before(time.Now().Add(59*time.Minute)) {
				t.Errorf("auth style %d: token type %q expiry %s", style, tok.TokenType, tok.Expiry)
			}
			if got := tok.Extra("scope"); got != "ledgers:read mcp:read" {
				t.Errorf("granted scope = %v, want every scope of the client", got)
			}
			client := cfg.Client(context.Background())
			resp, err := client.Get(g.apiURL + "/mcp")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "upstream saw GET /mcp" {
				t.Fatalf("auth style %d: %d %s", style, resp.StatusCode, body)
			}
			h := g.upstream.lastHeader()
			if h.Get("Authorization") != "" {
				t.Error("the access token reached the upstream")
			}
			if h.Get("X-Client-Id") != c.Client.ID || h.Get("X-Client-Name") != "MCP Integration" || h.Get("X-Client-Scopes") != "ledgers:read mcp:read" {
				t.Errorf("placeholders: id %q name %q scopes %q", h.Get("X-Client-Id"), h.Get("X-Client-Name"), h.Get("X-Client-Scopes"))
			}
		}

		// The client's last use is recorded (in a batch, within a few seconds).
		eventually(t, 3*gatewayUsageWait, "last_used_at recorded", func() bool {
			got, err := g.store.GetClient(context.Background(), c.Client.ID)
			return err == nil && got.LastUsedAt != nil
		})
	})
}

const gatewayUsageWait = 6 * time.Second

// TestTokenEndpointErrors checks every RFC 6749 §5.2 error the endpoint gives.
func TestTokenEndpointErrors(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		ok := g.create("ok", store.TypeOAuth, []string{"mcp:read"}, nil)
		revoked := g.create("revoked", store.TypeOAuth, []string{"mcp:read"}, nil)
		if _, err := g.svc.Revoke(context.Background(), admin.CLI, revoked.Client.ID); err != nil {
			t.Fatal(err)
		}
		apiKey := g.create("key", store.TypeAPIKey, []string{"mcp:read"}, nil)
		// An expired client, written straight to the store (the service refuses a past expiry).
		expiredSecret := credential.NewSecret()
		past := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
		expired := &store.Client{ID: credential.NewClientID(), Name: "expired", Type: store.TypeOAuth, Scopes: scope.MustParse("mcp:read"),
			SecretHash: credential.HashOf(expiredSecret), SecretHint: credential.Hint(expiredSecret), CreatedAt: past.Add(-time.Hour), ExpiresAt: &past}
		if err := g.store.CreateClient(context.Background(), expired, store.Audit{Actor: "test"}); err != nil {
			t.Fatal(err)
		}

		cc := url.Values{"grant_type": {"client_credentials"}}
		with := func(kv ...string) url.Values {
			v := url.Values{}
			for k, vs := range cc {
				v[k] = vs
			}
			for i := 0; i+1 < len(kv); i += 2 {
				v.Add(kv[i], kv[i+1])
			}
			return v
		}
		post := func(form url.Values) url.Values {
			form.Set("client_id", ok.Client.ID)
			form.Set("client_secret", ok.Secret)
			return form
		}
		wrongSecret := credential.NewSecret()

		cases := []struct {
			name          string
			form          url.Values
			id, secret    string // Basic credentials, if any
			status        int
			code          string
			basicChalleng bool
		}{
			{"unknown client", cc, credential.NewClientID(), wrongSecret, 401, "invalid_client", true},
			{"wrong secret", cc, ok.Client.ID, wrongSecret, 401, "invalid_client", true},
			{"malformed secret", cc, ok.Client.ID, alterLast(ok.Secret), 401, "invalid_client", true},
			{"revoked client", cc, revoked.Client.ID, revoked.Secret, 401, "invalid_client", true},
			{"expired client", cc, expired.ID, expiredSecret, 401, "invalid_client", true},
			{"api key client", cc, apiKey.Client.ID, apiKey.Secret, 401, "invalid_client", true},
			{"wrong secret in body", with("client_id", ok.Client.ID, "client_secret", wrongSecret), "", "", 401, "invalid_client", false},
			{"no client authentication", cc, "", "", 401, "invalid_client", true},
			{"two auth methods", with("client_secret", ok.Secret), ok.Client.ID, ok.Secret, 400, "invalid_request", false},
			{"missing grant_type", url.Values{}, ok.Client.ID, ok.Secret, 400, "invalid_request", false},
			{"repeated grant_type", with("grant_type", "client_credentials"), ok.Client.ID, ok.Secret, 400, "invalid_request", false},
			{"repeated scope", with("scope", "mcp:read", "scope", "mcp:read"), ok.Client.ID, ok.Secret, 400, "invalid_request", false},
			{"unsupported grant", url.Values{"grant_type": {"password"}}, ok.Client.ID, ok.Secret, 400, "unsupported_grant_type", false},
			{"scope beyond the client", with("scope", "mcp:write"), ok.Client.ID, ok.Secret, 400, "invalid_scope", false},
			{"malformed scope", with("scope", "mcp:read  x"), ok.Client.ID, ok.Secret, 400, "invalid_scope", false},
			{"empty scope", with("scope", ""), ok.Client.ID, ok.Secret, 400, "invalid_scope", false},
			{"unknown resource", with("resource", "https://elsewhere.example.com"), ok.Client.ID, ok.Secret, 400, "invalid_target", false},
			{"relative resource", with("resource", "/mcp"), ok.Client.ID, ok.Secret, 400, "invalid_target", false},
			{"resource with fragment", with("resource", "https://keys.example.com#x"), ok.Client.ID, ok.Secret, 400, "invalid_target", false},
			{"two resources", with("resource", "https://keys.example.com", "resource", g.authURL), ok.Client.ID, ok.Secret, 400, "invalid_target", false},
			{"post: scope beyond", post(with("scope", "*")), "", "", 400, "invalid_scope", false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := g.postToken(tc.form, tc.id, tc.secret)
				if r.status != tc.status || r.body["error"] != tc.code {
					t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
				}
				if d, _ := r.body["error_description"].(string); d == "" {
					t.Error("no error_description")
				}
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				if cc := r.header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control %q", cc)
				}
				if got := strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic "); got != tc.basicChalleng {
					t.Errorf("WWW-Authenticate %q, want a Basic challenge: %v", r.header.Get("WWW-Authenticate"), tc.basicChalleng)
				}
				if strings.Contains(r.raw, ok.Secret) || strings.Contains(r.raw, wrongSecret) {
					t.Error("a secret was echoed")
				}
			})
		}

		t.Run("wrong method", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, g.authURL+"/oauth/token", nil)
			r := g.do(req)
			if r.status != 405 || r.header.Get("Allow") != "POST" || r.body["error"] != "invalid_request" {
				t.Fatalf("%d %v %s", r.status, r.header, r.raw)
			}
		})
		t.Run("not a form", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, g.authURL+"/oauth/token", strings.NewReader(`{"grant_type":"client_credentials"}`))
			req.Header.Set("Content-Type", "application/json")
			req.SetBasicAuth(ok.Client.ID, ok.Secret)
			if r := g.do(req); r.status != 400 || r.body["error"] != "invalid_request" {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
		t.Run("body too large", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, g.authURL+"/oauth/token", strings.NewReader("grant_type=client_credentials&x="+strings.Repeat("a", 20<<10)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(ok.Client.ID, ok.Secret)
			if r := g.do(req); r.status != 413 || r.body["error"] != "invalid_request" {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
		t.Run("malformed basic", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, g.authURL+"/oauth/token", strings.NewReader(cc.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Basic !!!notbase64")
			if r := g.do(req); r.status != 401 || r.body["error"] != "invalid_client" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("%d %v %s", r.status, r.header, r.raw)
			}
		})
		t.Run("basic credentials are form-decoded", func(t *testing.T) {
			// RFC 6749 §2.3.1: the ID and secret are form-encoded before Base64;
			// ours need no escaping, so a client escaping every byte must still work.
			esc := func(s string) string {
				var b strings.Builder
				for i := 0; i < len(s); i++ {
					b.WriteString("%" + strings.ToUpper(hex2(s[i])))
				}
				return b.String()
			}
			req, _ := http.NewRequest(http.MethodPost, g.authURL+"/oauth/token", strings.NewReader(cc.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(esc(ok.Client.ID)+":"+esc(ok.Secret))))
			if r := g.do(req); r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
	})
}

func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// TestTokenResponse checks a successful response and the token's claims (RFC 6749 §5.1, RFC 9068).
func TestTokenResponse(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		exp := time.Now().Add(30 * time.Minute)
		c := g.create("capped", store.TypeOAuth, []string{"mcp:write", "ledgers:*"}, &exp)

		r := g.postToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:read ledgers:read"}}, c.Client.ID, c.Secret)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", r.header)
		}
		if r.body["token_type"] != "Bearer" || r.body["scope"] != "ledgers:read mcp:read" {
			t.Errorf("body %s", r.raw)
		}
		if _, has := r.body["refresh_token"]; has {
			t.Error("a refresh token was issued")
		}
		// exp is capped at the client's expiry.
		if ei := r.body["expires_in"].(float64); ei > 30*60 || ei < 29*60 {
			t.Errorf("expires_in %v, want about 1800 (the client's expiry)", ei)
		}
		parts := strings.Split(r.body["access_token"].(string), ".")
		if len(parts) != 3 {
			t.Fatalf("not a JWS: %s", r.body["access_token"])
		}
		var header, claims map[string]any
		decode := func(s string, v any) {
			b, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatal(err)
			}
		}
		decode(parts[0], &header)
		decode(parts[1], &claims)
		if header["typ"] != "at+jwt" || header["alg"] != "ES256" || header["kid"] == "" {
			t.Errorf("header %v", header)
		}
		for _, k := range []string{"iss", "sub", "client_id", "aud", "iat", "exp", "jti", "scope"} {
			if _, ok := claims[k]; !ok {
				t.Errorf("claim %s missing: %v", k, claims)
			}
		}
		if claims["iss"] != g.authURL || claims["sub"] != c.Client.ID || claims["client_id"] != c.Client.ID || claims["scope"] != "ledgers:read mcp:read" {
			t.Errorf("claims %v", claims)
		}
		if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != g.authURL {
			t.Errorf("aud %v, want the issuer (the default audience)", claims["aud"])
		}
		if int64(claims["exp"].(float64)) > exp.Unix() {
			t.Errorf("exp %v after the client's expiry %d", claims["exp"], exp.Unix())
		}

		// The JWKS publishes the key that signed it.
		req, _ := http.NewRequest(http.MethodGet, g.authURL+"/.well-known/jwks.json", nil)
		jwks := g.do(req)
		keys, _ := jwks.body["keys"].([]any)
		if jwks.status != 200 || len(keys) != 1 || keys[0].(map[string]any)["kid"] != header["kid"] {
			t.Fatalf("jwks %d %s", jwks.status, jwks.raw)
		}
		for _, k := range []string{"d"} {
			if _, leaked := keys[0].(map[string]any)[k]; leaked {
				t.Fatal("the JWKS contains private key material")
			}
		}
	})
}

// TestAuthorizationServerMetadata checks the RFC 8414 document.
func TestAuthorizationServerMetadata(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		req, _ := http.NewRequest(http.MethodGet, g.authURL+"/.well-known/oauth-authorization-server", nil)
		r := g.do(req)
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		want := map[string]any{
			"issuer":                                        g.authURL,
			"token_endpoint":                                g.authURL + "/oauth/token",
			"jwks_uri":                                      g.authURL + "/.well-known/jwks.json",
			"grant_types_supported":                         []any{"client_credentials"},
			"token_endpoint_auth_methods_supported":         []any{"client_secret_basic", "client_secret_post", "private_key_jwt"},
			"scopes_supported":                              []any{"*", "ledgers:read", "mcp:read"},
			"response_types_supported":                      []any{},
			"authorization_endpoint":                        g.authURL + "/oauth/authorize",
			"code_challenge_methods_supported":              []any{"S256"},
			"introspection_endpoint":                        g.authURL + "/oauth/introspect",
			"introspection_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		}
		for k, v := range want {
			got, _ := json.Marshal(r.body[k])
			exp, _ := json.Marshal(v)
			if string(got) != string(exp) {
				t.Errorf("%s = %s, want %s", k, got, exp)
			}
		}
		if r.body["revocation_endpoint"] != g.authURL+"/oauth/revoke" {
			t.Errorf("revocation_endpoint %v", r.body["revocation_endpoint"])
		}
		// The same document for OpenID Connect discovery.
		req, _ = http.NewRequest(http.MethodGet, g.authURL+"/.well-known/openid-configuration", nil)
		if oidc := g.do(req); oidc.status != 200 || oidc.raw != r.raw {
			t.Errorf("openid-configuration: %d %s", oidc.status, oidc.raw)
		}
		// The authorization endpoint refuses everything, never redirecting.
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			req, _ = http.NewRequest(m, g.authURL+"/oauth/authorize?response_type=code&client_id=x&redirect_uri=https%3A%2F%2Fevil.example.com", nil)
			a := g.do(req)
			if a.status != 400 || a.body["error"] != "unsupported_response_type" || a.header.Get("Location") != "" {
				t.Errorf("%s /oauth/authorize: %d %v %s", m, a.status, a.header, a.raw)
			}
		}
		// Other paths fall through to the next handler.
		req, _ = http.NewRequest(http.MethodGet, g.authURL+"/elsewhere", nil)
		if r := g.do(req); r.status != 404 || r.raw != "not here" {
			t.Errorf("fallthrough: %d %s", r.status, r.raw)
		}
		req, _ = http.NewRequest(http.MethodPost, g.authURL+"/.well-known/oauth-authorization-server", nil)
		if r := g.do(req); r.status != 405 {
			t.Errorf("POST metadata: %d", r.status)
		}
	})
}

// TestBearerEnforcement checks every RFC 6750 answer of blnk_auth.
func TestBearerEnforcement(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		reader := g.create("reader", store.TypeOAuth, []string{"mcp:read"}, nil)
		writer := g.create("writer", store.TypeOAuth, []string{"mcp:write"}, nil)
		ledgers := g.create("ledgers", store.TypeOAuth, []string{"ledgers:read"}, nil)
		key := g.create("key", store.TypeAPIKey, []string{"ledgers:*"}, nil)
		revokedKey := g.create("revoked key", store.TypeAPIKey, []string{"*"}, nil)
		if _, err := g.svc.Revoke(context.Background(), admin.CLI, revokedKey.Client.ID); err != nil {
			t.Fatal(err)
		}
		readerTok := g.token(reader.Client.ID, reader.Secret, nil)
		writerTok := g.token(writer.Client.ID, writer.Secret, nil)
		ledgersTok := g.token(ledgers.Client.ID, ledgers.Secret, nil)
		keysTok := g.token(reader.Client.ID, reader.Secret, url.Values{"resource": {"https://keys.example.com"}})

		// Tokens minted with the real signing key but wrong in one way each.
		ctx := context.Background()
		ring, err := keyring.Load(ctx, g.store, testSecret, token.ES256)
		if err != nil {
			t.Fatal(err)
		}
		realKey := ring.Signing
		mint := func(k *token.Key, iss, aud string, now time.Time) string {
			i := &token.Issuer{Key: k, Issuer: iss, TTL: time.Hour}
			tok, err := i.Issue(reader.Client.ID, scope.MustParse("mcp:read"), aud, nil, now)
			if err != nil {
				t.Fatal(err)
			}
			return tok.Token
		}
		otherKey, _ := token.GenerateKey(token.ES256)
		expiredTok := mint(realKey, g.authURL, g.authURL, time.Now().Add(-2*time.Hour))
		wrongIss := mint(realKey, "https://evil.example.com", g.authURL, time.Now())
		wrongAud := mint(realKey, g.authURL, "https://other.example.com", time.Now())
		foreignKey := mint(otherKey, g.authURL, g.authURL, time.Now())
		tampered := alterLast(readerTok)

		type want struct {
			status int
			code   string // "" : no error code in the challenge
		}
		cases := []struct {
			name    string
			path    string
			headers []string
			want    want
		}{
			{"no credential", "/mcp", nil, want{401, ""}},
			{"other scheme", "/mcp", []string{"Authorization", "Basic Zm9vOmJhcg=="}, want{401, ""}},
			{"empty bearer", "/mcp", []string{"Authorization", "Bearer "}, want{400, "invalid_request"}},
			{"bearer with spaces", "/mcp", []string{"Authorization", "Bearer a b"}, want{400, "invalid_request"}},
			{"bearer bad chars", "/mcp", []string{"Authorization", "Bearer a\"b"}, want{400, "invalid_request"}},
			{"bearer without value", "/mcp", []string{"Authorization", "Bearer"}, want{400, "invalid_request"}},
			{"two authorization headers", "/mcp", []string{"Authorization", "Bearer " + readerTok, "Authorization", "Bearer " + readerTok}, want{400, "invalid_request"}},
			{"token and api key", "/mcp", []string{"Authorization", "Bearer " + readerTok, "X-Blnk-Key", key.Secret}, want{400, "invalid_request"}},
			{"garbage token", "/mcp", bearer("abc.def.ghi"), want{401, "invalid_token"}},
			{"tampered signature", "/mcp", bearer(tampered), want{401, "invalid_token"}},
			{"expired token", "/mcp", bearer(expiredTok), want{401, "invalid_token"}},
			{"wrong issuer", "/mcp", bearer(wrongIss), want{401, "invalid_token"}},
			{"wrong audience", "/mcp", bearer(wrongAud), want{401, "invalid_token"}},
			{"foreign key", "/mcp", bearer(foreignKey), want{401, "invalid_token"}},
			{"token for another resource", "/mcp", bearer(keysTok), want{401, "invalid_token"}},
			{"default audience at a resource route", "/keys", bearer(readerTok), want{200, ""}},
			{"resource token at its route", "/keys", bearer(keysTok), want{200, ""}},
			{"reader at read route", "/mcp", bearer(readerTok), want{200, ""}},
			{"mcp:write implies mcp:read", "/mcp/tools", bearer(writerTok), want{200, ""}},
			{"scope short", "/mcp", bearer(ledgersTok), want{403, "insufficient_scope"}},
			{"scope short other way", "/ledgers", bearer(readerTok), want{403, "insufficient_scope"}},
			{"api key as bearer", "/ledgers/1", bearer(key.Secret), want{200, ""}},
			{"api key in X-Blnk-Key", "/ledgers", []string{"X-Blnk-Key", key.Secret}, want{200, ""}},
			{"api key scope short", "/mcp", []string{"X-Blnk-Key", key.Secret}, want{403, "insufficient_scope"}},
			{"revoked api key", "/ledgers", []string{"X-Blnk-Key", revokedKey.Secret}, want{401, "invalid_token"}},
			{"api key checksum wrong", "/ledgers", []string{"X-Blnk-Key", alterLast(key.Secret)}, want{401, "invalid_token"}},
			{"client secret is not an api key", "/ledgers", []string{"X-Blnk-Key", reader.Secret}, want{401, "invalid_token"}},
			{"client secret as bearer", "/mcp", bearer(reader.Secret), want{401, "invalid_token"}},
			{"unprotected path", "/public", nil, want{200, ""}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := g.call(tc.path, tc.headers...)
				if r.status != tc.want.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.want.status, r.raw)
				}
				if r.status == 200 {
					if h := g.upstream.lastHeader(); h.Get("Authorization") != "" || h.Get("X-Blnk-Key") != "" {
						t.Error("a credential reached the upstream")
					}
					return
				}
				challenge := r.header.Get("WWW-Authenticate")
				if !strings.HasPrefix(challenge, `Bearer realm="blnk"`) {
					t.Errorf("challenge %q", challenge)
				}
				if tc.want.code == "" && strings.Contains(challenge, "error=") {
					t.Errorf("challenge %q has an error code for a request without credentials", challenge)
				}
				if tc.want.code != "" && !strings.Contains(challenge, `error="`+tc.want.code+`"`) {
					t.Errorf("challenge %q lacks error=%q", challenge, tc.want.code)
				}
				if tc.want.code != "" && r.body["error"] != tc.want.code {
					t.Errorf("body %s", r.raw)
				}
				if tc.want.code == "insufficient_scope" && !strings.Contains(challenge, `scope="`) {
					t.Errorf("challenge %q lacks the required scope", challenge)
				}
				if _, ok := r.body["error_description"]; !ok {
					t.Errorf("body without error_description: %s", r.raw)
				}
			})
		}
		r := g.call("/mcp", bearer(ledgersTok)...)
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `scope="mcp:read"`) {
			t.Errorf("403 challenge %q should name the required scope mcp:read", got)
		}
	})
}

// TestStackedHandlers: several blnk_auth on one request each add their scopes;
// the first removes the credential, the later ones reuse its result.
func TestStackedHandlers(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, apiRoutes: `
		blnk_auth /mcp* mcp:read
		blnk_auth /mcp/admin* mcp:admin
		blnk_auth
		reverse_proxy {upstream}`})
		reader := g.create("reader", store.TypeOAuth, []string{"mcp:read"}, nil)
		admin := g.create("admin", store.TypeOAuth, []string{"mcp:read", "mcp:admin"}, nil)
		rt := g.token(reader.Client.ID, reader.Secret, nil)
		at := g.token(admin.Client.ID, admin.Secret, nil)
		for _, tc := range []struct {
			path, tok string
			status    int
		}{
			{"/mcp", rt, 200}, {"/mcp/admin", rt, 403}, {"/mcp/admin", at, 200}, {"/other", rt, 200}, {"/mcp", "", 401}, {"/other", "", 401},
		} {
			var h []string
			if tc.tok != "" {
				h = bearer(tc.tok)
			}
			if r := g.call(tc.path, h...); r.status != tc.status {
				t.Errorf("%s: %d, want %d (%s)", tc.path, r.status, tc.status, r.raw)
			}
		}
		if h := g.upstream.lastHeader(); h.Get("Authorization") != "" {
			t.Error("credential passed through")
		}
	})
}
