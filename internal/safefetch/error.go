package safefetch

import "errors"

// Reason says which rule a fetch broke. Callers map it to their protocol's
// error (for example invalid_client at the token endpoint); the set may grow.
type Reason string

// The reasons a fetch fails.
const (
	// ReasonURL: the URL breaks a rule (scheme, userinfo, fragment, host form, length).
	ReasonURL Reason = "bad_url"
	// ReasonHost: the host is not in Options.AllowedHosts.
	ReasonHost Reason = "host_not_allowed"
	// ReasonAddress: the host resolved to (or is) a special-use address and
	// Options.AllowPrivate is off.
	ReasonAddress Reason = "address_forbidden"
	// ReasonUnreachable: DNS, connection or TLS failure.
	ReasonUnreachable Reason = "unreachable"
	// ReasonTimeout: the whole fetch took longer than Options.Timeout.
	ReasonTimeout Reason = "timeout"
	// ReasonRedirect: the server answered with a redirect; none are followed.
	ReasonRedirect Reason = "redirect"
	// ReasonStatus: the server answered with a status other than 200.
	ReasonStatus Reason = "bad_status"
	// ReasonContentType: the answer is not JSON (application/json or application/*+json),
	// or is content-encoded.
	ReasonContentType Reason = "bad_content_type"
	// ReasonTooLarge: the body is longer than Options.MaxBytes.
	ReasonTooLarge Reason = "too_large"
	// ReasonBusy: Options.MaxConcurrent fetches are already under way.
	ReasonBusy Reason = "busy"
	// ReasonCanceled: the caller's context ended before the fetch did (the
	// fetch itself goes on for other callers and the cache).
	ReasonCanceled Reason = "canceled"
	// ReasonRejected: the caller found the document invalid (Fetcher.Reject);
	// Err is the caller's own error.
	ReasonRejected Reason = "rejected"
)

var reasonText = map[Reason]string{
	ReasonURL:  "the URL is not an acceptable https URL",
	ReasonHost: "the host is not on the allowlist",
	// The same words as ReasonUnreachable: an outsider must not learn which
	// names the gateway's resolver places inside (logs have the Reason).
	ReasonAddress:     "the host could not be reached",
	ReasonUnreachable: "the host could not be reached",
	ReasonTimeout:     "the fetch timed out",
	ReasonRedirect:    "the server answered with a redirect",
	ReasonStatus:      "the server did not answer 200 OK",
	ReasonContentType: "the server did not answer with JSON",
	ReasonTooLarge:    "the document is too large",
	ReasonBusy:        "too many fetches under way",
	ReasonCanceled:    "the request ended before the fetch",
	ReasonRejected:    "the document was found invalid",
}

// Error is every error Get and Refresh return. Its text (for logs) names the
// reason and the cause (a network error, a status code, the address dialled)
// but never the response body, which the remote party chose. On the wire
// (an error_description) put Description, which reveals nothing about the
// gateway's network.
type Error struct {
	Reason Reason
	// Detail adds a fact the caller may log: "status 404", "is a fragment".
	// It never holds response content.
	Detail string
	// Err is the underlying cause, if any (a *net.OpError, context.DeadlineExceeded...).
	Err error
}

func (e *Error) Error() string {
	s := "safefetch: " + e.Description()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Description is a fixed sentence for the reason, fit for an OAuth
// error_description: it contains nothing the remote party or the caller
// chose, and does not tell a refused address from an unreachable host.
func (e *Error) Description() string {
	if t, ok := reasonText[e.Reason]; ok {
		return t
	}
	return string(e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, safefetch.ErrTooLarge) and the like true for any
// *Error with the same Reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason && t.Detail == "" && t.Err == nil
}

// Sentinels for errors.Is, one per Reason.
var (
	ErrURL         = &Error{Reason: ReasonURL}
	ErrHost        = &Error{Reason: ReasonHost}
	ErrAddress     = &Error{Reason: ReasonAddress}
	ErrUnreachable = &Error{Reason: ReasonUnreachable}
	ErrTimeout     = &Error{Reason: ReasonTimeout}
	ErrRedirect    = &Error{Reason: ReasonRedirect}
	ErrStatus      = &Error{Reason: ReasonStatus}
	ErrContentType = &Error{Reason: ReasonContentType}
	ErrTooLarge    = &Error{Reason: ReasonTooLarge}
	ErrBusy        = &Error{Reason: ReasonBusy}
	ErrCanceled    = &Error{Reason: ReasonCanceled}
	ErrRejected    = &Error{Reason: ReasonRejected}
)

// ReasonOf returns the Reason of err if it is (or wraps) an *Error, else "".
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
