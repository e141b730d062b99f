package mcpscope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// countingReader counts the bytes read through it and whether it was closed.
type countingReader struct {
	r      io.Reader
	n      int64
	reads  int
	closed bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error {
	c.closed = true
	return nil
}

// newPost returns a POST to the MCP endpoint carrying body. When chunked is
// set the body's length is hidden, as with Transfer-Encoding: chunked
// (ContentLength -1); otherwise ContentLength is len(body).
func newPost(body []byte, chunked bool) *http.Request {
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = struct{ io.Reader }{rd} // hides *bytes.Reader from httptest
	}
	return jsonRequest(http.MethodPost, rd)
}

// jsonRequest is a request to the MCP endpoint with the Content-Type every
// MCP client sends.
func jsonRequest(method string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, "/mcp", body)
	r.Header.Set("Content-Type", "application/json")
	return r
}

// newCountedPost is newPost with a body that counts what is read from it.
func newCountedPost(body []byte, chunked bool) (*http.Request, *countingReader) {
	cr := &countingReader{r: bytes.NewReader(body)}
	r := jsonRequest(http.MethodPost, cr) // ContentLength -1
	if !chunked {
		r.ContentLength = int64(len(body))
	}
	return r, cr
}

// checkRestored reads r.Body to the end and fails unless it yields want and
// r.ContentLength is wantCL.
func checkRestored(t *testing.T, r *http.Request, want []byte, wantCL int64) {
	t.Helper()
	got, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("reading restored body: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("restored body = %q (%d bytes), want %q (%d bytes)", trunc(got), len(got), trunc(want), len(want))
	}
	if r.ContentLength != wantCL {
		t.Fatalf("ContentLength = %d, want %d", r.ContentLength, wantCL)
	}
}

func trunc(b []byte) []byte {
	if len(b) > 80 {
		return append(b[:80:80], "..."...)
	}
	return b
}

func sameCall(a, b Call) bool {
	return a.Method == b.Method && a.Name == b.Name && bytes.Equal(a.ID, b.ID)
}

const maxTest = 1 << 20

