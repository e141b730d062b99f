package authn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend/backendtest"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

const (
	issuer   = "https://auth.example.test"
	audience = "https://auth.example.test"
	resource = "https://api.example.test/mcp"
)

func TestCredentialOf(t *testing.T) {
	key, err := credential.NewAPIKey(credential.NewClientID())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		hdr    http.Header
		want   Credential
		refuse *Error
	}{
		{"none", http.Header{}, Credential{}, ErrNoCredential},
		{"bearer token", http.Header{"Authorization": {"Bearer abc.def.ghi"}}, Credential{Value: "abc.def.ghi", APIKey: false}, nil},
		{"scheme case", http.Header{"Authorization": {"bEARER abc"}}, Credential{Value: "abc", APIKey: false}, nil},
		{"token syntax left to Decide", http.Header{"Authorization": {"Bearer a\"b"}}, Credential{Value: "a\"b", APIKey: false}, nil},
		{"bearer API key", http.Header{"Authorization": {"Bearer " + key}}, Credential{Value: key, APIKey: true}, nil},
		{"X-Blnk-Key", http.Header{APIKeyHeader: {key}}, Credential{Value: key, APIKey: true}, nil},
		{"X-Blnk-Key not a key", http.Header{APIKeyHeader: {"nope"}}, Credential{}, ErrInvalidAPIKey},
		{"two methods", http.Header{"Authorization": {"Bearer abc"}, APIKeyHeader: {key}}, Credential{}, ErrTwoCredentials},
		{"two headers", http.Header{"Authorization": {"Bearer abc", "Bearer def"}}, Credential{}, ErrTwoCredentials},
		{"another scheme", http.Header{"Authorization": {"Basic Zm9vOmJhcg=="}}, Credential{}, ErrNoCredential},
		{"bare Bearer", http.Header{"Authorization": {"Bearer"}}, Credential{}, ErrMalformed},
		{"empty value", http.Header{"Authorization": {"Bearer "}}, Credential{}, ErrMalformed},
		{"too long", http.Header{"Authorization": {"Bearer " + strings.Repeat("a", token.MaxTokenLength+1)}}, Credential{}, ErrMalformed},
		{"API key not a b64token", http.Header{"Authorization": {"Bearer " + key + " x"}}, Credential{}, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, refuse := CredentialOf(tc.hdr)
			if got != tc.want || refuse != tc.refuse {
				t.Errorf("got %+v %v, want %+v %v", got, refuse, tc.want, tc.refuse)
			}
		})
	}
}

// fixture is a decider over a real SQLite store, client cache and verifier.
type fixture struct {
	d       *Decider
	backend *backend.Backend
	issuer  *token.Issuer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	b := backendtest.Backend(t)
	k, v := backendtest.Keys(t, issuer)
	return &fixture{
		d:       &Decider{Clients: b.Clients, Verifier: v, Revoked: b, Logger: zaptest.NewLogger(t)},
		backend: b,
		issuer:  &token.Issuer{Key: k, Issuer: issuer, TTL: time.Hour},
	}
}

// client stores a client and returns its ID and secret (an API key for TypeAPIKey).
func (f *fixture) client(t *testing.T, typ store.Type, scopes string, mod func(*store.Client)) (id, secret string) {
	t.Helper()
	id = credential.NewClientID()
	secret = credential.NewSecret()
	if typ == store.TypeAPIKey {
		var err error
		if secret, err = credential.NewAPIKey(id); err != nil {
			t.Fatal(err)
		}
	}
	c := &store.Client{ID: id, Name: "test", Type: typ, Scopes: scope.MustParse(scopes), SecretHash: credential.HashOf(secret), SecretHint: credential.Hint(secret), CreatedAt: time.Now()}
	if mod != nil {
		mod(c)
	}
	if err := f.backend.Store.CreateClient(context.Background(), c, store.Audit{Time: time.Now(), Actor: "cli"}); err != nil {
		t.Fatal(err)
	}
	return id, secret
}

