package clientmetadata_test

import (
	"context"
	"errors"
	"strings"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientmetadata"
	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
)

// At the authorization endpoint: a client_id that starts with https:// is a
// Client Identifier URL; resolve it, then match the redirect_uri against the
// document's list before anything is redirected.
func ExampleResolver_Resolve() {
	resolver := clientmetadata.NewResolver(safefetch.Options{
		// AllowPrivate: false, AllowedHosts: nil — the safe defaults.
	})
	authorize := func(ctx context.Context, clientID, redirectURI string) error {
		if !strings.HasPrefix(clientID, "https://") {
			return errors.New("a registered client: look it up in the store")
		}
		doc, err := resolver.Resolve(ctx, clientID)
		if err != nil {
			var e *clientmetadata.Error
			errors.As(err, &e)
			return err // show e.Description() on the error page; never redirect
		}
		for _, ru := range doc.RedirectURIs {
			if ru == redirectURI { // plus any port for loopback IP literals (RFC 8252 §7.3)
				return nil
			}
		}
		return errors.New("redirect_uri not registered")
	}
	_ = authorize
}
