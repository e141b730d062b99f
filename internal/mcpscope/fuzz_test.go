package mcpscope

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
)

// FuzzPeek checks, for any body, headers and limit, that Peek and PeekStrict
// never panic, always restore the body byte for byte with its length, and
// agree with encoding/json on every message they accept. Its seed corpus
// runs with every go test; explore further with
//
//	go test -run '^$' -fuzz FuzzPeek ./internal/mcpscope/
func FuzzPeek(f *testing.F) {
	seeds := []struct {
		body                  string
		version, method, name string
		max                   uint16
		chunked               bool
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{"location":"NY"}}}`, "2025-06-18", "", "", 4096, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather"}}`, "2026-07-28", "tools/call", "get_weather", 4096, true},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_db"}}`, "2026-07-28", "tools/list", "", 4096, false},
		{`{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a"}}`, "2026-07-28", "resources/read", "=?base64?ZmlsZTovLy9h?=", 4096, false},
		{`{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"p"}}`, "2025-11-25", "prompts/get", "p", 10, true},
		{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, "", "", "", 4096, false},
		{`{"jsonrpc":"2.0","id":5,"result":{}}`, "2025-06-18", "", "", 4096, false},
		{`{"jsonrpc":"2.0","error":{"code":-1,"message":"x"}}`, "", "", "", 4096, true},
		{`[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`, "2025-03-26", "", "", 4096, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}`, "", "", "", 4096, false},
		{`{"jsonrpc":"2.0","id":1,"METHOD":"tools/call"}`, "", "", "", 4096, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","Name":"b"}}`, "2026-07-28", "tools/call", "a", 4096, false},
		{`{"jsonrpc":"1.0","id":1,"method":"ping"}`, "", "", "", 4096, false},
		{`{"jsonrpc":"2.0","id":{},"method":"ping"}`, "", "", "", 4096, false},
		{`{"jsonrpc":"2.0","id":1,"method":"ping"}{}`, "", "", "", 4096, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/ca`, "", "", "", 4096, true},
		{"\xef\xbb\xbf{}", "", "", "", 4096, false},
		{`"just a string"`, "", "", "", 4096, false},
		{``, "2026-07-28", "", "", 4096, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`, "2026-07-28", "tools/call", "=?BASE64?eA==?=", 0, true},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`, "DRAFT-2026-v1", "tools/call", "y", 20, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\ud800"}}`, "", "", "", 4096, false},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.version, s.method, s.name, s.max, s.chunked)
	}
	f.Fuzz(func(t *testing.T, body []byte, version, method, name string, maxBody uint16, chunked bool) {
		for _, strict := range []bool{false, true} {
			r := newPost(body, chunked)
			if version != "" {
				r.Header.Set(HeaderProtocolVersion, version)
			}
			if method != "" {
				r.Header.Set(HeaderMethod, method)
			}
			if name != "" {
				r.Header.Set(HeaderName, name)
			}
			wantCL := r.ContentLength
			var (
				c   Call
				err error
			)
			if strict {
				c, err = PeekStrict(r, int64(maxBody))
			} else {
				c, err = Peek(r, int64(maxBody))
			}

			got, readErr := io.ReadAll(r.Body)
			if readErr != nil || !bytes.Equal(got, body) {
				t.Fatalf("strict=%v: restored body = %q, %v; want %q", strict, got, readErr, body)
			}
			if r.ContentLength != wantCL {
				t.Fatalf("strict=%v: ContentLength = %d, want %d", strict, r.ContentLength, wantCL)
			}

			if err != nil {
				if _, _, _, ok := Answer(err); !ok {
					t.Fatalf("strict=%v: unanswerable error %v", strict, err)
				}
				if c.Method != "" || c.Name != "" {
					t.Fatalf("strict=%v: failed Peek returned %+v", strict, c)
				}
				if !json.Valid(JSONRPCError(c.ID, CodeInvalidRequest, err.Error())) {
					t.Fatalf("strict=%v: invalid error response for id %q", strict, c.ID)
				}
				continue
			}
			if _, named := namedMember(c.Method); c.Name != "" && !named {
				t.Fatalf("strict=%v: name %q for unnamed method %q", strict, c.Name, c.Method)
			}
			if DefaultPolicy().Required(c).IsEmpty() {
				t.Fatalf("strict=%v: default policy requires nothing for %+v", strict, c)
			}
			if _, ok := fromHeaders(r.Header); ok && !strict && headerMode(r.Header) {
				continue
			}
			// From the body: it fit, and encoding/json reads the same call.
			if len(body) > int(maxBody) {
				t.Fatalf("strict=%v: accepted %d bytes with limit %d", strict, len(body), maxBody)
			}
			var msg struct {
				Method *string `json:"method"`
				Params *struct {
					Name *string `json:"name"`
					URI  *string `json:"uri"`
				} `json:"params"`
			}
			if err := json.Unmarshal(body, &msg); err != nil {
				// encoding/json rejects what Peek accepted. Only a
				// notification, whose params may be any structured value,
				// may legitimately differ here.
				if _, named := namedMember(c.Method); named {
					t.Fatalf("strict=%v: Peek accepted %q as %+v, encoding/json: %v", strict, body, c, err)
				}
				continue
			}
			gotMethod := ""
			if msg.Method != nil {
				gotMethod = *msg.Method
			}
			if gotMethod != c.Method {
				t.Fatalf("strict=%v: Peek read method %q, encoding/json %q, from %q", strict, c.Method, gotMethod, body)
			}
			if member, named := namedMember(c.Method); named && msg.Params != nil {
				want := msg.Params.Name
				if member == "uri" {
					want = msg.Params.URI
				}
				if want != nil && *want != c.Name {
					t.Fatalf("strict=%v: Peek read name %q, encoding/json %q, from %q", strict, c.Name, *want, body)
				}
			}
		}
	})
}

// A request without a header map (possible for hand-built requests) is
// outside the fuzzer's reach; it has no Content-Type, so its body is refused
// unread.
func TestPeekNilHeaderMap(t *testing.T) {
	for _, peek := range []func(*http.Request, int64) (Call, error){Peek, PeekStrict} {
		r := newPost([]byte(bodyToolsList), false)
		r.Header = nil
		if c, err := peek(r, maxTest); !errors.Is(err, ErrMediaType) || !sameCall(c, Call{}) {
			t.Fatalf("Peek = %+v, %v", c, err)
		}
	}
}
