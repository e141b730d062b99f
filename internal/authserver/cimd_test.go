package authserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/oauth2"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientmetadata"
	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// cimdServer builds the authorization server with the flow and Client ID
// Metadata Documents, fetched from an httptest TLS server (allowPrivate: it
// is on loopback) whose certificate the fetcher trusts.
func cimdServer(t *testing.T, docs *httptest.Server, allowPrivate bool) (*fixture, *authcode.Flow) {
	t.Helper()
	f := newFixture(t, issuer)
	sealer, err := authcode.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	opts := safefetch.Options{AllowPrivate: allowPrivate}
	if docs != nil {
		pool := docs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
		opts.RootCAs = pool
	}
	flow := &authcode.Flow{Sealer: sealer, Store: f.backend.Store, Issuer: issuer,
		Public: &authcode.PublicClients{Resolver: clientmetadata.NewResolver(opts), Scopes: scope.MustParse("mcp:*")}}
	u, _ := url.Parse(issuer)
	f.srv = authserver.New(authserver.Config{
		Issuer: u, Audience: issuer, Leeway: time.Second, Signer: f.signer, Verifier: f.verifier,
		Keys:     func() []*token.Key { return []*token.Key{f.key} },
		Decider:  &authn.Decider{Clients: f.backend.Clients, Verifier: f.verifier, Revoked: f.backend},
		Backend:  f.backend,
		Resource: func(id string) bool { return authn.SameResource(id, resource) },
		Scopes:   func() []string { return []string{"mcp:read", "mcp:write", scope.All} },
		Logger:   zaptest.NewLogger(t),
		Flow:     flow, ConsentURL: issuer + "/admin/authorize",
	})
	return f, flow
}

