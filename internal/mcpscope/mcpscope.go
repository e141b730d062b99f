// Package mcpscope decides which OAuth scopes a request to an MCP (Model
// Context Protocol) server needs, for a gateway in front of servers speaking
// the Streamable HTTP transport.
//
// Peek reads what a request asks for (its JSON-RPC method and, for
// tools/call, prompts/get and resources/read, the tool, prompt or resource
// it names) without disturbing the request: the upstream server receives the
// body byte for byte. A Policy maps the result to the scopes it requires,
// and JSONRPCError renders the error answers for requests Peek refuses.
//
// Two sources are consulted, by protocol revision:
//
//   - From revision 2026-07-28 on, clients mirror the method into the
//     Mcp-Method header and the name into Mcp-Name (SEP-2243), so that
//     intermediaries need not parse the body. Peek trusts them only when the
//     MCP-Protocol-Version header names such a revision, because from that
//     revision on a server that processes the body must reject a request whose
//     headers disagree with it (400, HeaderMismatch -32020). In front of an
//     upstream not known to perform that check, use PeekStrict instead.
//   - Otherwise, or when the headers are absent, Peek parses the body: one
//     JSON-RPC 2.0 request, notification or response.
//
// # One reading
//
// The gateway judges a message and the upstream acts on it, so both must
// read the same bytes the same way. The rule: a message is judged only when
// every JSON-RPC server can read it in exactly one way, and anything else is
// refused before a byte of it reaches the upstream. In detail:
//
//   - Media type and charset. A request with a body needs exactly one
//     Content-Type, application/json with no parameter but charset=utf-8
//     (any case, quoted or not; no RFC 2231 forms), else 415 (400 when the
//     header is repeated or does not parse). Node's express.json(), which the
//     TypeScript SDK's createMcpExpressApp installs, decodes a body by any
//     declared "utf-*" charset: under charset=utf-7 one body read as
//     tools/list here and as tools/call there.
//   - Content-Encoding: none, or identity; else 415. Servers that inflate
//     gzip, deflate or br would act on bytes the gateway never saw.
//   - Framing. The gateway's HTTP server decodes Content-Length and chunked
//     Transfer-Encoding (and refuses other codings); the proxy behind it
//     frames the body anew, so the upstream receives the bytes judged here.
//   - Bodiless methods. GET, HEAD, DELETE and OPTIONS carry no message; a
//     body on one is refused (400) rather than passed on unjudged.
//   - Bytes. The body must be UTF-8 (RFC 8259 §8.1): decoders replace
//     invalid bytes with U+FFFD in different numbers. A leading byte order
//     mark is not JSON (encoding/json refuses it; Node strips it), so it is
//     refused as a parse error, and so is anything after the one value.
//   - Members. The members that decide the answer (jsonrpc, id, method,
//     params, result, error, and params.name or params.uri) may not appear
//     twice, nor under a spelling that differs only in case (Go's
//     encoding/json matches names without regard to case; JavaScript keeps
//     the last duplicate). A top-level "__proto__" is refused: JavaScript
//     code copying the message by assignment makes it the prototype.
//   - Strings. Escapes decode alike everywhere except an unpaired surrogate
//     (Go yields U+FFFD, JavaScript keeps the surrogate), so a method or name
//     containing U+FFFD is refused.
//   - What does not decide. Whitespace (the same four bytes everywhere),
//     number spellings in an id (echoed verbatim, never judged) and members
//     the policy does not read cannot change the scopes a call needs.
package mcpscope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// HTTP headers of the Streamable HTTP transport, in canonical form: Peek
// looks them up directly in the header map, which net/http fills with
// canonical names.
const (
	HeaderProtocolVersion = "Mcp-Protocol-Version"
	HeaderMethod          = "Mcp-Method"
	HeaderName            = "Mcp-Name"
)

// HeadersSince is the first protocol revision whose clients must send the
// Mcp-Method and Mcp-Name headers and whose servers must check them against
// the body.
const HeadersSince = "2026-07-28"

