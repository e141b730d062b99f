package authcode

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// Request is a validated authorization request on its way from the
// authorization endpoint to the consent page, through the browser. It is
// sealed (AES-256-GCM under a key every instance derives from the store's
// shared session key), so the page reads exactly what the endpoint checked
// and nobody in between can change a byte of it.
type Request struct {
	ClientID    string `json:"client_id"`
	RedirectURI string `json:"redirect_uri"`
	// RedirectGiven: the request named redirect_uri (else the client's only
	// one is used), so the token request must repeat it (RFC 6749 §4.1.3).
	RedirectGiven bool   `json:"redirect_given,omitempty"`
	State         string `json:"state,omitempty"`
	Challenge     string `json:"code_challenge"`
	// Resource is the RFC 8707 resource; "" for the default audience.
	Resource string `json:"resource,omitempty"`
	// Scope is what the client asked for, space-separated; "" asks for all
	// its scopes.
	Scope string `json:"scope,omitempty"`
	// Expires ends the request (unix seconds): the person must decide by then.
	Expires int64 `json:"exp"`
}

// RequestLifetime is how long a person has to sign in and decide.
const RequestLifetime = 10 * time.Minute

// MaxStateLength bounds the state a client may send (it travels twice
// through the browser).
const MaxStateLength = 1024

// MaxNext bounds the path and query a sign-in carries back to where it was
// asked from (the dashboard's next): the consent page's URL with its sealed
// request must fit, so that a person who must sign in first can come back
// to it (through the provider, in a flow cookie kept within the 4 KiB
// browsers keep). The authorization endpoint refuses a request whose
// consent URL would not fit.
const MaxNext = 2048

// ErrBadRequest: the sealed request is not one of ours, was changed, or expired.
var ErrBadRequest = errors.New("the authorization request is invalid or has expired; start again from the application")

// Sealer seals and opens Requests.
type Sealer struct{ aead cipher.AEAD }

// NewSealer derives the request key from the shared secret key (the
// keyring's session key): HMAC-SHA256 with a label, so the key serves this
// purpose only.
func NewSealer(shared []byte) (*Sealer, error) {
	if len(shared) < 16 {
		return nil, errors.New("authcode: shared key too short")
	}
	m := hmac.New(sha256.New, shared)
	m.Write([]byte("blnk authorize request v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal is req sealed, in base64url.
func (s *Sealer) Seal(req Request) (string, error) {
	plain, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte("authorize"))), nil
}

// Open returns the request sealed in sealed, if it is intact and not expired at now.
func (s *Sealer) Open(sealed string, now time.Time) (Request, error) {
	var req Request
	if len(sealed) > 8192 {
		return req, ErrBadRequest
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return req, ErrBadRequest
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte("authorize"))
	if err != nil {
		return req, ErrBadRequest
	}
	if err := json.Unmarshal(plain, &req); err != nil || now.Unix() >= req.Expires {
		return Request{}, ErrBadRequest
	}
	return req, nil
}