func TestPeekBody(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Call
		err  error // nil, or the sentinel the error must match
	}{
		// Requests.
		{"tools/call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{"location":"NY"}}}`,
			Call{Method: "tools/call", Name: "get_weather", ID: json.RawMessage(`1`)}, nil},
		{"members in any order", `{"params":{"arguments":{"name":"not me"},"name":"get_weather"},"method":"tools/call","id":"a-1","jsonrpc":"2.0"}`,
			Call{Method: "tools/call", Name: "get_weather", ID: json.RawMessage(`"a-1"`)}, nil},
		{"prompts/get", `{"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"code_review","arguments":{"code":"x"}}}`,
			Call{Method: "prompts/get", Name: "code_review", ID: json.RawMessage(`2`)}, nil},
		{"resources/read", `{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///projects/app/config.json"}}`,
			Call{Method: "resources/read", Name: "file:///projects/app/config.json", ID: json.RawMessage(`3`)}, nil},
		{"resources/read ignores name", `{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"name":"n","uri":"u"}}`,
			Call{Method: "resources/read", Name: "u", ID: json.RawMessage(`3`)}, nil},
		{"unnamed method ignores params.name", `{"jsonrpc":"2.0","id":4,"method":"resources/subscribe","params":{"uri":"file:///x","name":"y"}}`,
			Call{Method: "resources/subscribe", ID: json.RawMessage(`4`)}, nil},
		{"tools/list", `{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"cursor":"c"}}`,
			Call{Method: "tools/list", ID: json.RawMessage(`5`)}, nil},
		{"initialize", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`,
			Call{Method: "initialize", ID: json.RawMessage(`0`)}, nil},
		{"no params", `{"jsonrpc":"2.0","id":6,"method":"ping"}`, Call{Method: "ping", ID: json.RawMessage(`6`)}, nil},
		{"tools/call without params", `{"jsonrpc":"2.0","id":7,"method":"tools/call"}`, Call{Method: "tools/call", ID: json.RawMessage(`7`)}, nil},
		{"tools/call params null", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":null}`, Call{Method: "tools/call", ID: json.RawMessage(`7`)}, nil},
		{"tools/call without name", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{}}}`, Call{Method: "tools/call", ID: json.RawMessage(`7`)}, nil},
		{"params array on unnamed method", `{"jsonrpc":"2.0","id":8,"method":"custom/thing","params":[1,2]}`, Call{Method: "custom/thing", ID: json.RawMessage(`8`)}, nil},
		{"escaped member names and values", `{"jsonrpc":"2\u002e0","id":9,"m\u0065thod":"tools\/call","params":{"n\u0061me":"get\u005fweather"}}`,
			Call{Method: "tools/call", Name: "get_weather", ID: json.RawMessage(`9`)}, nil},
		{"unicode tool name", `{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"天気"}}`,
			Call{Method: "tools/call", Name: "天気", ID: json.RawMessage(`10`)}, nil},
		{"unknown members", `{"jsonrpc":"2.0","id":11,"method":"tools/list","x-extra":{"method":"tools/call"},"Methods":1}`,
			Call{Method: "tools/list", ID: json.RawMessage(`11`)}, nil},
		{"whitespace around", " \r\n\t{ \"jsonrpc\" : \"2.0\" , \"id\" : 12 , \"method\" : \"ping\" } \n\t ", Call{Method: "ping", ID: json.RawMessage(`12`)}, nil},
		{"number id verbatim", `{"jsonrpc":"2.0","id":-1.5e3,"method":"ping"}`, Call{Method: "ping", ID: json.RawMessage(`-1.5e3`)}, nil},
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, Call{Method: "ping", ID: json.RawMessage(`null`)}, nil},
		// Strings and nesting that a scanner could lose its way in.
		{"quotes and braces in strings", `{"jsonrpc":"2.0","id":"a\"b}","method":"tools/call","params":{"x":"}\"{","name":"t\\"}}`,
			Call{Method: "tools/call", Name: `t\`, ID: json.RawMessage(`"a\"b}"`)}, nil},
		{"nested values before name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"a":["]","}",{"b":"\\\"","name":"inner"}],"n":null,"t":true,"f":-1.5e-3},"name":"real"}}`,
			Call{Method: "tools/call", Name: "real", ID: json.RawMessage(`1`)}, nil},
		{"escaped quote in key", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"na\"me":"fake","name\\":"fake","name":"real"}}`,
			Call{Method: "tools/call", Name: "real", ID: json.RawMessage(`1`)}, nil},
		{"backslash runs", `{"jsonrpc":"2.0","id":"\\\\","method":"tools/call","params":{"name":"a\\\"b\\"}}`,
			Call{Method: "tools/call", Name: `a\"b\`, ID: json.RawMessage(`"\\\\"`)}, nil},
		{"spaces around scalars", "{ \"jsonrpc\" : \"2.0\" ,\n \"id\" : 12 \t, \"params\" : null , \"method\" : \"tools/call\" }",
			Call{Method: "tools/call", ID: json.RawMessage(`12`)}, nil},
		{"empty params", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`, Call{Method: "tools/call", ID: json.RawMessage(`1`)}, nil},
		{"unicode escapes", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u5929\u6c17 \ud83d\ude00"}}`,
			Call{Method: "tools/call", Name: "天気 😀", ID: json.RawMessage(`1`)}, nil},
		// Decoders replace invalid bytes with U+FFFD in different numbers.
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\xffb\"}}", Call{}, ErrParse},
		{"_meta of 2026-07-28", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`,
			Call{Method: "tools/call", Name: "t", ID: json.RawMessage(`1`)}, nil},

		// Notifications: no id.
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, Call{Method: "notifications/initialized"}, nil},
		{"cancelled", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"x"}}`, Call{Method: "notifications/cancelled"}, nil},

		// Responses: a client answering a server request.
		{"result response", `{"jsonrpc":"2.0","id":5,"result":{"content":[]}}`, Call{ID: json.RawMessage(`5`)}, nil},
		{"error response", `{"jsonrpc":"2.0","id":"s-1","error":{"code":-1,"message":"declined"}}`, Call{ID: json.RawMessage(`"s-1"`)}, nil},
		{"error response without id", `{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"}}`, Call{}, nil},
		{"result without id", `{"jsonrpc":"2.0","result":{}}`, Call{}, ErrInvalid},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":""}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"neither method nor result", `{"jsonrpc":"2.0","id":1}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"method and result", `{"jsonrpc":"2.0","id":1,"method":"tools/call","result":{}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"method and error", `{"jsonrpc":"2.0","id":1,"method":"tools/call","error":{}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},

		// Batches.
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}]`, Call{}, ErrBatch},
		{"empty batch", `[]`, Call{}, ErrBatch},
		{"batch after whitespace", " \n[1]", Call{}, ErrBatch},
		{"malformed batch", `[{"jsonrpc":"2.0"`, Call{}, ErrParse},

		// Malformed JSON.
		{"empty", ``, Call{}, ErrParse},
		{"only whitespace", " \n\t\r", Call{}, ErrParse},
		{"truncated", `{"jsonrpc":"2.0","id":1,"method":"tools/ca`, Call{}, ErrParse},
		{"trailing comma", `{"jsonrpc":"2.0","id":1,"method":"ping",}`, Call{}, ErrParse},
		{"not json", `jsonrpc=2.0&method=tools/call`, Call{}, ErrParse},
		{"single quotes", `{'jsonrpc':'2.0'}`, Call{}, ErrParse},
		{"two objects", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}{"jsonrpc":"2.0","id":2,"method":"tools/call"}`, Call{}, ErrParse},
		{"trailing garbage", `{"jsonrpc":"2.0","id":1,"method":"ping"} x`, Call{}, ErrParse},
		{"byte order mark", "\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", Call{}, ErrParse},
		{"bad escape in name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\x"}}`, Call{}, ErrParse},

		// Valid JSON that is no JSON-RPC object.
		{"string", `"tools/call"`, Call{}, ErrInvalid},
		{"number", `42`, Call{}, ErrInvalid},
		{"null", `null`, Call{}, ErrInvalid},
		{"true", `true`, Call{}, ErrInvalid},

		// Wrong or missing jsonrpc; the id is still reported.
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":7,"method":"ping"}`, Call{ID: json.RawMessage(`7`)}, ErrInvalid},
		{"jsonrpc number", `{"jsonrpc":2.0,"id":7,"method":"ping"}`, Call{ID: json.RawMessage(`7`)}, ErrInvalid},
		{"jsonrpc missing", `{"id":7,"method":"ping"}`, Call{ID: json.RawMessage(`7`)}, ErrInvalid},
		{"jsonrpc 2.0 with space", `{"jsonrpc":"2.0 ","id":7,"method":"ping"}`, Call{ID: json.RawMessage(`7`)}, ErrInvalid},

		// Bad method.
		{"empty method", `{"jsonrpc":"2.0","id":1,"method":""}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"method number", `{"jsonrpc":"2.0","id":1,"method":1}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"method null", `{"jsonrpc":"2.0","id":1,"method":null}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"method object", `{"jsonrpc":"2.0","id":1,"method":{"name":"tools/call"}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},

		// Bad id.
		{"id object", `{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}`, Call{}, ErrInvalid},
		{"id array", `{"jsonrpc":"2.0","id":[1],"method":"ping"}`, Call{}, ErrInvalid},
		{"id bool", `{"jsonrpc":"2.0","id":true,"method":"ping"}`, Call{}, ErrInvalid},

		// Bad params.
		{"params string", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":"x"}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"params number", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":1}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"tools/call params array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["delete_db"]}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"name number", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"name null", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":null}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"name array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["delete_db"]}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"uri number", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":1}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},

		// Ambiguity: members that parsers would read differently.
		{"duplicate method", `{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"duplicate jsonrpc", `{"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"ping"}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		// An id given twice, or beside a case variant, has no one reading
		// (for a repeated id, Go and JavaScript servers both read the last;
		// for "Id" after "id", Go the last and JavaScript the first): the
		// answer carries null, as JSON-RPC 2.0 §5 asks when the id could
		// not be determined, rather than one of them.
		{"duplicate id", `{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}`, Call{}, ErrInvalid},
		{"case variant beside id", `{"jsonrpc":"2.0","id":1,"Id":2,"method":"ping"}`, Call{}, ErrInvalid},
		{"case variant before id", `{"jsonrpc":"2.0","ID":2,"id":1,"method":"ping"}`, Call{}, ErrInvalid},
		{"duplicate params", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"},"params":{"name":"b"}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"duplicate result", `{"jsonrpc":"2.0","id":1,"result":{},"result":{}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"case variant of method", `{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call"}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"case variant alone", `{"jsonrpc":"2.0","id":1,"METHOD":"tools/call"}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"case variant of id", `{"jsonrpc":"2.0","ID":1,"method":"ping"}`, Call{}, ErrInvalid},
		{"unicode fold of params", `{"jsonrpc":"2.0","id":1,"method":"tools/call","paramſ":{"name":"x"}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"unicode fold of jsonrpc", `{"jſonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"ping"}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"duplicate name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_only","name":"delete_db"}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"case variant of name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_only","Name":"delete_db"}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
		{"case variant of uri", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"URI":"file:///secret"}}`, Call{ID: json.RawMessage(`1`)}, ErrInvalid},
	}
	for _, tt := range tests {
		for _, chunked := range []bool{false, true} {
			name := tt.name
			if chunked {
				name += "/chunked"
			}
			t.Run(name, func(t *testing.T) {
				body := []byte(tt.body)
				r := newPost(body, chunked)
				wantCL := r.ContentLength
				got, err := Peek(r, maxTest)
				if tt.err == nil && err != nil {
					t.Fatalf("Peek: %v", err)
				}
				if tt.err != nil && !errors.Is(err, tt.err) {
					t.Fatalf("Peek error = %v, want %v", err, tt.err)
				}
				if !sameCall(got, tt.want) {
					t.Errorf("Peek = %+v (ID %s), want %+v (ID %s)", got, got.ID, tt.want, tt.want.ID)
				}
				checkRestored(t, r, body, wantCL)
			})
		}
	}
}

