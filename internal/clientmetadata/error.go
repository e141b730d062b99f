package clientmetadata

import "errors"

// Reason says which rule a client ID or its document broke. At the token
// endpoint every one of them is invalid_client (RFC 6749 §5.2); at the
// authorization endpoint the request is refused without a redirect (the
// redirect URIs are not trustworthy), as invalid_request or
// unauthorized_client on the error page.
type Reason string

// The reasons Resolve, Parse and ParseClientID fail.
const (
	// ReasonClientID: the client_id is not a Client Identifier URL (draft §3).
	ReasonClientID Reason = "invalid_client_id"
	// ReasonFetch: the document could not be fetched; Err is the *safefetch.Error.
	ReasonFetch Reason = "fetch_failed"
	// ReasonDocument: the document is not a single JSON object of
	// well-typed members (bad JSON, invalid UTF-8, a duplicate member, a
	// member of the wrong type, an unacceptable client_uri, logo_uri, name or scope).
	ReasonDocument Reason = "invalid_document"
	// ReasonMismatch: the document's client_id is not the URL it was fetched from (draft §4).
	ReasonMismatch Reason = "client_id_mismatch"
	// ReasonSecret: the document holds a shared secret or names a
	// shared-secret authentication method (draft §4.1).
	ReasonSecret Reason = "shared_secret"
	// ReasonAuthMethod: token_endpoint_auth_method is neither none nor private_key_jwt.
	ReasonAuthMethod Reason = "unsupported_auth_method"
	// ReasonKeys: jwks holds private key material or is malformed, jwks and
	// jwks_uri are both present, jwks_uri is not an acceptable URL, or
	// private_key_jwt comes without keys.
	ReasonKeys Reason = "invalid_keys"
	// ReasonRedirectURI: redirect_uris is missing while the grant types need
	// it, or one of them is not an acceptable redirect URI.
	ReasonRedirectURI Reason = "invalid_redirect_uri"
)

var reasonText = map[Reason]string{
	ReasonClientID:    "the client_id is not a valid client ID metadata document URL",
	ReasonFetch:       "the client ID metadata document could not be fetched",
	ReasonDocument:    "the client ID metadata document is malformed",
	ReasonMismatch:    "the client ID metadata document names another client_id",
	ReasonSecret:      "a client ID metadata document cannot hold or use a shared secret",
	ReasonAuthMethod:  "the client ID metadata document names an unsupported token_endpoint_auth_method",
	ReasonKeys:        "the client ID metadata document's keys are unacceptable",
	ReasonRedirectURI: "the client ID metadata document's redirect_uris are unacceptable",
}

// Error is every error of this package. Its text never quotes the document.
type Error struct {
	Reason Reason
	// Detail names the member or rule ("redirect_uris[2]: http on a
	// non-loopback host"); never content of the document beyond member names.
	Detail string
	// Err is the cause, if any: a *safefetch.Error for ReasonFetch.
	Err error
}

func (e *Error) Error() string {
	s := "clientmetadata: " + e.Description()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Description is a fixed sentence for the reason, fit for an OAuth
// error_description.
func (e *Error) Description() string {
	if t, ok := reasonText[e.Reason]; ok {
		return t
	}
	return string(e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, clientmetadata.ErrMismatch) and the like true for
// any *Error with the same Reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason && t.Detail == "" && t.Err == nil
}

// Sentinels for errors.Is, one per Reason.
var (
	ErrClientID    = &Error{Reason: ReasonClientID}
	ErrFetch       = &Error{Reason: ReasonFetch}
	ErrDocument    = &Error{Reason: ReasonDocument}
	ErrMismatch    = &Error{Reason: ReasonMismatch}
	ErrSecret      = &Error{Reason: ReasonSecret}
	ErrAuthMethod  = &Error{Reason: ReasonAuthMethod}
	ErrKeys        = &Error{Reason: ReasonKeys}
	ErrRedirectURI = &Error{Reason: ReasonRedirectURI}
)

// ReasonOf returns the Reason of err if it is (or wraps) an *Error, else "".
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