// TestClientIDMetadataDocument: a client the operator never registered uses
// the https URL of its metadata document as client_id: the authorization
// endpoint fetches it and takes its redirect URIs, the person approves, and
// the client, public, exchanges the code with PKCE and no secret
// (golang.org/x/oauth2), then refreshes; it is never granted more than the
// configured bound (mcp:*), and a secret-based client, a private address or
// an unregistered redirect URI are refused on a page.
func TestClientIDMetadataDocument(t *testing.T) {
	var docs *httptest.Server
	docs = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := docs.URL + r.URL.Path
		doc := map[string]any{"client_id": id, "client_name": "Some MCP Host", "redirect_uris": []string{"http://127.0.0.1/callback"},
			"grant_types": []string{"authorization_code", "refresh_token"}, "scope": "mcp:read mcp:write ledgers:read"}
		if r.URL.Path == "/secret.json" {
			doc["token_endpoint_auth_method"] = "private_key_jwt"
			doc["jwks"] = map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(docs.Close)
	f, flow := cimdServer(t, docs, true)
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)
	clientID := docs.URL + "/client.json"
	cfg := &oauth2.Config{
		ClientID:    clientID,
		Endpoint:    oauth2.Endpoint{AuthURL: ts.URL + "/oauth/authorize", TokenURL: ts.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://127.0.0.1:47001/callback", Scopes: []string{"mcp:read", "ledgers:read"},
	}
	get := func(u string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, u, nil))
		return w
	}

	// Metadata says so.
	md := decode(t, get("/.well-known/oauth-authorization-server"))
	if md["client_id_metadata_document_supported"] != true || !strings.Contains(fmt.Sprint(md["token_endpoint_auth_methods_supported"]), "none") {
		t.Errorf("metadata: %v", md)
	}
	// Such a client revokes with its client_id alone (below): say so (RFC 8414 §2).
	if !strings.Contains(fmt.Sprint(md["revocation_endpoint_auth_methods_supported"]), "none") {
		t.Errorf("revocation_endpoint_auth_methods_supported %v lacks none, which the endpoint accepts", md["revocation_endpoint_auth_methods_supported"])
	}

	verifier := oauth2.GenerateVerifier()
	w := get(strings.TrimPrefix(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), ts.URL))
	loc, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc.String(), issuer+"/admin/authorize?request=") {
		t.Fatalf("authorize: %d %s %s", w.Code, loc, w.Body.String())
	}
	req, err := flow.Sealer.Open(loc.Query().Get("request"), time.Now())
	if err != nil || req.ClientID != clientID {
		t.Fatalf("sealed request: %+v %v", req, err)
	}
	c, err := flow.Public.Client(context.Background(), clientID)
	if err != nil || c.Name != "Some MCP Host" {
		t.Fatalf("the document's client: %+v %v", c, err)
	}
	// The master key may grant anything; the document's client is bounded by mcp:*.
	person := authcode.Person{ID: "master", Name: "Master key", MayGrant: scope.MustParse("*")}
	granted := authcode.Granted(req, c, person)
	if granted.String() != "mcp:read" {
		t.Fatalf("granted %q, want mcp:read (ledgers:read is outside the bound)", granted)
	}
	to, err := flow.Approve(context.Background(), req, person, granted, f.auditAt(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	back, _ := url.Parse(to)
	tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" || tok.Extra("scope") != "mcp:read" {
		t.Fatalf("public exchange: %v %+v", err, tok)
	}
	vt, err := f.verifier.Verify(tok.AccessToken, time.Now())
	if err != nil || vt.ClientID != clientID || vt.Subject != "master" {
		t.Fatalf("access token: %+v %v", vt, err)
	}
	refreshed, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || refreshed.RefreshToken == tok.RefreshToken {
		t.Fatalf("public refresh: %v", err)
	}
	// RFC 7009 with client_id alone: its refresh token (and family) ends.
	spare, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if w := f.post("/oauth/revoke", "", "client_id="+url.QueryEscape(clientID)+"&token="+spare.RefreshToken); w.Code != http.StatusOK {
		t.Fatalf("public revocation: %d %s", w.Code, w.Body.String())
	}
	if _, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: spare.RefreshToken}).Token(); err == nil {
		t.Fatal("a revoked refresh token still works")
	}
	// A new approval for the rest of the test.
	code := authcodeApprove(t, f, flow, cfg, person, verifier)
	if refreshed, err = cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}

	// Its grant is listed and revoked under its URL; revoking ends its refresh tokens.
	grants, err := f.clients.Grants(context.Background(), clientID)
	if err != nil || len(grants) != 1 || grants[0].PersonID != "master" {
		t.Fatalf("grants of a document's client: %+v %v", grants, err)
	}
	if err := f.clients.RevokeGrant(context.Background(), admin.CLI, clientID, "master"); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
		t.Fatal("refreshed after its grant was revoked")
	}

	// No client_credentials for a document's client, whatever it sends.
	wc := f.post("/oauth/token", "", "grant_type=client_credentials&client_id="+url.QueryEscape(clientID))
	wantError(t, wc, http.StatusUnauthorized, "invalid_client")

	// Refusals shown on a page: a private_key_jwt document, an unregistered redirect URI.
	for name, u := range map[string]string{
		"private_key_jwt": "/oauth/authorize?response_type=code&client_id=" + url.QueryEscape(docs.URL+"/secret.json") + "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
		"redirect":        strings.TrimPrefix(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("redirect_uri", "https://evil.example/cb")), ts.URL),
	} {
		if w := get(u); w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
			t.Errorf("%s: %d %q", name, w.Code, w.Header().Get("Location"))
		}
	}

	// Without allow_private, a document on a loopback address is never fetched.
	hits := 0
	private := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	t.Cleanup(private.Close)
	f2, _ := cimdServer(t, private, false)
	w2 := httptest.NewRecorder()
	f2.srv.ServeHTTP(w2, httptest.NewRequest(http.MethodGet, "/oauth/authorize?response_type=code&client_id="+url.QueryEscape(private.URL+"/client.json"), nil))
	if w2.Code != http.StatusBadRequest || w2.Header().Get("Location") != "" || hits != 0 {
		t.Errorf("private address: %d %q, %d fetches", w2.Code, w2.Header().Get("Location"), hits)
	}
}

func (f *fixture) auditAt() store.Audit { return store.Audit{Time: time.Now(), Actor: "master"} }

// authcodeApprove runs an authorization request of cfg with verifier's
// challenge through the authorization endpoint and approves it as p,
// returning the code.
func authcodeApprove(t *testing.T, f *fixture, flow *authcode.Flow, cfg *oauth2.Config, p authcode.Person, verifier string) string {
	t.Helper()
	u, _ := url.Parse(cfg.AuthCodeURL("again", oauth2.S256ChallengeOption(verifier)))
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, u.RequestURI(), nil))
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || w.Code != http.StatusSeeOther {
		t.Fatalf("authorize: %d %s", w.Code, w.Body.String())
	}
	req, err := flow.Sealer.Open(loc.Query().Get("request"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := flow.Public.Client(context.Background(), req.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	to, err := flow.Approve(context.Background(), req, p, authcode.Granted(req, c, p), f.auditAt(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	back, _ := url.Parse(to)
	return back.Query().Get("code")
}