// TestPeekErrorKinds pins the distinctions the gateway's answers rest on:
// a parse error is also an invalid message; a batch and a body too large
// are neither.
func TestPeekErrorKinds(t *testing.T) {
	if !errors.Is(ErrParse, ErrInvalid) {
		t.Error("ErrParse does not match ErrInvalid")
	}
	for _, err := range []error{ErrBatch, ErrTooLarge, ErrRead, ErrHeaderMismatch} {
		if errors.Is(err, ErrInvalid) || errors.Is(err, ErrParse) {
			t.Errorf("%v matches ErrInvalid", err)
		}
	}
	_, err := Peek(newPost([]byte(`{"jsonrpc":"2.0","id":1,"method":1}`), false), maxTest)
	if errors.Is(err, ErrParse) {
		t.Errorf("invalid request reported as parse error: %v", err)
	}
}

func TestPeekBodilessMethods(t *testing.T) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`)
	for _, method := range []string{http.MethodGet, http.MethodDelete, http.MethodHead, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(body)}
			r := httptest.NewRequest(method, "/mcp", cr)
			r.Header.Set("Accept", "text/event-stream")
			r.Header.Set("Mcp-Session-Id", "1868a90c")
			// A body there is refused unread: an upstream that reads it
			// anyway would act on a message the gateway never judged.
			for _, peek := range []func(*http.Request, int64) (Call, error){Peek, PeekStrict} {
				c, err := peek(r, 0)
				if !errors.Is(err, ErrUnexpectedBody) || !sameCall(c, Call{}) {
					t.Fatalf("Peek = %+v, %v; want Call{}, ErrUnexpectedBody", c, err)
				}
			}
			if cr.reads != 0 {
				t.Fatalf("body read %d times", cr.reads)
			}
			if status, _, _, ok := Answer(ErrUnexpectedBody); !ok || status != http.StatusBadRequest {
				t.Fatalf("Answer(ErrUnexpectedBody) = %d, %v", status, ok)
			}
			// Without a body the same request passes.
			r = httptest.NewRequest(method, "/mcp", nil)
			for _, peek := range []func(*http.Request, int64) (Call, error){Peek, PeekStrict} {
				if c, err := peek(r, 0); err != nil || !sameCall(c, Call{}) {
					t.Fatalf("Peek = %+v, %v; want Call{}, nil", c, err)
				}
			}
		})
	}
	t.Run("GET without body", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/mcp", nil)
		if c, err := Peek(r, maxTest); err != nil || !sameCall(c, Call{}) {
			t.Fatalf("Peek = %+v, %v", c, err)
		}
		if r.Body != http.NoBody {
			t.Fatalf("Body = %T, want http.NoBody", r.Body)
		}
	})
	t.Run("client request with empty method", func(t *testing.T) {
		r := newPost(body, false) // "" is GET, so the body is refused
		r.Method = ""
		if c, err := Peek(r, maxTest); !errors.Is(err, ErrUnexpectedBody) || !sameCall(c, Call{}) {
			t.Fatalf("Peek = %+v, %v", c, err)
		}
	})
}

// The body says one thing and the headers another, so each test can tell
// which one Peek used.
const (
	bodyToolsList = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	headerMethod  = "tools/call"
	headerName    = "delete_ledger"
)

var (
	fromBody    = Call{Method: "tools/list", ID: json.RawMessage(`1`)}
	fromHeader  = Call{Method: headerMethod, Name: headerName}
	headersOnly = []byte(bodyToolsList)
)

func TestPeekModeByProtocolVersion(t *testing.T) {
	tests := []struct {
		version []string // values of MCP-Protocol-Version; nil for none
		headers bool     // whether Peek may use the Mcp-* headers
	}{
		{nil, false},
		{[]string{"2024-11-05"}, false},
		{[]string{"2025-03-26"}, false},
		{[]string{"2025-06-18"}, false},
		{[]string{"2025-11-25"}, false},
		{[]string{"2026-07-27"}, false},
		{[]string{"2026-07-28"}, true},
		{[]string{"2026-07-29"}, true},
		{[]string{"2026-12-01"}, true},
		{[]string{"2027-01-15"}, true},
		{[]string{"2100-01-01"}, true},
		{[]string{"2028-02-29"}, true}, // leap day
		{[]string{"2027-02-29"}, false},
		{[]string{"2026-04-31"}, false},
		{[]string{"2026-07-00"}, false},
		{[]string{"0000-01-01"}, false},
		// Malformed: treated as older.
		{[]string{""}, false},
		{[]string{"DRAFT-2026-v1"}, false},
		{[]string{"draft"}, false},
		{[]string{"2026-7-28"}, false},
		{[]string{"2026-07-28 "}, false},
		{[]string{" 2026-07-28"}, false},
		{[]string{"2026-07-28T00:00:00Z"}, false},
		{[]string{"20260728"}, false},
		{[]string{"2026/07/28"}, false},
		{[]string{"2026-13-01"}, false},
		{[]string{"2026-02-30"}, false},
		{[]string{"9999-99-99"}, false},
		{[]string{"+2026-07-28"}, false},
		// Ambiguous: more than one value.
		{[]string{"2026-07-28", "2026-07-28"}, false},
		{[]string{"2025-06-18", "2026-07-28"}, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.version, ","), func(t *testing.T) {
			r, cr := newCountedPost(headersOnly, false)
			for _, v := range tt.version {
				r.Header.Add("MCP-Protocol-Version", v)
			}
			r.Header.Set("Mcp-Method", headerMethod)
			r.Header.Set("Mcp-Name", headerName)
			c, err := Peek(r, maxTest)
			if err != nil {
				t.Fatalf("Peek: %v", err)
			}
			want := fromBody
			if tt.headers {
				want = fromHeader
			}
			if !sameCall(c, want) {
				t.Fatalf("Peek = %+v, want %+v", c, want)
			}
			if tt.headers && cr.reads != 0 {
				t.Fatalf("header mode read the body (%d reads)", cr.reads)
			}
			checkRestored(t, r, headersOnly, int64(len(headersOnly)))
		})
	}
}

func TestPeekHeaderMode(t *testing.T) {
	b64 := func(s string) string { return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=" }
	tests := []struct {
		name    string
		headers map[string][]string
		want    Call
	}{
		{"method and name", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"get_weather"}},
			Call{Method: "tools/call", Name: "get_weather"}},
		{"prompts/get", map[string][]string{"Mcp-Method": {"prompts/get"}, "Mcp-Name": {"code_review"}},
			Call{Method: "prompts/get", Name: "code_review"}},
		{"resources/read", map[string][]string{"Mcp-Method": {"resources/read"}, "Mcp-Name": {"file:///projects/myapp/config.json"}},
			Call{Method: "resources/read", Name: "file:///projects/myapp/config.json"}},
		{"unnamed method", map[string][]string{"Mcp-Method": {"server/discover"}},
			Call{Method: "server/discover"}},
		{"name ignored for unnamed method", map[string][]string{"Mcp-Method": {"subscriptions/listen"}, "Mcp-Name": {"x"}},
			Call{Method: "subscriptions/listen"}},
		{"unknown method", map[string][]string{"Mcp-Method": {"admin/drop"}},
			Call{Method: "admin/drop"}},
		{"base64 name", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {b64("Hello, 世界")}},
			Call{Method: "tools/call", Name: "Hello, 世界"}},
		{"base64 of sentinel-looking name", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="}},
			Call{Method: "tools/call", Name: "=?base64?literal?="}},
		{"base64 prefix in upper case", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"=?BASE64?" + base64.StdEncoding.EncodeToString([]byte("delete_ledger")) + "?="}},
			Call{Method: "tools/call", Name: "delete_ledger"}},
		{"sentinel prefix only", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"=?base64?abc"}},
			Call{Method: "tools/call", Name: "=?base64?abc"}},

		// Missing, empty, repeated or undecodable headers: the body decides.
		{"no headers", nil, fromBody},
		{"name only", map[string][]string{"Mcp-Name": {"get_weather"}}, fromBody},
		{"empty method", map[string][]string{"Mcp-Method": {""}, "Mcp-Name": {"x"}}, fromBody},
		{"repeated method", map[string][]string{"Mcp-Method": {"tools/list", "tools/call"}}, fromBody},
		{"named method without name", map[string][]string{"Mcp-Method": {"tools/call"}}, fromBody},
		{"named method with empty name", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {""}}, fromBody},
		{"repeated name", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"a", "b"}}, fromBody},
		{"bad base64", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"=?base64?not base64!?="}}, fromBody},
		{"base64 of empty", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"=?base64??="}}, fromBody},
		{"base64 of invalid UTF-8", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {b64("\xff\xfe")}}, fromBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newPost(headersOnly, true)
			r.Header.Set("mcp-protocol-version", "2026-07-28") // names are case-insensitive
			for k, vs := range tt.headers {
				for _, v := range vs {
					r.Header.Add(strings.ToUpper(k), v)
				}
			}
			c, err := Peek(r, maxTest)
			if err != nil {
				t.Fatalf("Peek: %v", err)
			}
			if !sameCall(c, tt.want) {
				t.Fatalf("Peek = %+v (ID %s), want %+v (ID %s)", c, c.ID, tt.want, tt.want.ID)
			}
			checkRestored(t, r, headersOnly, -1)
		})
	}
}

// In header mode Peek never reads the body, so its limit does not apply:
// the body is left for the upstream to bound.
func TestPeekHeaderModeLeavesLargeBodyAlone(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 4096)
	r, cr := newCountedPost(body, true)
	r.Header.Set("MCP-Protocol-Version", "2026-07-28")
	r.Header.Set("Mcp-Method", "tools/list")
	c, err := Peek(r, 10)
	if err != nil || c.Method != "tools/list" {
		t.Fatalf("Peek = %+v, %v", c, err)
	}
	if cr.reads != 0 {
		t.Fatalf("body read %d times", cr.reads)
	}
	checkRestored(t, r, body, -1)
}

// hugeBody returns n bytes that start like a JSON-RPC request.
func hugeBody(n int) []byte {
	prefix := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"blob":"`
	b := make([]byte, n)
	copy(b, prefix)
	for i := len(prefix); i < n; i++ {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

func TestPeekBoundsReads(t *testing.T) {
	body := hugeBody(4 << 20)
	for _, maxBody := range []int64{0, 1, 100, 4095, 4096, 65536, 1 << 20} {
		t.Run("", func(t *testing.T) {
			r, cr := newCountedPost(body, true)
			_, err := Peek(r, maxBody)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Peek(max %d) error = %v, want ErrTooLarge", maxBody, err)
			}
			if errors.Is(err, ErrRead) {
				t.Errorf("ErrTooLarge also matches ErrRead: %v", err)
			}
			if cr.n > maxBody+1 {
				t.Fatalf("read %d bytes before deciding, limit %d+1", cr.n, maxBody)
			}
			checkRestored(t, r, body, -1)
			if cr.n != int64(len(body)) {
				t.Fatalf("after restoring, %d bytes read through the original, want %d", cr.n, len(body))
			}
		})
	}
}