func (f *fixture) token(t *testing.T, id, scopes, aud string) string {
	t.Helper()
	tok, err := f.issuer.Issue(id, scope.MustParse(scopes), aud, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

func TestDecide(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	oauth, _ := f.client(t, store.TypeOAuth, "mcp:read mcp:write", nil)
	_, key := f.client(t, store.TypeAPIKey, "ledgers:read", nil)
	past := now.Add(-time.Minute)
	revokedClient, _ := f.client(t, store.TypeOAuth, "mcp:read", func(c *store.Client) { c.RevokedAt = &past })
	_, revokedKey := f.client(t, store.TypeAPIKey, "mcp:read", func(c *store.Client) { c.RevokedAt = &past })
	keyClient, _ := f.client(t, store.TypeAPIKey, "mcp:read", nil)
	narrowed, _ := f.client(t, store.TypeOAuth, "mcp:read", nil)
	revokedJTI := f.token(t, oauth, "mcp:read", audience)
	vt, err := f.d.Verifier.Verify(revokedJTI, now)
	if err != nil {
		t.Fatal(err)
	}
	f.backend.Revoked.Add(vt.JTI, vt.ExpiresAt)
	oauthKey, _ := credential.NewAPIKey(oauth)
	wrongKey, _ := credential.NewAPIKey(keyClient)
	defaultOnly := &Resources{Default: audience}
	route := &Resources{Default: audience, IDs: []string{resource}}

	for _, tc := range []struct {
		name       string
		cred       Credential
		aud        Audience
		refuse     *Error
		scopes     string
		isToken    bool
		scopesBoxd bool
	}{
		{"token, default audience", Credential{Value: f.token(t, oauth, "mcp:read", audience), APIKey: false}, defaultOnly, nil, "mcp:read", true, true},
		{"token for the route's resource", Credential{Value: f.token(t, oauth, "mcp:read", resource+"/"), APIKey: false}, route, nil, "mcp:read", true, true},
		{"token for another resource", Credential{Value: f.token(t, oauth, "mcp:read", "https://other.example.test"), APIKey: false}, route, ErrInvalidToken, "", false, false},
		{"token for the resource, default-only rule", Credential{Value: f.token(t, oauth, "mcp:read", resource), APIKey: false}, defaultOnly, ErrInvalidToken, "", false, false},
		{"any audience", Credential{Value: f.token(t, oauth, "mcp:read", "https://other.example.test"), APIKey: false}, AnyAudience{}, nil, "mcp:read", true, true},
		{"scopes narrowed to the client's", Credential{Value: f.token(t, narrowed, "mcp:read mcp:write", audience), APIKey: false}, defaultOnly, nil, "mcp:read", true, false},
		{"malformed token", Credential{Value: "abc\"def", APIKey: false}, defaultOnly, ErrMalformed, "", false, false},
		{"garbage token", Credential{Value: "abc.def.ghi", APIKey: false}, defaultOnly, ErrInvalidToken, "", false, false},
		{"revoked token", Credential{Value: revokedJTI, APIKey: false}, defaultOnly, ErrInvalidToken, "", false, false},
		{"token of a revoked client", Credential{Value: f.token(t, revokedClient, "mcp:read", audience), APIKey: false}, defaultOnly, ErrInvalidToken, "", false, false},
		{"token of an API-key client", Credential{Value: f.token(t, keyClient, "mcp:read", audience), APIKey: false}, defaultOnly, ErrInvalidToken, "", false, false},
		{"token of an unknown client", Credential{Value: f.token(t, credential.NewClientID(), "mcp:read", audience), APIKey: false}, defaultOnly, ErrInvalidToken, "", false, false},
		{"API key", Credential{Value: key, APIKey: true}, defaultOnly, nil, "ledgers:read", false, true},
		{"API key, wrong secret", Credential{Value: wrongKey, APIKey: true}, defaultOnly, ErrInvalidAPIKey, "", false, false},
		{"API key naming an OAuth client", Credential{Value: oauthKey, APIKey: true}, defaultOnly, ErrInvalidToken, "", false, false},
		{"API key of a revoked client", Credential{Value: revokedKey, APIKey: true}, defaultOnly, ErrInvalidToken, "", false, false},
		{"not an API key", Credential{Value: "blnk_key_nope", APIKey: true}, defaultOnly, ErrInvalidAPIKey, "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, refuse := f.d.Decide(context.Background(), tc.cred, tc.aud, now)
			if refuse != tc.refuse {
				t.Fatalf("refusal %v, want %v", refuse, tc.refuse)
			}
			if refuse != nil {
				return
			}
			if p.Scopes.String() != tc.scopes || (p.Token != nil) != tc.isToken || (p.ScopesBoxed != nil) != tc.scopesBoxd {
				t.Fatalf("principal %q token %v boxed %v", p.Scopes, p.Token != nil, p.ScopesBoxed)
			}
			if p.ScopesBoxed != nil && p.ScopesBoxed.(string) != tc.scopes {
				t.Fatalf("boxed scopes %q, want %q", p.ScopesBoxed, tc.scopes)
			}
		})
	}

	t.Run("Authenticate", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+f.token(t, oauth, "mcp:write", audience))
		if p, refuse := f.d.Authenticate(r, "", defaultOnly, time.Now()); refuse != nil || p.Client.ID() != oauth {
			t.Fatalf("%+v %v", p, refuse)
		}
		r.Header.Set(APIKeyHeader, key)
		if _, refuse := f.d.Authenticate(r, "", defaultOnly, time.Now()); refuse != ErrTwoCredentials {
			t.Fatalf("two credentials: %v", refuse)
		}
	})

	t.Run("store unavailable", func(t *testing.T) {
		fresh, _ := f.client(t, store.TypeOAuth, "mcp:read", nil)
		tok := f.token(t, fresh, "mcp:read", audience)
		f.backend.Store.Close()
		if _, refuse := f.d.Decide(context.Background(), Credential{Value: tok, APIKey: false}, defaultOnly, time.Now()); refuse != ErrUnavailable {
			t.Fatalf("refusal %v, want ErrUnavailable", refuse)
		}
	})
}

