package caddymodule

import (
	"errors"
	"net/http"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/blnkapi"
	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpscope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// Refusals on Blnk Core's /api-keys (see blnkapi.CheckCreate and OwnerQuery).
var (
	denyKeysDisabled  = authn.NewError(http.StatusForbidden, "insufficient_scope", "this route does not forward Blnk Core's API-key management (blnk_api manage_api_keys is off)")
	denyKeysRoute     = authn.NewError(http.StatusForbidden, "insufficient_scope", "not one of Blnk Core's API-key routes: POST /api-keys, GET /api-keys, DELETE /api-keys/{id}")
	denyKeysOwner     = authn.NewError(http.StatusForbidden, "insufficient_scope", "API keys can only be managed for your own client ID as owner")
	denyKeysEscalate  = authn.NewError(http.StatusForbidden, "insufficient_scope", "a new key's scopes must be within the caller's")
	denyKeysMalformed = authn.NewError(http.StatusBadRequest, "invalid_request", `the body must be one JSON object with "owner" (your client ID) and "scopes" (Blnk resource:action scopes), each once, in lower case`)
	denyKeysMedia     = authn.NewError(http.StatusUnsupportedMediaType, "invalid_request", "Content-Type must be application/json (charset utf-8 only) with no Content-Encoding")
	denyKeysHeader    = authn.NewError(http.StatusBadRequest, "invalid_request", "malformed Content-Type header, or a body where none belongs")
	denyKeysTooLarge  = authn.NewError(http.StatusRequestEntityTooLarge, "invalid_request", "request body too large")
)

// judgeAPIKeys applies Blnk Core's own rules for a scoped key to a request
// for /api-keys, which Blnk skips for the gateway's master key (authorize
// has refused them already unless the route enables them): a new key's owner
// must be the caller and its scopes within the caller's, and list and revoke
// are pinned to the caller's own keys. Requests for other resources pass untouched.
func (h *Auth) judgeAPIKeys(w http.ResponseWriter, r *http.Request, clientID string, scopes scope.Set) (done bool, err error) {
	op := blnkapi.KeysOperation(r.Method, r.URL.Path)
	switch {
	case op == blnkapi.NotKeys:
		return false, nil
	case op == blnkapi.KeysCreate:
		err := blnkapi.CheckCreate(r, clientID, scopes.Covers)
		if err == nil {
			return false, nil
		}
		if esc, ok := errors.AsType[*blnkapi.EscalationError](err); ok {
			return true, h.denyNeeding(w, r, denyKeysEscalate, esc.Scope)
		}
		return true, h.deny(w, r, keysDenial(err))
	case op == blnkapi.KeysList, op == blnkapi.KeysRevoke:
		q, err := blnkapi.OwnerQuery(r.URL.RawQuery, clientID)
		if err != nil {
			return true, h.deny(w, r, keysDenial(err))
		}
		r.URL.RawQuery = q
		return false, nil
	}
	return true, h.deny(w, r, denyKeysRoute)
}

// keysDenial maps an error of blnkapi's /api-keys checks to its answer.
func keysDenial(err error) *authn.Error {
	switch {
	case errors.Is(err, blnkapi.ErrForeignOwner):
		return denyKeysOwner
	case errors.Is(err, mcpscope.ErrMediaType):
		return denyKeysMedia
	case errors.Is(err, mcpscope.ErrContentType), errors.Is(err, mcpscope.ErrUnexpectedBody):
		return denyKeysHeader
	case errors.Is(err, blnkapi.ErrTooLarge):
		return denyKeysTooLarge
	}
	return denyKeysMalformed
}