// Call is what an MCP POST asks for.
type Call struct {
	// Method is the JSON-RPC method, e.g. "tools/call". It is "" for a
	// JSON-RPC response (a client answering a request of the server, before
	// revision 2026-07-28) and for the bodiless GET, HEAD, DELETE and OPTIONS
	// requests; those need only the base read scope.
	Method string
	// Name is, for tools/call, the tool name (params.name); for prompts/get,
	// the prompt name (params.name); for resources/read, the resource URI
	// (params.uri); otherwise "".
	Name string
	// ID is the request id, verbatim, so the gateway can answer errors as
	// JSON-RPC. It shares memory with the restored r.Body, which the
	// upstream reads: never modify its bytes (append is safe, it copies).
	// It is nil for notifications, and when Peek took the call from
	// the headers without reading the body. When Peek or PeekStrict fails,
	// ID is the only field that may be set: with ErrInvalid or
	// ErrHeaderMismatch, when the id itself was readable, that is valid and
	// given once (an "id" repeated, or beside a case variant, has no one
	// reading and is answered with null).
	ID json.RawMessage
}

// Errors returned by Peek and PeekStrict. Answer maps each to the HTTP status
// and JSON-RPC error the gateway should reply with.
var (
	// ErrBatch reports a JSON-RPC batch (a JSON array). Batching was removed
	// from MCP in revision 2025-06-18; a batch could hide a tools/call behind
	// a harmless first member, so it is refused rather than forwarded.
	ErrBatch = errors.New("mcpscope: JSON-RPC batches are not supported")
	// ErrInvalid reports a body that is not one JSON-RPC 2.0 request,
	// notification or response.
	ErrInvalid = errors.New("mcpscope: invalid JSON-RPC message")
	// ErrParse reports a body that is not valid JSON. It wraps ErrInvalid.
	ErrParse = fmt.Errorf("%w: malformed JSON", ErrInvalid)
	// ErrTooLarge reports a body longer than the limit given to Peek.
	ErrTooLarge = errors.New("mcpscope: request body too large")
	// ErrRead reports a failure to read the body, e.g. a broken connection.
	// When the failure is an *http.MaxBytesError from an outer limit, the
	// error also matches ErrTooLarge.
	ErrRead = errors.New("mcpscope: reading request body")
	// ErrHeaderMismatch is returned by PeekStrict when the Mcp-Method or
	// Mcp-Name header disagrees with the body.
	ErrHeaderMismatch = errors.New("mcpscope: Mcp-Method or Mcp-Name header does not match the body")
)

// Method names the package treats specially.
const (
	methodToolsCall     = "tools/call"
	methodPromptsGet    = "prompts/get"
	methodResourcesRead = "resources/read"
)

// namedMember returns the params member that carries the name of what method
// operates on, and whether method has one. These are the three methods for
// which revision 2026-07-28 requires the Mcp-Name header.
func namedMember(method string) (string, bool) {
	switch method {
	case methodToolsCall, methodPromptsGet:
		return "name", true
	case methodResourcesRead:
		return "uri", true
	}
	return "", false
}

// Peek reads the call from an HTTP request.
//
// GET, HEAD, DELETE and OPTIONS requests (the SSE stream and session end of
// revisions before 2026-07-28) carry no message: Peek returns Call{} and no
// error without touching the body.
//
// For any other method, when the MCP-Protocol-Version header is a single
// date no earlier than HeadersSince and the request carries one non-empty
// Mcp-Method header (and, for tools/call, prompts/get and resources/read, one
// non-empty Mcp-Name header, decoded from its "=?base64?…?=" form when so
// encoded), Peek returns what the headers say without reading the body, so
// maxBody is not enforced. Otherwise it reads at most maxBody+1 bytes of the
// body, parses one JSON-RPC object and puts the body back: whatever Peek
// returns, r.Body then yields exactly the bytes the client sent, followed by
// whatever the original body does after them, and r.ContentLength is left
// correct.
//
// Errors: ErrBatch for a JSON array, ErrParse for malformed JSON, ErrInvalid
// for anything else that is not a JSON-RPC 2.0 request, notification or
// response, ErrTooLarge when the body is longer than maxBody (a negative
// maxBody counts as 0), and ErrRead when reading fails.
func Peek(r *http.Request, maxBody int64) (Call, error) {
	if err := checkEntity(r); err != nil || bodiless(r.Method) {
		return Call{}, err
	}
	if headerMode(r.Header) {
		if c, ok := fromHeaders(r.Header); ok {
			return c, nil
		}
	}
	return peekBody(r, maxBody)
}

