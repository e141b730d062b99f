package authserver

import (
	"encoding/json"
	"net/http"
	"slices"

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
	grants := []string{"client_credentials"}
	responseTypes := []string{} // RFC 8414 requires the member
	if s.cfg.Flow != nil && s.cfg.ConsentURL != "" {
		grants = []string{"authorization_code", "client_credentials", "refresh_token"}
		responseTypes = []string{"code"}
	}
	md := map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        iss + TokenPath,
		"jwks_uri":                              iss + JWKSPath,
		"grant_types_supported":                 grants,
		"token_endpoint_auth_methods_supported": authMethods,
		// RFC 8414 §2: the algorithms a private_key_jwt assertion may use.
		"token_endpoint_auth_signing_alg_values_supported": clientassertion.Algorithms,
		"scopes_supported": scopes,
		// Without the flow the endpoint refuses every request; it is listed
		// anyway because MCP SDKs' metadata schemas require one.
		"authorization_endpoint":   iss + AuthorizePath,
		"response_types_supported": responseTypes,
		// PKCE with S256 only (plain is refused); the official MCP Go SDK
		// refuses metadata without it, even for client credentials.
		"code_challenge_methods_supported":                         []string{"S256"},
		"introspection_endpoint":                                   iss + IntrospectPath,
		"introspection_endpoint_auth_methods_supported":            authMethods,
		"introspection_endpoint_auth_signing_alg_values_supported": clientassertion.Algorithms,
		"revocation_endpoint":                                      iss + RevokePath,
		"revocation_endpoint_auth_methods_supported":               authMethods,
		"revocation_endpoint_auth_signing_alg_values_supported":    clientassertion.Algorithms,
	}
	if s.cfg.Flow != nil && s.cfg.ConsentURL != "" {
		md["response_modes_supported"] = []string{"query"}
		// RFC 9207: every authorization response carries iss.
		md["authorization_response_iss_parameter_supported"] = true
		// With Flow.Public, an https URL as client_id names a client by its
		// Client ID Metadata Document; public clients authenticate with none.
		md["client_id_metadata_document_supported"] = s.cfg.Flow.Public != nil
		if s.cfg.Flow.Public != nil {
			md["token_endpoint_auth_methods_supported"] = append(slices.Clone(authMethods), "none")
			// They revoke with client_id alone too (RFC 7009 §2.1).
			md["revocation_endpoint_auth_methods_supported"] = append(slices.Clone(authMethods), "none")
		}
	}
	b, _ := json.Marshal(md)
	return b
}
