// Package keyring keeps the gateway's token signing keys in the store, sealed
// under the operator's secret, and opens them when an instance starts.
package keyring

import (
	"context"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// Ring is the signing keys an instance opened.
type Ring struct {
	// Keys are every stored key, newest first: the verifier trusts them all.
	Keys []*token.Key
	// Signing is the newest key of the configured algorithm: it signs.
	Signing *token.Key
}

// Load opens every stored signing key and returns them with the one that
// signs (created on first start: instances starting together agree on one).
func Load(ctx context.Context, st store.Store, secret, alg string) (*Ring, error) {
	stored, err := st.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	found := false
	for _, sk := range stored {
		found = found || sk.Algorithm == alg
	}
	if !found {
		k, err := token.GenerateKey(alg)
		if err != nil {
			return nil, err
		}
		sealed, err := Seal(k, secret, time.Now().UTC())
		if err != nil {
			return nil, err
		}
		if _, err := st.EnsureSigningKey(ctx, sealed); err != nil {
			return nil, err
		}
		if stored, err = st.SigningKeys(ctx); err != nil {
			return nil, err
		}
	}
	ring := &Ring{}
	for _, sk := range stored { // newest first
		k, err := Open(sk, secret)
		if err != nil {
			return nil, err
		}
		ring.Keys = append(ring.Keys, k)
		if ring.Signing == nil && k.Algorithm == alg {
			ring.Signing = k
		}
	}
	return ring, nil
}
