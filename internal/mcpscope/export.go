package mcpscope

import "net/http"

// CheckEntity applies this package's entity rules (one Content-Type,
// application/json with at most charset=utf-8, no Content-Encoding but
// identity; no body on GET, HEAD, DELETE or OPTIONS) for other packages that
// judge a JSON body the upstream will act on: internal/blnkapi reads Blnk
// Core's POST /api-keys under the same rules. It returns ErrMediaType,
// ErrContentType or ErrUnexpectedBody, and reads nothing.
func CheckEntity(r *http.Request) error { return checkEntity(r) }
