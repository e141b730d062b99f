package blnkapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpscope"
)

// Blnk Core's API-key management behind the gateway.
//
// Blnk Core serves POST /api-keys, GET /api-keys and DELETE /api-keys/:id
// (api/apikeys.go). For a scoped API key it enforces two rules itself: the
// key's owner is the caller's owner (a different "owner" is refused, listing
// and revoking are confined to the caller's owner), and a new key's scopes
// must be covered by the caller's (CanGrantScopes in
// api/middleware/scope.go). For the master key it enforces neither: the
// owner is whatever the request says ("owner" in the body, ?owner= on list
// and revoke) and any scope may be granted.
//
// The gateway calls Blnk with its own upstream key, normally the master key,
// so it must apply those rules itself, with the gateway's client ID as the
// owner and the caller's gateway scopes as the caller's scopes:
//
//   - POST /api-keys: CheckCreate reads the body as strictly as
//     internal/mcpscope reads an MCP message (one reading only) and refuses
//     it unless "owner" is the caller's client ID and every requested scope
//     is a Blnk scope the caller's scopes cover. The body is forwarded byte
//     for byte; the gateway never rewrites it.
//   - GET /api-keys and DELETE /api-keys/:id: OwnerQuery refuses an "owner"
//     parameter naming anyone else and replaces the query with exactly
//     owner=<client ID>. Blnk then lists only that owner's keys, and revokes
//     with "WHERE api_key_id = $1 AND owner_id = $2", so another owner's key
//     is "not found" (404) and stays as it is.
//   - Anything else under /api-keys (another method, a deeper path) is not
//     a Blnk route; it is refused.

// KeysOp is what a request does to Blnk Core's API keys.
type KeysOp int

const (
	// NotKeys: the path's first segment is not "api-keys".
	NotKeys KeysOp = iota
	// KeysOther: under /api-keys, but none of Blnk's three routes.
	KeysOther
	// KeysCreate is POST /api-keys.
	KeysCreate
	// KeysList is GET /api-keys.
	KeysList
	// KeysRevoke is DELETE /api-keys/{id}.
	KeysRevoke
)

// KeysOperation classifies a request by method and decoded path (which
// should be Canonical). It does not allocate.
func KeysOperation(method, path string) KeysOp {
	if firstSegment(path) != resourceNames[resAPIKeys] {
		return NotKeys
	}
	const base = "/api-keys"
	switch {
	case path == base && method == http.MethodPost:
		return KeysCreate
	case path == base && method == http.MethodGet:
		return KeysList
	case method == http.MethodDelete && strings.HasPrefix(path, base+"/"):
		id := path[len(base)+1:]
		if id != "" && strings.IndexByte(id, '/') < 0 {
			return KeysRevoke
		}
	}
	return KeysOther
}

// Errors of CheckCreate and OwnerQuery.
var (
	// ErrMalformed: the body or query is not what Blnk's handler expects,
	// or could be read in more than one way (400).
	ErrMalformed = errors.New("blnkapi: malformed API-key request")
	// ErrTooLarge: the body is longer than MaxCreateBody (413).
	ErrTooLarge = errors.New("blnkapi: API-key request body too large")
	// ErrForeignOwner: the request names an owner other than the caller (403).
	ErrForeignOwner = errors.New("blnkapi: API keys of another owner")
)

// EscalationError reports a requested scope the caller's scopes do not
// cover (403; the challenge names Scope).
type EscalationError struct{ Scope string }

func (e *EscalationError) Error() string {
	return "blnkapi: cannot grant " + e.Scope + ", which the caller does not hold"
}

// MaxCreateBody bounds the body of POST /api-keys that CheckCreate reads: a
// name, an owner, a list of scopes and a date fit in far less.
const MaxCreateBody = 64 << 10

// CheckCreate decides a POST /api-keys for the caller clientID, whose scopes
// cover a scope when covers says so. It reads the body (at most
// MaxCreateBody bytes) and puts it back for the upstream, byte for byte.
//
// The body is judged only when Blnk can read it in no other way (the rules
// of internal/mcpscope): exactly one Content-Type, application/json with at
// most charset=utf-8, no Content-Encoding but identity (else
// mcpscope.ErrMediaType or mcpscope.ErrContentType); valid UTF-8 without a
// byte order mark; one JSON object and nothing after it (Gin decodes the
// first value and ignores the rest); "owner" and "scopes" each exactly once
// and under no other spelling that Go's encoding/json would match to them
// (it matches names with Unicode case folding: "OWNER", "ſcopes" with U+017F)
// — else ErrMalformed.
//
// Then "owner" must be a string equal to clientID (else ErrForeignOwner, or
// ErrMalformed when missing or not a string), and "scopes" an array of Blnk
// scopes, "<resource>:<action>" with a resource Blnk knows or "*" and an
// action of read, write, delete or "*" (else ErrMalformed), each covered
// (else *EscalationError). Other members (name, expires_at) are Blnk's to
// validate.
func CheckCreate(r *http.Request, clientID string, covers func(scope string) bool) error {
	if err := mcpscope.CheckEntity(r); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	owner, scopes, err := parseCreate(body)
	if err != nil {
		return err
	}
	if owner != clientID {
		return ErrForeignOwner
	}
	for _, s := range scopes {
		if !covers(s) {
			return &EscalationError{Scope: s}
		}
	}
	return nil
}

