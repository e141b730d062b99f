package resourceserver

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/blnkapi"
	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpscope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// authorize checks that scopes cover what the request needs here: the
// route's scopes, the JSON-RPC method's on an MCP route, the operation's on a
// Blnk API, and on Blnk's /api-keys its own rules for the caller clientID.
// If not, it answers (403, or a JSON-RPC error for a malformed MCP message)
// and reports done. Otherwise more and op are what the request needs beyond
// the route's scopes, so that its authority can be re-judged while it runs.
func (rt *Route) authorize(w http.ResponseWriter, r *http.Request, p *Pass) (more scope.Set, op string, done bool, err error) {
	scopes := p.Scopes
	if rt.mcp != nil {
		call, perr := mcpscope.PeekStrict(r, rt.mcp.MaxBodySize)
		if perr != nil {
			return more, "", true, rt.answerJSONRPC(w, r, p, call.ID, perr)
		}
		p.mcpMethod, p.mcpName = call.Method, call.Name
		needs := rt.mcp.Policy.Required(call)
		if !scopes.CoversAll(rt.required) || !scopes.CoversAll(needs) {
			return more, "", true, rt.denyNeeding(w, r, p, authn.ErrInsufficientScope, rt.required.Union(needs).String())
		}
		return needs, "", false, nil
	}
	if rt.blnk != nil {
		// Judge a Blnk path only when every hop after this one reads it alike.
		if !blnkapi.Canonical(r.URL.Path, r.URL.RawPath) {
			return more, "", true, rt.deny(w, r, p, denyPathNotCanonical)
		}
		// Before the scopes, so that no challenge asks for a scope that
		// cannot help.
		if !rt.blnk.ManageAPIKeys && blnkapi.KeysOperation(r.Method, r.URL.Path) != blnkapi.NotKeys {
			return more, "", true, rt.deny(w, r, p, denyKeysDisabled)
		}
	}
	op, need, ok := rt.permits(r, scopes)
	if !ok {
		return more, "", true, rt.denyNeeding(w, r, p, authn.ErrInsufficientScope, need)
	}
	p.op = op
	if rt.blnk != nil {
		if done, err := rt.judgeAPIKeys(w, r, p); done {
			return more, "", true, err
		}
	}
	return more, op, false, nil
}

// answerJSONRPC refuses a malformed MCP message as MCP clients expect: a
// JSON-RPC error, never a crash, and nothing reaches the upstream.
func (rt *Route) answerJSONRPC(w http.ResponseWriter, r *http.Request, p *Pass, id json.RawMessage, err error) error {
	status, code, msg, ok := mcpscope.Answer(err)
	if !ok {
		status, code, msg = http.StatusBadRequest, -32600, "Invalid Request"
	}
	rt.decide(r, p, "invalid_request", msg, status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(mcpscope.JSONRPCError(id, code, msg))
	return nil
}

// permits reports whether scopes cover what the request needs here: the
// route's scopes, and for a Blnk API the scope of the operation. When not,
// need is what to name in the challenge ("" for the route's scopes).
func (rt *Route) permits(r *http.Request, scopes scope.Set) (op, need string, ok bool) {
	if !scopes.CoversAll(rt.required) {
		return "", "", false
	}
	if rt.blnk != nil {
		var known bool
		op, known = blnkapi.RequiredScope(r.Method, r.URL.Path)
		if !known || !scopes.Covers(op) {
			return "", rt.withRequired(op), false
		}
	}
	return op, "", true
}

// withRequired joins the route's scopes and one more, for a challenge.
func (rt *Route) withRequired(extra string) string {
	if extra == "" {
		return rt.required.String()
	}
	if rt.required.IsEmpty() {
		return extra
	}
	return rt.required.String() + " " + extra
}

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
func (rt *Route) judgeAPIKeys(w http.ResponseWriter, r *http.Request, p *Pass) (done bool, err error) {
	clientID, scopes := p.Client.ID(), p.Scopes
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
			return true, rt.denyNeeding(w, r, p, denyKeysEscalate, esc.Scope)
		}
		return true, rt.deny(w, r, p, keysDenial(err))
	case op == blnkapi.KeysList, op == blnkapi.KeysRevoke:
		q, err := blnkapi.OwnerQuery(r.URL.RawQuery, clientID)
		if err != nil {
			return true, rt.deny(w, r, p, keysDenial(err))
		}
		r.URL.RawQuery = q
		return false, nil
	}
	return true, rt.deny(w, r, p, denyKeysRoute)
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
