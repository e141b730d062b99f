package admin_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/sqlite"
)

// publicJWKS is a JWK Set of a new EC key's public half, and the same key
// with its private half (which must never be accepted).
func publicJWKS(t *testing.T, kid string) (public, private string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: kid, Use: "sig", Algorithm: "ES256"}}})
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: kid}}})
	return string(pub), string(priv)
}

// TestHandlerPrivateKeyJWT: the admin API creates a private_key_jwt client
// with inline jwks or a jwks_uri, shows no secret for it, replaces its keys,
// refuses to roll a secret it does not have, and refuses malformed keys
// with a JSON error naming the field, writing nothing.
func TestHandlerPrivateKeyJWT(t *testing.T) { forEachStore(t, testHandlerPrivateKeyJWT) }

func testHandlerPrivateKeyJWT(t *testing.T, f *fixture) {
	a := newAPI(t, f)
	pub, priv := publicJWKS(t, "k1")
	r := a.must(a.do("POST", "/clients", "master", `{"name":"signer","scopes":["mcp:read"],"token_endpoint_auth_method":"private_key_jwt","jwks":`+pub+`}`), 201, "create with jwks")
	id, _ := r.body["client_id"].(string)
	if _, has := r.body["client_secret"]; has || strings.Contains(r.raw, credential.SecretPrefix) {
		t.Errorf("a private_key_jwt client was shown a secret: %s", r.raw)
	}
	if r.body["token_endpoint_auth_method"] != "private_key_jwt" || r.body["secret_hint"] != "" {
		t.Errorf("create answer: %s", r.raw)
	}
	var gotSet, wantSet any
	_ = json.Unmarshal([]byte(pub), &wantSet)
	if b, _ := json.Marshal(r.body["jwks"]); json.Unmarshal(b, &gotSet) != nil || !jsonEqual(gotSet, wantSet) {
		t.Errorf("jwks = %v, want %s", r.body["jwks"], pub)
	}
	c, err := f.st.GetClient(t.Context(), id)
	if err != nil || c.AuthMethod != store.AuthPrivateKeyJWT || c.Keys.JWKS == "" || c.Keys.JWKSURI != "" {
		t.Fatalf("stored: %+v %v", c, err)
	}

	// Keys without a method mean private_key_jwt.
	r = a.must(a.do("POST", "/clients", "master", `{"name":"remote","scopes":["mcp:read"],"jwks_uri":"https://keys.example.com/jwks.json"}`), 201, "create with jwks_uri")
	if r.body["token_endpoint_auth_method"] != "private_key_jwt" || r.body["jwks_uri"] != "https://keys.example.com/jwks.json" || r.body["client_secret"] != nil {
		t.Errorf("create with jwks_uri: %s", r.raw)
	}
	remote, _ := r.body["client_id"].(string)

	// A secret client says so, and still gets its secret.
	r = a.must(a.do("POST", "/clients", "master", `{"name":"post","scopes":["mcp:read"],"token_endpoint_auth_method":"client_secret_post"}`), 201, "create client_secret_post")
	if r.body["token_endpoint_auth_method"] != "client_secret_post" || r.body["client_secret"] == nil {
		t.Errorf("create client_secret_post: %s", r.raw)
	}
	secretClient, _ := r.body["client_id"].(string)

	// Replacing keys: inline by a URL; a secret client has none to replace.
	r = a.must(a.do("PATCH", "/clients/"+id, "master", `{"jwks_uri":"https://keys.example.com/other"}`), 200, "patch jwks_uri")
	if r.body["jwks_uri"] != "https://keys.example.com/other" || r.body["jwks"] != nil {
		t.Errorf("after patch: %s", r.raw)
	}
	r = a.must(a.do("PATCH", "/clients/"+remote, "master", `{"jwks":`+pub+`}`), 200, "patch jwks")
	if r.body["jwks_uri"] != nil || r.body["jwks"] == nil {
		t.Errorf("after patch: %s", r.raw)
	}
	a.must(a.do("PATCH", "/clients/"+secretClient, "master", `{"jwks":`+pub+`}`), 400, "patch jwks of a secret client")
	a.must(a.do("PATCH", "/clients/"+id, "master", `{"token_endpoint_auth_method":"client_secret_basic"}`), 400, "change the method")
	a.must(a.do("POST", "/clients/"+id+"/roll-secret", "master", ``), 400, "roll the secret of a private_key_jwt client")

	before := len(listAll(t, f))
	for name, body := range map[string]string{
		"private key":          `{"name":"x","scopes":["a"],"jwks":` + priv + `}`,
		"both":                 `{"name":"x","scopes":["a"],"jwks":` + pub + `,"jwks_uri":"https://k.example.com/"}`,
		"neither":              `{"name":"x","scopes":["a"],"token_endpoint_auth_method":"private_key_jwt"}`,
		"keys on a secret":     `{"name":"x","scopes":["a"],"token_endpoint_auth_method":"client_secret_basic","jwks":` + pub + `}`,
		"http uri":             `{"name":"x","scopes":["a"],"jwks_uri":"http://k.example.com/jwks"}`,
		"uri with credentials": `{"name":"x","scopes":["a"],"jwks_uri":"https://u:p@k.example.com/jwks"}`,
		"relative uri":         `{"name":"x","scopes":["a"],"jwks_uri":"/jwks"}`,
		"jwks a string":        `{"name":"x","scopes":["a"],"jwks":"` + strings.ReplaceAll(pub, `"`, `\"`) + `"}`,
		"unknown method":       `{"name":"x","scopes":["a"],"token_endpoint_auth_method":"client_secret_jwt"}`,
		"api key with keys":    `{"name":"x","type":"api_key","scopes":["a"],"jwks":` + pub + `}`,
		"empty key set":        `{"name":"x","scopes":["a"],"jwks":{"keys":[]}}`,
		"symmetric key":        `{"name":"x","scopes":["a"],"jwks":{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}}`,
	} {
		r := a.do("POST", "/clients", "master", body)
		if r.status != 400 || r.body["error"] != "invalid_request" || r.body["error_description"] == "" {
			t.Errorf("%s: %d %s, want 400 invalid_request", name, r.status, r.raw)
		} else {
			t.Logf("%s: %s", name, r.body["error_description"])
		}
	}
	if after := len(listAll(t, f)); after != before {
		t.Errorf("refused creations left %d clients", after-before)
	}
}

