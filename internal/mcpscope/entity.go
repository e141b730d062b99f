package mcpscope

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// Errors about how a message is framed rather than what it says. Answer maps
// them to 415 and 400.
var (
	// ErrMediaType reports a body the gateway will not read because the
	// upstream could decode it differently: a media type other than
	// application/json, a parameter other than charset=utf-8, or a
	// Content-Encoding other than identity.
	ErrMediaType = errors.New("mcpscope: unsupported media type")
	// ErrContentType reports a Content-Type header that is repeated or does
	// not parse (RFC 9110 §8.3).
	ErrContentType = errors.New("mcpscope: malformed Content-Type header")
	// ErrUnexpectedBody reports a body on a GET, HEAD, DELETE or OPTIONS
	// request, which carries no message for the gateway to judge.
	ErrUnexpectedBody = errors.New("mcpscope: request body not allowed with this method")
)

// checkEntity admits a request's body to be judged only when the upstream
// can read it in exactly one way: one Content-Type that is application/json
// with at most charset=utf-8, and no Content-Encoding but identity. A
// server decoding by the declared charset (Node's express.json() accepts any
// "utf-*", UTF-7 included) or inflating gzip would otherwise act on a
// message the gateway never saw. Bodiless methods must have no body at all.
func checkEntity(r *http.Request) error {
	if bodiless(r.Method) {
		// ContentLength is 0 for a request without a body, -1 for one with
		// a chunked body.
		if r.ContentLength != 0 {
			return fmt.Errorf("%w: %s", ErrUnexpectedBody, r.Method)
		}
		return nil
	}
	if err := checkContentType(r.Header[headerContentType]); err != nil {
		return err
	}
	if enc := r.Header[headerContentEncoding]; len(enc) > 0 &&
		(len(enc) != 1 || !strings.EqualFold(strings.TrimSpace(enc[0]), "identity")) {
		return fmt.Errorf("%w: Content-Encoding %q", ErrMediaType, strings.Join(enc, ", "))
	}
	return nil
}

const (
	headerContentType     = "Content-Type"
	headerContentEncoding = "Content-Encoding"
)

// checkContentType checks the Content-Type header values of a request with
// a body.
func checkContentType(values []string) error {
	switch len(values) {
	case 0:
		return fmt.Errorf("%w: Content-Type missing (application/json required)", ErrMediaType)
	case 1:
	default:
		// Servers disagree on which one counts (Node keeps the first).
		return fmt.Errorf("%w: more than one Content-Type", ErrContentType)
	}
	v := values[0]
	switch v {
	case "application/json", "application/json; charset=utf-8", "application/json;charset=utf-8":
		return nil // what SDK clients send: no parsing, no allocation
	}
	mediaType, params, err := mime.ParseMediaType(v)
	if err != nil {
		// This includes a parameter given twice (charset=utf-8;
		// charset=utf-7), where parsers keep the first or the last.
		return fmt.Errorf("%w: %v", ErrContentType, err)
	}
	if mediaType != "application/json" {
		return fmt.Errorf("%w: %s (application/json required)", ErrMediaType, mediaType)
	}
	// mime decodes RFC 2231 forms (charset*=utf-8''utf-7) that other parsers
	// take as a parameter named "charset*": refuse rather than guess.
	if strings.IndexByte(v, '*') >= 0 {
		return fmt.Errorf("%w: extended parameters are not accepted", ErrMediaType)
	}
	for name, value := range params {
		if name != "charset" {
			return fmt.Errorf("%w: parameter %q", ErrMediaType, name)
		}
		if !strings.EqualFold(value, "utf-8") {
			return fmt.Errorf("%w: charset %q (only utf-8)", ErrMediaType, value)
		}
	}
	return nil
}
