package authn

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Error is a refused request: an HTTP status, an error code (RFC 6750 §3.1
// for a protected resource, RFC 6749 §5.2 at the OAuth endpoints, or the
// admin API's own) and a description. One value knows all three, and Write
// or WriteJSON puts it on the wire, so that every endpoint refuses alike.
type Error struct {
	Status      int
	Code        string // "" only for a request that carried no credential at all (RFC 6750 §3.1)
	Description string
	// RetryAfter is the Retry-After of a 429 or 503, rounded up to whole
	// seconds; 0 means one second.
	RetryAfter time.Duration
}

// SetRetryAfter puts e's Retry-After on a 429 or 503 answer (RFC 9110 §10.2.3).
func (e *Error) SetRetryAfter(h http.Header) {
	if e.Status != http.StatusServiceUnavailable && e.Status != http.StatusTooManyRequests {
		return
	}
	secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		h.Set("Retry-After", "1")
		return
	}
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// The refusals of a credential: the same answer whichever endpoint it was
// presented to.
var (
	ErrNoCredential      = &Error{Status: http.StatusUnauthorized, Code: "", Description: "a bearer token or API key is required"}
	ErrMalformed         = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed credential header"}
	ErrTwoCredentials    = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one credential presented"}
	ErrInvalidToken      = &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the access token is invalid, expired or revoked"}
	ErrInvalidAPIKey     = &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the API key is invalid, expired or revoked"}
	ErrInsufficientScope = &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the credential lacks a required scope"}
	ErrUnavailable       = &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "cannot check the credential right now; retry shortly"}
)

// Challenge is what a resource's WWW-Authenticate names besides the error
// (RFC 6750 §3, RFC 9728 §5.1).
type Challenge struct {
	// Realm is the protection space: `Bearer realm="<Realm>"`. It must not
	// contain quotes or backslashes.
	Realm string
	// Scope is what the refused request needs; "" names none.
	Scope string
	// ResourceMetadata is the URL of the resource's Protected Resource
	// Metadata (RFC 9728); "" names none.
	ResourceMetadata string
}

// Write answers a refused request to a protected resource: the RFC 6750 §3
// challenge (or, for 503 and 429, Retry-After and no challenge: the
// credential was not judged) and the JSON body of WriteJSON. A request without a credential
// gets a challenge without an error code (RFC 6750 §3.1); its body still
// names the problem, as "unauthorized".
func (e *Error) Write(w http.ResponseWriter, c Challenge) {
	hdr := w.Header()
	if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
		e.SetRetryAfter(hdr)
	} else {
		challenge := `Bearer realm="` + c.Realm + `"`
		if e.Code != "" {
			challenge += `, error="` + e.Code + `", error_description="` + e.Description + `"`
		}
		if c.Scope != "" {
			challenge += `, scope="` + c.Scope + `"`
		}
		if c.ResourceMetadata != "" {
			challenge += `, resource_metadata="` + c.ResourceMetadata + `"`
		}
		hdr.Set("WWW-Authenticate", challenge)
	}
	code := e.Code
	if code == "" {
		code = "unauthorized"
	}
	WriteJSON(w, e.Status, code, e.Description)
}

// WriteJSON writes {"error": code, "error_description": description}, the
// body of RFC 6749 §5.2 that every error answer of the gateway uses.
func WriteJSON(w http.ResponseWriter, status int, code, description string) {
	b, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, description})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// NewError is an Error.
func NewError(status int, code, description string) *Error {
	return &Error{Status: status, Code: code, Description: description}
}
