package safefetch_test

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
)

// A client's jwks_uri at the token endpoint (RFC 7523 private_key_jwt): look
// for the assertion's kid in the cached set; when it is missing, Refresh
// once (rate-limited per URL, so invented kids cannot make the gateway
// hammer the client's host) and look again.
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
		body, err := jwks.Get(ctx, jwksURI)
		if err != nil {
			return nil, err // map to invalid_client; log err, send err's Description
		}
		if k, ok := lookup(body); ok {
			return k, nil
		}
		if body, err = jwks.Refresh(ctx, jwksURI); err != nil {
			return nil, err
		}
		if k, ok := lookup(body); ok {
			return k, nil
		}
		return nil, errors.New("unknown kid")
	}
	_ = findKey
}
