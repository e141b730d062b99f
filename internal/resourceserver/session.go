package resourceserver

import (
	"errors"
	"io"
	"net/http"

	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpscope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpsession"
)

// sessionHeader is the MCP Streamable HTTP session header (canonical form).
const sessionHeader = "Mcp-Session-Id"

// bindSession keeps MCP sessions to the client (and person, sessionOwner)
// that opened them: the session ID the request carries must be one this
// gateway wrapped for this owner (package mcpsession); it goes upstream unwrapped, and the upstream's
// session ID in the response comes back wrapped. A foreign, tampered or
// made-up ID gets what the MCP specification gives an unknown session, 404,
// and never reaches the upstream. done reports that it answered.
func (rt *Route) bindSession(w http.ResponseWriter, r *http.Request, p *Pass) (done bool) {
	binder := rt.sh.Sessions
	owner := sessionOwner(p)
	p.session = sessionWriter{ResponseWriter: w, binder: binder, owner: owner, bound: true}
	switch ids := r.Header[sessionHeader]; {
	case len(ids) > 1:
		_ = rt.answerJSONRPC(w, r, p, nil, errors.New("two session IDs"))
		return true
	case len(ids) == 1:
		upstream, ok := binder.Unwrap(owner, ids[0])
		if !ok {
			rt.decide(r, p, "unknown_session", "the session ID is not one this gateway gave this client", http.StatusNotFound)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write(mcpscope.JSONRPCError(nil, -32001, "Session not found"))
			return true
		}
		r.Header[sessionHeader] = []string{upstream}
	}
	return false
}

// sessionOwner is whom a session is bound to: the client, or, for a token a
// client holds for a person (authorization-code flow, sub ≠ client_id), the
// client and that person, since many people use one client (MCP security
// best practices: bind session IDs to the user). Client IDs never contain
// NUL, so the pair reads one way only, and never as a client ID alone.
func sessionOwner(p *Pass) string {
	id := p.Client.ID()
	if p.Token != nil && p.Token.Subject != id {
		return id + "\x00" + p.Token.Subject
	}
	return id
}

// sessionWriter wraps the upstream's Mcp-Session-Id in the response for the
// client, whichever way the response starts. Unwrap lets
// http.ResponseController reach the writer beneath (hijacking, deadlines).
type sessionWriter struct {
	http.ResponseWriter
	binder  *mcpsession.Binder
	owner   string // sessionOwner
	bound   bool   // the request's session was handled (by this or an earlier route)
	started bool
}

func (s *sessionWriter) start() {
	if s.started {
		return
	}
	s.started = true
	hdr := s.ResponseWriter.Header()
	if ids := hdr[sessionHeader]; len(ids) == 1 {
		hdr[sessionHeader] = []string{s.binder.Wrap(s.owner, ids[0])}
	} else if len(ids) > 1 {
		delete(hdr, sessionHeader) // ambiguous: no client could use it
	}
}

func (s *sessionWriter) WriteHeader(code int) {
	if code >= 200 {
		s.start()
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *sessionWriter) Write(b []byte) (int, error) {
	s.start()
	return s.ResponseWriter.Write(b)
}

// ReadFrom keeps the writer beneath's sendfile/splice path when it has one.
func (s *sessionWriter) ReadFrom(r io.Reader) (int64, error) {
	s.start()
	if rf, ok := s.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(s.ResponseWriter, r)
}

// FlushError flushes after the header is in place: http.ResponseController
// would otherwise unwrap past this writer and send the header unwrapped.
func (s *sessionWriter) FlushError() error {
	s.start()
	return http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap returns the writer beneath, for http.ResponseController.
func (s *sessionWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Push passes HTTP/2 server push through, as Caddy's own wrappers do.
func (s *sessionWriter) Push(target string, opts *http.PushOptions) error {
	if p, ok := s.ResponseWriter.(http.Pusher); ok {
		return p.Push(target, opts)
	}
	return http.ErrNotSupported
}
