package safefetch_test

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientmetadata"
	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
)

// A client's jwks_uri at the token endpoint (RFC 7523 private_key_jwt): look
// for the assertion's kid in the cached set; when it is missing, Refresh
// once (rate-limited per URL, so invented kids cannot make the gateway
// hammer the client's host) and look again. Every set fetched is checked
// first (clientmetadata.CheckJWKS: no symmetric or private keys, no
// duplicate members): the set is public, so such a key would let anyone
// sign. A set that fails is Rejected, so it is not kept.
func ExampleFetcher_Refresh() {
	jwks := safefetch.New(safefetch.Options{Timeout: 3 * time.Second})
	findKey := func(ctx context.Context, jwksURI, kid string) (json.RawMessage, error) {
		lookup := func(body []byte) (json.RawMessage, bool) {
			var set struct {
				Keys []json.RawMessage `json:"keys"`
			}
			if json.Unmarshal(body, &set) != nil {
				return nil, false
			}
			for _, k := range set.Keys {
				var h struct {
					Kid string `json:"kid"`
				}
				if json.Unmarshal(k, &h) == nil && h.Kid == kid {
					return k, true
				}
			}
			return nil, false
		}
		fetch := func(fetch func(context.Context, string) ([]byte, error)) ([]byte, error) {
			body, err := fetch(ctx, jwksURI)
			if err != nil {
				return nil, err // map to invalid_client; log err, send err's Description
			}
			if err := clientmetadata.CheckJWKS(body); err != nil {
				jwks.Reject(jwksURI, err)
				return nil, err
			}
			return body, nil
		}
		body, err := fetch(jwks.Get)
		if err != nil {
			return nil, err
		}
		if k, ok := lookup(body); ok {
			return k, nil
		}
		if body, err = fetch(jwks.Refresh); err != nil {
			return nil, err
		}
		if k, ok := lookup(body); ok {
			return k, nil
		}
		return nil, errors.New("unknown kid")
	}
	_ = findKey
}