func TestPeekTooLargeByContentLength(t *testing.T) {
	body := hugeBody(1 << 20)
	r, cr := newCountedPost(body, false)
	orig := r.Body
	_, err := Peek(r, 1000)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Peek error = %v, want ErrTooLarge", err)
	}
	if cr.reads != 0 {
		t.Fatalf("read %d times although Content-Length decided", cr.reads)
	}
	if r.Body != orig {
		t.Fatalf("body replaced although untouched")
	}
	checkRestored(t, r, body, int64(len(body)))
}

func TestPeekLimitBoundary(t *testing.T) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather"}}`)
	n := int64(len(body))
	for _, chunked := range []bool{false, true} {
		wantCL := n
		if chunked {
			wantCL = -1
		}
		// Exactly at the limit: accepted.
		r := newPost(body, chunked)
		c, err := Peek(r, n)
		if err != nil || c.Name != "get_weather" {
			t.Fatalf("chunked=%v: Peek at the limit = %+v, %v", chunked, c, err)
		}
		checkRestored(t, r, body, wantCL)
		// One byte over: refused.
		r, cr := newCountedPost(body, chunked)
		if _, err := Peek(r, n-1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("chunked=%v: Peek one over the limit: %v, want ErrTooLarge", chunked, err)
		}
		if cr.n > n {
			t.Fatalf("chunked=%v: read %d bytes, limit %d+1", chunked, cr.n, n-1)
		}
		checkRestored(t, r, body, wantCL)
	}
	// Negative limits count as zero; the largest limit does not overflow.
	r := newPost(body, true)
	if _, err := Peek(r, -5); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Peek(-5): %v, want ErrTooLarge", err)
	}
	checkRestored(t, r, body, -1)
	r = newPost(body, true)
	if c, err := Peek(r, math.MaxInt64); err != nil || c.Method != "tools/call" {
		t.Fatalf("Peek(MaxInt64) = %+v, %v", c, err)
	}
	checkRestored(t, r, body, -1)
}

