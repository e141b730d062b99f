package authserver

import (
	"encoding/json"
	"net/http"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientassertion"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// serveDocument serves the metadata: GET or HEAD, cacheable.
func (s *Server) serveDocument(w http.ResponseWriter, r *http.Request, doc func() []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		authn.WriteJSON(w, http.StatusMethodNotAllowed, "invalid_request", "use GET")
		return
	}
	s.docs.once.Do(s.buildDocuments)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(doc())
	}
}

// buildDocuments renders the metadata once, at first use: in a Caddy
// config, once every protected route has declared its scopes. (The JWKS is
// rendered per request: keys rotate.)
func (s *Server) buildDocuments() {
	s.docs.metadata = s.metadata()
}

// authMethods are the client authentication methods of the token,
// introspection and revocation endpoints (RFC 8414 §2, RFC 7591 §2).
var authMethods = []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}

// metadata is the RFC 8414 §2 authorization server metadata.
func (s *Server) metadata() []byte {
	iss := s.issuer
	scopes := []string{scope.All}
	if s.cfg.Scopes != nil {
		scopes = s.cfg.Scopes()
	}
	md := map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        iss + TokenPath,
		"jwks_uri":                              iss + JWKSPath,
		"grant_types_supported":                 []string{"client_credentials"},
		"token_endpoint_auth_methods_supported": authMethods,
		// RFC 8414 §2: the algorithms a private_key_jwt assertion may use.
		"token_endpoint_auth_signing_alg_values_supported": clientassertion.Algorithms,
		"scopes_supported": scopes,
		// This server issues no authorization codes; the endpoint exists because
		// MCP SDKs' metadata schemas require one (it refuses every request).
		"authorization_endpoint": iss + AuthorizePath,
		// RFC 8414 requires the member; no response type is supported.
		"response_types_supported": []string{},
		// The official MCP Go SDK refuses metadata without PKCE support, even
		// for client credentials.
		"code_challenge_methods_supported":                         []string{"S256"},
		"introspection_endpoint":                                   iss + IntrospectPath,
		"introspection_endpoint_auth_methods_supported":            authMethods,
		"introspection_endpoint_auth_signing_alg_values_supported": clientassertion.Algorithms,
		"revocation_endpoint":                                      iss + RevokePath,
		"revocation_endpoint_auth_methods_supported":               authMethods,
		"revocation_endpoint_auth_signing_alg_values_supported":    clientassertion.Algorithms,
	}
	b, _ := json.Marshal(md)
	return b
}