func listAll(t *testing.T, f *fixture) []*store.Client {
	t.Helper()
	cs, err := f.st.ListClients(t.Context(), store.ListFilter{Limit: 100}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestClientCommandKeys: caddy blnk-auth client create --jwks FILE and
// --jwks-uri URL make private_key_jwt clients and print no secret; update
// replaces the keys; a private key file is refused.
func TestClientCommandKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gateway.db")
	open := func(ctx context.Context, _ *cobra.Command) (store.Store, error) { return sqlite.Open(ctx, path) }
	run := func(args ...string) (map[string]any, error) {
		t.Helper()
		cmd := admin.ClientCommand(open)
		var out, errs bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errs)
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			return nil, err
		}
		var v map[string]any
		if err := json.Unmarshal(out.Bytes(), &v); err != nil {
			t.Fatalf("%v: output is not JSON: %q", args, out.String())
		}
		return v, nil
	}
	pub, priv := publicJWKS(t, "cli")
	dir := t.TempDir()
	pubFile, privFile := filepath.Join(dir, "pub.json"), filepath.Join(dir, "priv.json")
	if err := os.WriteFile(pubFile, []byte(pub), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(privFile, []byte(priv), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := run("create", "--name", "signer", "--scopes", "mcp:read", "--jwks", pubFile)
	if err != nil {
		t.Fatal(err)
	}
	if c["token_endpoint_auth_method"] != "private_key_jwt" || c["client_secret"] != nil || c["jwks"] == nil {
		t.Errorf("create --jwks printed %v", c)
	}
	id, _ := c["client_id"].(string)
	u, err := run("update", id, "--jwks-uri", "https://keys.example.com/jwks.json")
	if err != nil || u["jwks_uri"] != "https://keys.example.com/jwks.json" || u["jwks"] != nil {
		t.Errorf("update --jwks-uri: %v %v", u, err)
	}
	r, err := run("create", "--name", "remote", "--scopes", "mcp:read", "--jwks-uri", "https://keys.example.com/r.json")
	if err != nil || r["token_endpoint_auth_method"] != "private_key_jwt" || r["client_secret"] != nil {
		t.Errorf("create --jwks-uri: %v %v", r, err)
	}
	for name, args := range map[string][]string{
		"private key":  {"create", "--name", "x", "--scopes", "a", "--jwks", privFile},
		"both":         {"create", "--name", "x", "--scopes", "a", "--jwks", pubFile, "--jwks-uri", "https://k.example.com/"},
		"missing file": {"create", "--name", "x", "--scopes", "a", "--jwks", filepath.Join(dir, "nope.json")},
		"http":         {"create", "--name", "x", "--scopes", "a", "--jwks-uri", "http://k.example.com/"},
		"roll":         {"roll-secret", id},
	} {
		if _, err := run(args...); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