func TestPeekEmptyBodies(t *testing.T) {
	r := jsonRequest(http.MethodPost, nil)
	if _, err := Peek(r, maxTest); !errors.Is(err, ErrParse) {
		t.Fatalf("Peek(NoBody): %v, want ErrParse", err)
	}
	if r.Body != http.NoBody {
		t.Fatalf("NoBody replaced by %T", r.Body)
	}
	r.Body = nil
	if _, err := Peek(r, maxTest); !errors.Is(err, ErrParse) {
		t.Fatalf("Peek(nil body): %v, want ErrParse", err)
	}
	if r.Body != nil {
		t.Fatalf("nil body replaced by %T", r.Body)
	}
	r = newPost(nil, true)
	if _, err := Peek(r, maxTest); !errors.Is(err, ErrParse) {
		t.Fatalf("Peek(empty chunked body): %v, want ErrParse", err)
	}
	checkRestored(t, r, nil, -1)
}

func TestPeekReadError(t *testing.T) {
	boom := errors.New("connection reset")
	prefix := []byte(`{"jsonrpc":"2.0","id":1,"meth`)
	r := jsonRequest(http.MethodPost, io.MultiReader(bytes.NewReader(prefix), iotest.ErrReader(boom)))
	_, err := Peek(r, maxTest)
	if !errors.Is(err, ErrRead) || !errors.Is(err, boom) {
		t.Fatalf("Peek error = %v, want ErrRead wrapping %v", err, boom)
	}
	if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrInvalid) {
		t.Fatalf("read failure misclassified: %v", err)
	}
	// The upstream sees what the client sent, then the same failure.
	got, err := io.ReadAll(r.Body)
	if !bytes.Equal(got, prefix) || !errors.Is(err, boom) {
		t.Fatalf("restored body = %q, %v; want %q, %v", got, err, prefix, boom)
	}
}

