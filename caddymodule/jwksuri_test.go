package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestCaddyfileJWKSURI: the jwks_uri block adapts to the app's JSON, and
// its mistakes are errors pointing at the Caddyfile.
func TestCaddyfileJWKSURI(t *testing.T) {
	cfg := "{\n\tblnk_auth {\n\t\tjwks_uri {\n\t\t\tallow_private\n\t\t\tallowed_hosts keys.example.com k2.example.com\n\t\t\ttrusted_ca_file /etc/ca.pem\n\t\t\tmin_refresh 10s\n\t\t}\n\t}\n}\n:80 {\n\trespond ok\n}"
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Apps struct {
			BlnkAuth struct {
				JWKSURI map[string]any `json:"jwks_uri"`
			} `json:"blnk_auth"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(doc.Apps.BlnkAuth.JWKSURI)
	want := `{"allow_private":true,"allowed_hosts":["keys.example.com","k2.example.com"],"min_refresh":10000000000,"trusted_ca_file":"/etc/ca.pem"}`
	if string(got) != want {
		t.Errorf("jwks_uri adapted to %s, want %s", got, want)
	}
	for name, block := range map[string]string{
		"unknown option":       "foo",
		"allow_private arg":    "allow_private yes",
		"allowed_hosts empty":  "allowed_hosts",
		"trusted_ca_file two":  "trusted_ca_file a b",
		"min_refresh not time": "min_refresh soon",
	} {
		cfg := "{\n\tblnk_auth {\n\t\tjwks_uri {\n\t\t\t" + block + "\n\t\t}\n\t}\n}\n:80 {\n\trespond ok\n}"
		if _, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil); err == nil || !strings.Contains(err.Error(), "Caddyfile:") {
			t.Errorf("%s: %v, want an error with its position", name, err)
		}
	}
	// A CA file that is not there, or holds no certificate, stops the config.
	for _, c := range []*JWKSURIConfig{{TrustedCAFile: "/nonexistent/ca.pem"}, {AllowedHosts: []string{"https://keys.example.com/"}}} {
		if _, err := c.options(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
