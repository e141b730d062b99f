package authcode

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

func TestMatchRedirectURI(t *testing.T) {
	reg := []string{"https://app.example.com/cb", "http://127.0.0.1/callback", "http://[::1]:8080/cb?x=1", "http://localhost/cb", "vscode://blnk.mcp/cb"}
	for uri, want := range map[string]bool{
		"https://app.example.com/cb":           true,
		"https://app.example.com/cb/":          false,
		"https://app.example.com/CB":           false,
		"https://app.example.com:443/cb":       false, // no normalisation
		"https://app.example.com/cb?x=1":       false,
		"https://app.example.com/cb#f":         false,
		"https://app.example.com:8443/cb":      false, // any port only for loopback
		"http://127.0.0.1/callback":            true,
		"http://127.0.0.1:53682/callback":      true,
		"http://127.0.0.1:0/callback":          false,
		"http://127.0.0.1:65536/callback":      false,
		"http://127.0.0.1:53682/callback/x":    false,
		"http://127.0.0.1:53682/callback?a=b":  false,
		"http://evil@127.0.0.1:53682/callback": false,
		"http://127.0.0.2:53682/callback":      false,
		"https://127.0.0.1:53682/callback":     false,
		"HTTP://127.0.0.1:53682/callback":      false,
		"http://[::1]:9/cb?x=1":                true,
		"http://[::1]:9/cb":                    false,
		"http://localhost/cb":                  true,
		"http://localhost:7777/cb":             false, // any port for loopback IP literals only (RFC 8252 §7.3, §8.3)
		"http://LOCALHOST:7777/cb":             false,
		"http://127.0.0.1:7777/cb":             false, // a different loopback host than registered
		"vscode://blnk.mcp/cb":                 true,
		"vscode://blnk.mcp/cb2":                false,
		"":                                     false,
	} {
		if got := MatchRedirectURI(reg, uri); got != want {
			t.Errorf("MatchRedirectURI(%q) = %v, want %v", uri, got, want)
		}
	}
}

func TestValidRedirectURI(t *testing.T) {
	for uri, want := range map[string]bool{
		"https://app.example.com/cb":  true,
		"http://127.0.0.1/cb":         true,
		"http://localhost:3000/cb":    true,
		"http://[::1]/cb":             true,
		"http://app.example.com/cb":   false,
		"https://app.example.com/#x":  false,
		"https://user@app.example/cb": false,
		"/relative":                   false,
		"javascript:alert(1)":         false,
		"data:text/html,x":            false,
		"cursor://anysphere/cb":       true,
		"https://a b/":                false,
	} {
		if got := ValidRedirectURI(uri); got != want {
			t.Errorf("ValidRedirectURI(%q) = %v, want %v", uri, got, want)
		}
	}
}

func TestPKCE(t *testing.T) {
	verifier := strings.Repeat("a", 43)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	if !ValidChallenge(challenge) || !VerifierMatches(verifier, challenge) {
		t.Fatal("RFC 7636 S256 pair refused")
	}
	// RFC 7636 Appendix B.
	if !VerifierMatches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM") {
		t.Error("RFC 7636 appendix B example refused")
	}
	for _, v := range []string{strings.Repeat("a", 42), strings.Repeat("a", 129), strings.Repeat("a", 42) + "+", strings.Repeat("b", 43)} {
		if VerifierMatches(v, challenge) {
			t.Errorf("verifier %q accepted", v)
		}
	}
	if VerifierMatches(challenge, challenge) {
		t.Error("plain (verifier = challenge) accepted")
	}
	for _, c := range []string{"", challenge + "=", challenge[:42], strings.Repeat("+", 43)} {
		if ValidChallenge(c) {
			t.Errorf("challenge %q accepted", c)
		}
	}
}

func TestSealer(t *testing.T) {
	s, err := NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSealer([]byte("another key of thirty-two bytes!"))
	now := time.Now()
	req := Request{ClientID: "blnk_cid_x", RedirectURI: "http://127.0.0.1/cb", State: "s", Challenge: "c", Scope: "mcp:read", Expires: now.Add(time.Minute).Unix()}
	sealed, err := s.Seal(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open(sealed, now)
	if err != nil || got != req {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	if _, err := other.Open(sealed, now); err == nil {
		t.Error("opened under another key")
	}
	if _, err := s.Open(sealed, now.Add(2*time.Minute)); err == nil {
		t.Error("opened after expiry")
	}
	b := []byte(sealed)
	for i := range b {
		tampered := append([]byte{}, b...)
		tampered[i] ^= 1
		if _, err := s.Open(string(tampered), now); err == nil && string(tampered) != sealed {
			t.Fatalf("tampered byte %d accepted", i)
		}
	}
}

func TestResponseAndGranted(t *testing.T) {
	got := Response("https://app.example/cb?x=1", "https://auth.example", url.Values{"code": {"c"}, "state": {"a b&c"}})
	u, _ := url.Parse(got)
	if u.Query().Get("x") != "1" || u.Query().Get("state") != "a b&c" || u.Query().Get("iss") != "https://auth.example" || u.Query().Get("code") != "c" {
		t.Errorf("Response = %s", got)
	}
	if m := Meet(scope.MustParse("*"), scope.MustParse("mcp:read")); m.String() != "mcp:read" {
		t.Errorf("Meet(*, mcp:read) = %s", m)
	}
	if m := Meet(scope.MustParse("mcp:read ledgers:read"), scope.MustParse("mcp:*")); m.String() != "mcp:read" {
		t.Errorf("Meet = %s", m)
	}
	if m := Meet(scope.MustParse("ledgers:read"), scope.MustParse("mcp:read")); !m.IsEmpty() {
		t.Errorf("Meet of disjoint sets = %s", m)
	}
}