// PeekStrict is Peek for upstream servers not known to check the Mcp-Method
// and Mcp-Name headers against the body: it always reads and parses the body
// (restoring it as Peek does) and, when the protocol version is one that
// defines the headers, returns ErrHeaderMismatch if a header present on the
// request disagrees with the body (the Call then holds only the id). The
// returned Call always comes from the body.
func PeekStrict(r *http.Request, maxBody int64) (Call, error) {
	if err := checkEntity(r); err != nil || bodiless(r.Method) {
		return Call{}, err
	}
	c, err := peekBody(r, maxBody)
	if err != nil || !headerMode(r.Header) {
		return c, err
	}
	if v := r.Header[HeaderMethod]; len(v) > 0 {
		if len(v) != 1 || v[0] != c.Method {
			return Call{ID: c.ID}, ErrHeaderMismatch
		}
	}
	if _, named := namedMember(c.Method); named {
		if v := r.Header[HeaderName]; len(v) > 0 {
			name, ok := decodeHeaderValue(v[0])
			if len(v) != 1 || !ok || name != c.Name {
				return Call{ID: c.ID}, ErrHeaderMismatch
			}
		}
	}
	return c, nil
}

// bodiless reports whether an MCP server ignores the body of requests with
// this HTTP method. "" is GET for client requests.
func bodiless(method string) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// isDate reports whether s is a protocol revision: a date of the Gregorian
// calendar written YYYY-MM-DD. Such dates compare as strings.
func isDate(s string) bool {
	if len(s) != len("2006-01-02") || s[4] != '-' || s[7] != '-' {
		return false
	}
	var n [8]int
	for i, j := range [8]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if s[j] < '0' || s[j] > '9' {
			return false
		}
		n[i] = int(s[j] - '0')
	}
	year := n[0]*1000 + n[1]*100 + n[2]*10 + n[3]
	month, day := time.Month(n[4]*10+n[5]), n[6]*10+n[7]
	if month < time.January || month > time.December || day < 1 {
		return false
	}
	// Day 0 of the next month is the last day of this one.
	return day <= time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// headerMode reports whether the request's protocol revision is one whose
// Mcp-Method and Mcp-Name headers are checked against the body by the
// server. Anything but a single well-formed date counts as older, which is
// safe: the body is then parsed instead.
func headerMode(h http.Header) bool {
	v := h[HeaderProtocolVersion]
	return len(v) == 1 && isDate(v[0]) && v[0] >= HeadersSince
}

// fromHeaders reads the call from the Mcp-Method and Mcp-Name headers. It
// fails, sending Peek to the body, when a header it needs is missing, empty,
// repeated or undecodable; a compliant upstream rejects such a request
// anyway, and the body is the truth it would act on.
func fromHeaders(h http.Header) (Call, bool) {
	methods := h[HeaderMethod]
	if len(methods) != 1 || methods[0] == "" {
		return Call{}, false
	}
	c := Call{Method: methods[0]}
	if _, named := namedMember(c.Method); named {
		names := h[HeaderName]
		if len(names) != 1 {
			return Call{}, false
		}
		name, ok := decodeHeaderValue(names[0])
		if !ok || name == "" {
			return Call{}, false
		}
		c.Name = name
	}
	return c, true
}

// The sentinel around a Base64-encoded header value (SEP-2243 "Value
// Encoding"): Mcp-Name: =?base64?{Base64EncodedValue}?=
const (
	base64Prefix = "=?base64?"
	base64Suffix = "?="
)

