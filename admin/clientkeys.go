package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientassertion"
	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// MaxJWKSURILength bounds a jwks_uri, as the fetcher does.
const MaxJWKSURILength = safefetch.MaxURLLength

// clientAuth decides a new client's authentication method from what was
// asked: a method, and keys for private_key_jwt. Keys without a method mean
// private_key_jwt; nothing means client_secret_basic. Exactly one of jwks
// and jwks_uri goes with private_key_jwt, neither with a secret.
func clientAuth(typ store.Type, method store.AuthMethod, keys store.ClientKeys) (store.AuthMethod, store.ClientKeys, error) {
	if method == "" {
		method = store.AuthSecretBasic
		if !keys.Empty() {
			method = store.AuthPrivateKeyJWT
		}
	}
	if !method.Valid() {
		return "", keys, invalid("token_endpoint_auth_method", `must be "client_secret_basic", "client_secret_post" or "private_key_jwt"`)
	}
	if method != store.AuthPrivateKeyJWT {
		if !keys.Empty() {
			return "", keys, invalid("jwks", "jwks and jwks_uri go with token_endpoint_auth_method private_key_jwt only")
		}
		return method, keys, nil
	}
	if typ != store.TypeOAuth {
		return "", keys, invalid("token_endpoint_auth_method", "an API key is a secret; private_key_jwt is for OAuth clients")
	}
	keys, err := CheckClientKeys(keys)
	return method, keys, err
}

// CheckClientKeys validates a private_key_jwt client's keys: exactly one of
// an inline JWK Set of public signature keys (stored compacted) and an https
// jwks_uri.
func CheckClientKeys(k store.ClientKeys) (store.ClientKeys, error) {
	switch {
	case k.JWKS != "" && k.JWKSURI != "":
		return k, invalid("jwks", "give jwks or jwks_uri, not both")
	case k.JWKS == "" && k.JWKSURI == "":
		return k, invalid("jwks", "a private_key_jwt client needs its public keys: jwks (a JWK Set) or jwks_uri")
	case k.JWKS != "":
		if _, err := clientassertion.ParseKeySet([]byte(k.JWKS)); err != nil {
			return k, invalid("jwks", "%v", err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(k.JWKS)); err != nil {
			return k, invalid("jwks", "is not JSON")
		}
		k.JWKS = buf.String()
	default:
		if err := checkJWKSURI(k.JWKSURI); err != nil {
			return k, err
		}
	}
	return k, nil
}

// checkOwnHost refuses a jwks_uri on the issuer's host and port, which the
// authorization server would refuse at every token request: it never
// fetches keys from itself.
func (s *Service) checkOwnHost(k store.ClientKeys) error {
	if k.JWKSURI == "" || s.Issuer == nil {
		return nil
	}
	if u, err := url.Parse(k.JWKSURI); err == nil && safefetch.SameAuthority(u, s.Issuer) {
		return invalid("jwks_uri", "is on the gateway's own host (%s): host the client's keys elsewhere, or register them inline as jwks", s.Issuer.Host)
	}
	return nil
}

// checkJWKSURI: the URL as the fetcher will read it (safefetch.CheckURL:
// https, no credentials, no fragment, only the bytes RFC 3986 allows), so
// that a URL the gateway would never fetch is refused when it is
// registered, not at the client's first token request. Where it points is
// judged when it is fetched.
func checkJWKSURI(s string) error {
	if _, err := safefetch.CheckURL(s); err != nil {
		var fe *safefetch.Error
		if errors.As(err, &fe) && fe.Detail != "" {
			return invalid("jwks_uri", "must be an https URL the gateway can fetch (%s)", fe.Detail)
		}
		return invalid("jwks_uri", "must be an https URL the gateway can fetch")
	}
	return nil
}