// An outer limit, e.g. Caddy's request_body max_size, surfaces as an
// *http.MaxBytesError; Peek reports it as ErrTooLarge.
func TestPeekOuterLimit(t *testing.T) {
	body := hugeBody(1000)
	r := newPost(body, true)
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 100)
	_, err := Peek(r, maxTest)
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrRead) {
		t.Fatalf("Peek error = %v, want ErrTooLarge and ErrRead", err)
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); !ok {
		t.Fatalf("Peek error %v does not wrap *http.MaxBytesError", err)
	}
	got, err := io.ReadAll(r.Body)
	if !bytes.Equal(got, body[:100]) {
		t.Fatalf("restored body = %q, want the first 100 bytes", got)
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); !ok {
		t.Fatalf("restored body ended with %v, want *http.MaxBytesError", err)
	}
}

func TestPeekRestoredBodyClosesOriginal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    []byte
		maxBody int64
	}{
		{"complete", []byte(bodyToolsList), maxTest},
		{"too large", hugeBody(10000), 100},
		{"invalid", []byte(`{`), maxTest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, cr := newCountedPost(tc.body, true)
			Peek(r, tc.maxBody)
			if err := r.Body.Close(); err != nil {
				t.Fatal(err)
			}
			if !cr.closed {
				t.Fatal("closing the restored body did not close the original")
			}
		})
	}
}