// readBody reads the whole body, at most MaxCreateBody bytes, and restores it.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, fmt.Errorf("%w: no body", ErrMalformed)
	}
	if r.ContentLength > MaxCreateBody {
		return nil, ErrTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxCreateBody+1))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, ErrTooLarge
		}
		return nil, fmt.Errorf("%w: reading the body: %v", ErrMalformed, err)
	}
	if len(body) > MaxCreateBody {
		return nil, ErrTooLarge
	}
	// Close still reaches the original body; the upstream gets these bytes.
	r.Body = struct {
		io.Reader
		io.Closer
	}{bytes.NewReader(body), r.Body}
	r.ContentLength = int64(len(body))
	return body, nil
}

// parseCreate extracts owner and scopes from a body Blnk reads in one way only.
func parseCreate(body []byte) (owner string, scopes []string, err error) {
	bad := func(why string) (string, []string, error) {
		return "", nil, fmt.Errorf("%w: %s", ErrMalformed, why)
	}
	if !utf8.Valid(body) {
		return bad("the body is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bad("the body is not a JSON object")
	}
	var haveOwner, haveScopes bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("malformed JSON")
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return bad("malformed JSON")
		}
		switch {
		case name == "owner":
			if haveOwner {
				return bad(`"owner" given twice`)
			}
			haveOwner = true
			if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &owner) != nil {
				return bad(`"owner" must be a string: your client ID`)
			}
		case name == "scopes":
			if haveScopes {
				return bad(`"scopes" given twice`)
			}
			haveScopes = true
			var list []json.RawMessage
			if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
				return bad(`"scopes" must be an array of strings`)
			}
			for _, item := range list {
				var s string
				if len(item) == 0 || item[0] != '"' || json.Unmarshal(item, &s) != nil || !blnkScope(s) {
					return bad(`each scope must be "<resource>:<action>" with a Blnk resource or "*" and read, write, delete or "*"`)
				}
				scopes = append(scopes, s)
			}
		case strings.EqualFold(name, "owner"), strings.EqualFold(name, "scopes"):
			return bad(fmt.Sprintf("member %q: spell it in lower case", name))
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return bad("malformed JSON")
	}
	if len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) != 0 {
		return bad("data after the JSON object")
	}
	if !haveOwner || !haveScopes {
		return bad(`"owner" and "scopes" are required`)
	}
	return owner, scopes, nil
}

// blnkScope reports whether s is a scope Blnk Core can grant: exactly one
// colon, a known resource or "*", and read, write, delete or "*".
func blnkScope(s string) bool {
	res, act, ok := strings.Cut(s, ":")
	if !ok || res != "*" && !isResourceName(res) {
		return false
	}
	switch act {
	case "read", "write", "delete", "*":
		return true
	}
	return false
}

// isResourceName excludes the aliases, which are path segments, not scope
// resources.
func isResourceName(s string) bool {
	for _, n := range resourceNames {
		if n == s {
			return true
		}
	}
	return false
}

// OwnerQuery decides the query of GET /api-keys and DELETE /api-keys/{id}
// for the caller clientID: an "owner" parameter, if present, must name the
// caller (else ErrForeignOwner; ErrMalformed when the query does not parse).
// It returns the query to forward instead, exactly owner=<clientID>: Blnk's
// handlers read nothing else, and with one parameter every parser agrees.
func OwnerQuery(rawQuery, clientID string) (string, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	for _, o := range q["owner"] {
		if o != clientID {
			return "", ErrForeignOwner
		}
	}
	return "owner=" + url.QueryEscape(clientID), nil
}

// Scopes lists the concrete scopes Blnk Core checks, "<resource>:read",
// ":write" and ":delete" for each resource in Blnk's order, for a route's
// scopes_supported; the api-keys ones only when withKeys (a route that
// refuses /api-keys has no use for them). Each call returns a new slice.
func Scopes(withKeys bool) []string {
	var out []string
	for r := range numResources {
		if r == resAPIKeys && !withKeys {
			continue
		}
		out = append(out, scopes[r][:]...)
	}
	return out
}
