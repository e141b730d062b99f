package clientmetadata

import (
	"errors"
	"strings"
	"testing"
)

// A JWKS fetched from a jwks_uri is as public as the URL: a symmetric key
// there, or a private one, is a key anyone may sign client assertions with.
// The token endpoint checks what it fetched as Parse checks an inline jwks.
func TestCheckJWKS(t *testing.T) {
	pub := `{"kty":"EC","crv":"P-256","kid":"a","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`
	for _, ok := range []string{
		`{"keys":[` + pub + `]}`,
		`{"keys":[]}`,
	} {
		if err := CheckJWKS([]byte(ok)); err != nil {
			t.Errorf("CheckJWKS(%s): %v", ok, err)
		}
	}
	for what, bad := range map[string]string{
		"symmetric key":         `{"keys":[` + pub + `,{"kty":"oct","kid":"b","k":"c2VjcmV0"}]}`,
		"private EC key":        `{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}`,
		"private RSA member":    `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","p":"AQAB"}]}`,
		"duplicate keys member": `{"keys":[],"keys":[` + pub + `]}`,
		"duplicate kid":         `{"keys":[{"kty":"EC","kid":"a","kid":"b"}]}`,
		"keys differs in case":  `{"KEYS":[` + pub + `]}`,
		// Go's encoding/json (and other case-insensitive readers) take the
		// last member that folds to a field's name: a library reading the
		// set that way would see the oct key, not the checked one.
		"keys twice, in two cases":              `{"keys":[` + pub + `],"KEYS":[{"kty":"oct","k":"c2VjcmV0"}]}`,
		"kty twice, in two cases":               `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","KTY":"oct","K":"c2VjcmV0"}]}`,
		"symmetric key member as a Kelvin sign": `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","\u212a":"c2VjcmV0"}]}`,
		"private member in upper case":          `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","D":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}`,
		"not UTF-8":                             "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"\xff\"}]}",
		"trailing data":                         `{"keys":[]}{}`,
		"a key without kty":                     `{"keys":[{"kid":"a"}]}`,
		"keys not an array":                     `{"keys":{}}`,
	} {
		err := CheckJWKS([]byte(bad))
		if !errors.Is(err, ErrKeys) {
			t.Errorf("%s: err %v, want %s", what, err, ReasonKeys)
		} else if strings.Contains(err.Error(), "c2VjcmV0") {
			t.Errorf("%s: the error quotes the key: %v", what, err)
		}
	}
}
