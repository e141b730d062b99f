package clientmetadata

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzParseClientID: an accepted client ID is an https URL with a real path
// and nothing a normalizing reader would read as another URL.
func FuzzParseClientID(f *testing.F) {
	for _, s := range []string{
		"https://example.com/client.json", "https://example.com/a/%2e%2E/b", "https://example.com/?",
		"https://example.com/a/./b", "https://a@b/c", "https://example.com:443/c#", "https://[::1]/c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseClientID(s)
		if err != nil {
			if ReasonOf(err) != ReasonClientID {
				t.Fatalf("ParseClientID(%q): reason %q", s, ReasonOf(err))
			}
			return
		}
		if len(s) > MaxClientIDLength || strings.ContainsAny(s, "?#") || u.User != nil || u.Scheme != "https" {
			t.Fatalf("ParseClientID accepted %q", s)
		}
		if p := u.EscapedPath(); p == "" || p == "/" {
			t.Fatalf("ParseClientID accepted %q without a path", s)
		}
		for _, seg := range strings.Split(u.EscapedPath(), "/") {
			dec, err := url.PathUnescape(seg)
			if err == nil && (dec == "." || dec == "..") {
				t.Fatalf("ParseClientID accepted %q with dot segment %q", s, seg)
			}
		}
		if lp := strings.ToLower(u.EscapedPath()); strings.Contains(lp, "%2f") || strings.Contains(lp, "%5c") {
			t.Fatalf("ParseClientID accepted %q with an encoded separator", s)
		}
		if u.String() != s {
			t.Fatalf("ParseClientID(%q) re-serializes as %q: two readers would differ", s, u.String())
		}
	})
}

// FuzzParse: no document makes Parse panic, and an accepted one keeps every
// promise of Document.
func FuzzParse(f *testing.F) {
	const id = "https://app.example/client.json"
	for _, s := range []string{
		`{"client_id":"` + id + `","client_name":"A","redirect_uris":["https://app.example/cb"]}`,
		`{"client_id":"` + id + `","client_name":"A","token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"],"jwks":{"keys":[{"kty":"EC","x":"1"}]}}`,
		`{"client_id":"` + id + `","redirect_uris":["http://127.0.0.1/cb","com.example:/x"],"scope":"a b","client_name":"x"}`,
		`{"client_id":"` + id + `","client_id":"x"}`, `[]`, `{}`, `{"a":`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := Parse(id, body)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		if d.ClientID != id {
			t.Fatalf("client_id %q accepted", d.ClientID)
		}
		if strings.TrimSpace(d.ClientName) == "" || !displayable(d.ClientName) {
			t.Fatalf("client_name %q accepted", d.ClientName)
		}
		if d.TokenEndpointAuthMethod != AuthMethodNone && d.TokenEndpointAuthMethod != AuthMethodPrivateKeyJWT {
			t.Fatalf("auth method %q accepted", d.TokenEndpointAuthMethod)
		}
		if d.TokenEndpointAuthMethod == AuthMethodPrivateKeyJWT && d.JWKS == nil && d.JWKSURI == "" {
			t.Fatal("private_key_jwt without keys accepted")
		}
		if d.JWKS != nil && d.JWKSURI != "" {
			t.Fatal("jwks and jwks_uri accepted together")
		}
		if slices.Contains(d.GrantTypes, "authorization_code") && len(d.RedirectURIs) == 0 {
			t.Fatal("authorization_code without redirect_uris accepted")
		}
		for _, ru := range d.RedirectURIs {
			if why := checkRedirectURI(ru); why != "" || strings.Contains(ru, "#") {
				t.Fatalf("redirect URI %q accepted", ru)
			}
		}
		var m map[string]json.RawMessage // encoding/json matches map keys exactly
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("encoding/json refuses an accepted document: %v", err)
		}
		for _, k := range []string{"client_secret", "client_secret_expires_at"} {
			if _, ok := m[k]; ok {
				t.Fatalf("a document with %s accepted", k)
			}
		}
		var cid string
		if err := json.Unmarshal(m["client_id"], &cid); err != nil || cid != id {
			t.Fatalf("encoding/json reads client_id as %q (%v)", cid, err)
		}
	})
}