// decodeHeaderValue decodes a header value that may use the Base64 sentinel
// form. The specification makes the markers case-sensitive, but the prefix is
// matched without regard to case, as the official Go SDK does: an upstream
// that decodes "=?BASE64?…?=" must not run a tool other than the one the
// gateway authorized. A value that a stricter upstream takes literally can
// only fail that upstream's header check.
func decodeHeaderValue(v string) (string, bool) {
	if len(v) < len(base64Prefix)+len(base64Suffix) ||
		!strings.EqualFold(v[:len(base64Prefix)], base64Prefix) ||
		!strings.HasSuffix(v, base64Suffix) {
		return v, true
	}
	dec, err := base64.StdEncoding.DecodeString(v[len(base64Prefix) : len(v)-len(base64Suffix)])
	if err != nil || !utf8.Valid(dec) {
		return "", false
	}
	return string(dec), true
}

// initialRead caps the buffer allocated before any byte arrives, so that a
// client announcing a large Content-Length and sending nothing costs little.
const initialRead = 64 << 10

// peekBody reads, parses and restores the body.
func peekBody(r *http.Request, maxBody int64) (Call, error) {
	maxBody = max(maxBody, 0)
	if r.Body == nil || r.Body == http.NoBody {
		return Call{}, fmt.Errorf("%w: empty body", ErrParse)
	}
	if r.ContentLength > maxBody {
		// Decided without reading a byte; the body is untouched.
		return Call{}, fmt.Errorf("%w: Content-Length %d exceeds %d bytes", ErrTooLarge, r.ContentLength, maxBody)
	}
	limit := maxBody + 1
	if maxBody == math.MaxInt64 {
		limit = maxBody
	}
	orig := r.Body
	buf, err := readUpTo(orig, limit, r.ContentLength)
	complete := err == nil && int64(len(buf)) <= maxBody
	if complete {
		// The original body is exhausted: serve the copy. Close still
		// reaches the original.
		r.Body = newReplayBody(buf, nil, orig)
		if r.ContentLength >= 0 {
			r.ContentLength = int64(len(buf))
		}
	} else {
		// Serve what was read, then the rest of the original.
		r.Body = newReplayBody(buf, orig, orig)
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return Call{}, fmt.Errorf("%w: %w: %w", ErrTooLarge, ErrRead, err)
		}
		return Call{}, fmt.Errorf("%w: %w", ErrRead, err)
	}
	if !complete {
		return Call{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxBody)
	}
	return parseMessage(buf)
}

// readUpTo reads from r until EOF or limit bytes. hint is the expected
// length, or negative when unknown. Unlike io.ReadAll it sizes the buffer
// from the hint, without trusting the hint with more than initialRead bytes
// before they arrive.
func readUpTo(r io.Reader, limit, hint int64) ([]byte, error) {
	size := int64(512)
	if hint >= 0 {
		size = hint + 1 // room to see EOF without growing
	}
	size = min(size, limit, initialRead)
	buf := make([]byte, 0, size)
	lr := &io.LimitedReader{R: r, N: limit}
	for {
		if len(buf) == cap(buf) {
			// Double, but not past the limit. When the limit is reached
			// the next Read returns EOF without needing room.
			buf = slices.Grow(buf, int(min(int64(cap(buf)), lr.N)))
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// replayBody is the restored request body: the bytes Peek read, then the
// rest of the original body if it was not exhausted. Close closes the
// original. One allocation holds it all.
type replayBody struct {
	read   bytes.Reader
	rest   io.Reader // nil once the original has reached EOF
	closer io.Closer
}

func newReplayBody(read []byte, rest io.Reader, closer io.Closer) *replayBody {
	b := &replayBody{rest: rest, closer: closer}
	b.read.Reset(read)
	return b
}

func (b *replayBody) Read(p []byte) (int, error) {
	if b.read.Len() > 0 {
		return b.read.Read(p)
	}
	if b.rest == nil {
		return 0, io.EOF
	}
	return b.rest.Read(p)
}

func (b *replayBody) Close() error { return b.closer.Close() }
