package authserver

import "encoding/json"

// jwks is the RFC 7517 §5 JWK Set of the verification keys (RFC 8414 jwks_uri).
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
