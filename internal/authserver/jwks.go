package authserver

import (
	"encoding/json"
	"net/http"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
)

// jwks is the RFC 7517 §5 JWK Set of the verification keys (RFC 8414
// jwks_uri): every key published now, including one not signing yet and one
// replaced whose tokens have not all expired.
func (s *Server) jwks() []byte {
	keys := []map[string]string{}
	if s.cfg.Keys != nil {
		for _, k := range s.cfg.Keys() {
			keys = append(keys, k.JWK())
		}
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// serveJWKS serves the JWKS as it is now, cacheable for JWKSMaxAge: keys are
// published longer than that before they sign, so a verifier that caches it
// as told has every key before it sees a token signed by it.
func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		authn.WriteJSON(w, http.StatusMethodNotAllowed, "invalid_request", "use GET")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", s.jwksCacheControl)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(s.jwks())
	}
}
