package mcpscope

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
)

// JSON-RPC 2.0 error codes used to answer refused requests.
const (
	// CodeParseError: the body is not valid JSON (JSON-RPC 2.0 §5.1).
	CodeParseError = -32700
	// CodeInvalidRequest: the body is not a valid JSON-RPC request
	// (JSON-RPC 2.0 §5.1); also used for batches, which MCP no longer allows.
	CodeInvalidRequest = -32600
	// CodeTooLarge: the body exceeds the gateway's limit. JSON-RPC 2.0
	// leaves -32000 to -32099 to implementations, and MCP (revision
	// 2026-07-28, "Error codes") keeps -32020 and beyond for itself and
	// promises never to define a code in -32000 to -32019; -32013 lies in
	// that implementation-defined part and echoes HTTP 413.
	CodeTooLarge = -32013
	// CodeHeaderMismatch is MCP's HeaderMismatch (revision 2026-07-28):
	// the Mcp-Method or Mcp-Name header disagrees with the body.
	CodeHeaderMismatch = -32020
)

// Answer returns how to answer a request on which Peek or PeekStrict failed
// with err: the HTTP status, and the JSON-RPC error code and message to give
// JSONRPCError. ok is false for errors that deserve no JSON-RPC answer: nil,
// and read failures other than a body too large.
func Answer(err error) (status, code int, message string, ok bool) {
	switch {
	case err == nil:
		return 0, 0, "", false
	case errors.Is(err, ErrMediaType):
		return http.StatusUnsupportedMediaType, CodeInvalidRequest, "Unsupported Media Type: Content-Type must be application/json (charset utf-8 only) with no Content-Encoding", true
	case errors.Is(err, ErrContentType):
		return http.StatusBadRequest, CodeInvalidRequest, "Invalid Request: malformed Content-Type header", true
	case errors.Is(err, ErrUnexpectedBody):
		return http.StatusBadRequest, CodeInvalidRequest, "Invalid Request: this HTTP method carries no body", true
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, CodeTooLarge, "Request body too large", true
	case errors.Is(err, ErrBatch):
		return http.StatusBadRequest, CodeInvalidRequest, "Invalid Request: JSON-RPC batches are not supported", true
	case errors.Is(err, ErrParse):
		return http.StatusBadRequest, CodeParseError, "Parse error", true
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest, CodeInvalidRequest, "Invalid Request", true
	case errors.Is(err, ErrHeaderMismatch):
		return http.StatusBadRequest, CodeHeaderMismatch, "Header mismatch: Mcp-Method or Mcp-Name does not match the body", true
	}
	return 0, 0, "", false
}

// nullID is the id of an answer to a request whose id is unknown.
var nullID = json.RawMessage("null")

// JSONRPCError renders a JSON-RPC 2.0 error response:
//
//	{"jsonrpc":"2.0","id":<id>,"error":{"code":<code>,"message":<message>}}
//
// id is echoed, compacted, when it is a JSON string, number or null; it is
// null when nil or anything else, as JSON-RPC 2.0 §5 requires when the id
// could not be determined.
func JSONRPCError(id json.RawMessage, code int, message string) []byte {
	id = bytes.Trim(id, " \t\r\n")
	if len(id) == 0 || !json.Valid(id) || !validID(id) {
		id = nullID
	}
	type errorObject struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	b, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   errorObject     `json:"error"`
	}{"2.0", id, errorObject{code, message}})
	if err != nil {
		panic("mcpscope: encoding a JSON-RPC error: " + err.Error()) // unreachable: every part is valid
	}
	return b
}