// The id is read in place: a slice of the buffer the upstream will read.
// Appending to it, as code building an answer might, must not write into
// that buffer: the upstream would then act on bytes the gateway never judged.
func TestPeekIDCannotWriteTheBody(t *testing.T) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	r := newPost(body, false)
	c, err := Peek(r, maxTest)
	if err != nil || string(c.ID) != "1" {
		t.Fatalf("Peek = %+v, %v", c, err)
	}
	_ = append(c.ID, `,"method":"tools/call"`...)
	checkRestored(t, r, body, int64(len(body)))
}

// A body may be peeked more than once, e.g. by two handlers in a row.
func TestPeekTwice(t *testing.T) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather"}}`)
	r := newPost(body, true)
	for range 3 {
		c, err := Peek(r, maxTest)
		if err != nil || c.Name != "get_weather" {
			t.Fatalf("Peek = %+v, %v", c, err)
		}
	}
	checkRestored(t, r, body, -1)
}

func TestPeekStrict(t *testing.T) {
	b64 := func(s string) string { return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=" }
	call := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"get_weather"}}`
	want := Call{Method: "tools/call", Name: "get_weather", ID: json.RawMessage(`9`)}
	idOnly := Call{ID: json.RawMessage(`9`)}
	tests := []struct {
		name    string
		version string
		headers map[string][]string
		body    string
		want    Call
		err     error
	}{
		{"matching headers", "2026-07-28", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"get_weather"}}, call, want, nil},
		{"matching encoded name", "2026-07-28", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {b64("get_weather")}}, call, want, nil},
		{"no headers", "2026-07-28", nil, call, want, nil},
		{"method mismatch", "2026-07-28", map[string][]string{"Mcp-Method": {"tools/list"}}, call, idOnly, ErrHeaderMismatch},
		{"method repeated", "2026-07-28", map[string][]string{"Mcp-Method": {"tools/call", "tools/call"}}, call, idOnly, ErrHeaderMismatch},
		{"method empty", "2026-07-28", map[string][]string{"Mcp-Method": {""}}, call, idOnly, ErrHeaderMismatch},
		{"name mismatch", "2026-07-28", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"read_only"}}, call, idOnly, ErrHeaderMismatch},
		{"name undecodable", "2026-07-28", map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"=?base64?***?="}}, call, idOnly, ErrHeaderMismatch},
		{"name on unnamed method ignored", "2026-07-28", map[string][]string{"Mcp-Method": {"tools/list"}, "Mcp-Name": {"x"}}, bodyToolsList, fromBody, nil},
		{"older version ignores headers", "2025-11-25", map[string][]string{"Mcp-Method": {"tools/list"}, "Mcp-Name": {"x"}}, call, want, nil},
		{"body errors first", "2026-07-28", map[string][]string{"Mcp-Method": {"tools/list"}}, `[` + call + `]`, Call{}, ErrBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			r := newPost(body, false)
			r.Header.Set("MCP-Protocol-Version", tt.version)
			for k, vs := range tt.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			c, err := PeekStrict(r, maxTest)
			if tt.err == nil && err != nil {
				t.Fatalf("PeekStrict: %v", err)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("PeekStrict error = %v, want %v", err, tt.err)
			}
			if !sameCall(c, tt.want) {
				t.Fatalf("PeekStrict = %+v (ID %s), want %+v (ID %s)", c, c.ID, tt.want, tt.want.ID)
			}
			checkRestored(t, r, body, int64(len(body)))
		})
	}
}

func TestDecodeHeaderValue(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"plain", "plain", true},
		{"", "", true},
		{"=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, 世界", true},
		{"=?base64?IHBhZGRlZCA=?=", " padded ", true},
		{"=?base64?bGluZTEKbGluZTI=?=", "line1\nline2", true},
		{"=?Base64?dXM=?=", "us", true},
		{"=?base64?dXM?=", "", false}, // missing padding
		{"=?base64?d?XM=?=", "", false},
		{"=?base64?", "=?base64?", true}, // no suffix: literal
		{"x=?base64?dXM=?=", "x=?base64?dXM=?=", true},
	}
	for _, tt := range tests {
		got, ok := decodeHeaderValue(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("decodeHeaderValue(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func BenchmarkPeekBody(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{"location":"Seattle, WA"},"_meta":{"progressToken":"p"}}}`)
	b.ReportAllocs()
	for b.Loop() {
		r := newPost(body, false)
		if _, err := Peek(r, maxTest); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPeekHeaders(b *testing.B) {
	r := newPost([]byte(bodyToolsList), false)
	r.Header.Set("MCP-Protocol-Version", "2026-07-28")
	r.Header.Set("Mcp-Method", "tools/call")
	r.Header.Set("Mcp-Name", "get_weather")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Peek(r, maxTest); err != nil {
			b.Fatal(err)
		}
	}
}

// resettableBody is a request body that can be rewound without allocating.
type resettableBody struct{ bytes.Reader }

func (*resettableBody) Close() error { return nil }

// The body path stays cheap: the buffer, the restored body and the name are
// its only allocations (the id is read in place: the buffer is never written).
func TestPeekBodyAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool, used by json.Valid, drop items")
	}
	tests := []struct {
		body string
		max  float64
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{"location":"Seattle, WA"}}}`, 3},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"abc"}}`, 2},
		{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, 2},
	}
	for _, tt := range tests {
		body := []byte(tt.body)
		r := newPost(body, false)
		rb := &resettableBody{}
		allocs := testing.AllocsPerRun(200, func() {
			rb.Reset(body)
			r.Body = rb
			r.ContentLength = int64(len(body))
			if _, err := Peek(r, maxTest); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > tt.max {
			t.Errorf("Peek(%.40q) allocates %v times, want at most %v", tt.body, allocs, tt.max)
		}
	}
}