func TestErrorWrite(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       *Error
		c         Challenge
		challenge string
		body      string
	}{
		{"no credential", ErrNoCredential, Challenge{Realm: "blnk", Scope: "mcp:read"},
			`Bearer realm="blnk", scope="mcp:read"`,
			`{"error":"unauthorized","error_description":"a bearer token or API key is required"}`},
		{"invalid token with metadata", ErrInvalidToken, Challenge{Realm: "r", ResourceMetadata: "https://api.example.test/.well-known/oauth-protected-resource/mcp"},
			`Bearer realm="r", error="invalid_token", error_description="the access token is invalid, expired or revoked", resource_metadata="https://api.example.test/.well-known/oauth-protected-resource/mcp"`,
			`{"error":"invalid_token","error_description":"the access token is invalid, expired or revoked"}`},
		{"insufficient scope", ErrInsufficientScope, Challenge{Realm: "blnk", Scope: "keys:write", ResourceMetadata: "https://x/md"},
			`Bearer realm="blnk", error="insufficient_scope", error_description="the credential lacks a required scope", scope="keys:write", resource_metadata="https://x/md"`,
			`{"error":"insufficient_scope","error_description":"the credential lacks a required scope"}`},
		{"unavailable", ErrUnavailable, Challenge{Realm: "blnk", Scope: "mcp:read"}, "",
			`{"error":"temporarily_unavailable","error_description":"cannot check the credential right now; retry shortly"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			tc.err.Write(w, tc.c)
			if w.Code != tc.err.Status {
				t.Errorf("status %d, want %d", w.Code, tc.err.Status)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("challenge\n%s\nwant\n%s", got, tc.challenge)
			}
			if retry := w.Header().Get("Retry-After"); (retry == "1") != (tc.err.Status == http.StatusServiceUnavailable) {
				t.Errorf("Retry-After %q", retry)
			}
			if w.Body.String() != tc.body || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("body %s %v", w.Body, w.Header())
			}
		})
	}
}

// TestDecideMetadataClient: a token the authorization-code flow issued to a
// client known only by its metadata document (client_id an https URL, no
// client record) is accepted when the configuration accepts such clients,
// with at most their configured scopes, and refused once revoked, for
// another audience, or when the configuration no longer accepts them.
func TestDecideMetadataClient(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	const id = "https://app.example.test/client.json"
	issue := func(scopes string) (string, *token.Verified) {
		t.Helper()
		tok, err := f.issuer.IssueFor("master", id, scope.MustParse(scopes), audience, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		vt, err := f.d.Verifier.Verify(tok.Token, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Token, vt
	}
	tok, _ := issue("mcp:read ledgers:read")
	bearer := Credential{Value: tok}

	if _, e := f.d.Decide(context.Background(), bearer, &Resources{Default: audience}, now); e != ErrInvalidToken {
		t.Errorf("without client_metadata: %v, want invalid_token", e)
	}
	bound := scope.MustParse("mcp:*")
	f.d.MetadataScopes = &bound
	p, e := f.d.Decide(context.Background(), bearer, &Resources{Default: audience}, now)
	if e != nil {
		t.Fatalf("a metadata client's token: %v", e)
	}
	if p.Client.ID() != id || p.Client.BoxedID() != id || p.Token.Subject != "master" || p.Scopes.String() != "mcp:read" {
		t.Errorf("principal %+v, scopes %q: want the URL as client, the person as sub, mcp:read only (within the bound)", p.Client.Record(), p.Scopes)
	}
	if _, e := f.d.Decide(context.Background(), bearer, &Resources{Default: resource}, now); e != ErrInvalidToken {
		t.Errorf("another audience: %v", e)
	}
	revoked, vt := issue("mcp:read")
	f.backend.Revoked.Add(vt.JTI, vt.ExpiresAt)
	if _, e := f.d.Decide(context.Background(), Credential{Value: revoked}, &Resources{Default: audience}, now); e != ErrInvalidToken {
		t.Errorf("a revoked metadata client's token: %v", e)
	}
	outside, _ := issue("ledgers:read")
	if p, e := f.d.Decide(context.Background(), Credential{Value: outside}, &Resources{Default: audience}, now); e == nil && !p.Scopes.IsEmpty() {
		t.Errorf("a token with nothing within the bound holds %q", p.Scopes)
	}
}
