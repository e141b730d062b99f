package mcpscope

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestEntityRules: a body is judged only when the upstream can read it in one
// way: one Content-Type, application/json with at most charset=utf-8, no
// Content-Encoding but identity. Each refusal comes before a byte is read.
func TestEntityRules(t *testing.T) {
	const body = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	tests := []struct {
		name    string
		headers [][2]string // added in order; Content-Type is not set otherwise
		want    error       // nil: accepted
	}{
		{"plain", [][2]string{{"Content-Type", "application/json"}}, nil},
		{"charset utf-8", [][2]string{{"Content-Type", "application/json; charset=utf-8"}}, nil},
		{"no space", [][2]string{{"Content-Type", "application/json;charset=utf-8"}}, nil},
		{"quoted and upper case", [][2]string{{"Content-Type", `APPLICATION/JSON; CHARSET="UTF-8"`}}, nil},
		{"identity", [][2]string{{"Content-Type", "application/json"}, {"Content-Encoding", "Identity"}}, nil},
		{"missing", nil, ErrMediaType},
		{"empty", [][2]string{{"Content-Type", ""}}, ErrContentType},
		{"text/plain", [][2]string{{"Content-Type", "text/plain"}}, ErrMediaType},
		{"json suffix type", [][2]string{{"Content-Type", "application/vnd.api+json"}}, ErrMediaType},
		{"utf-7", [][2]string{{"Content-Type", "application/json; charset=utf-7"}}, ErrMediaType},
		{"quoted utf-16", [][2]string{{"Content-Type", `application/json; charset="utf-16"`}}, ErrMediaType},
		{"utf8 without dash", [][2]string{{"Content-Type", "application/json; charset=utf8"}}, ErrMediaType},
		{"other parameter", [][2]string{{"Content-Type", "application/json; profile=x"}}, ErrMediaType},
		{"RFC 2231 charset", [][2]string{{"Content-Type", "application/json; charset*=utf-8''utf-7"}}, ErrMediaType},
		{"RFC 2231 utf-8", [][2]string{{"Content-Type", "application/json; charset*=utf-8''utf-8"}}, ErrMediaType},
		{"charset twice", [][2]string{{"Content-Type", "application/json; charset=utf-8; charset=utf-7"}}, ErrContentType},
		{"two headers", [][2]string{{"Content-Type", "application/json"}, {"Content-Type", "application/json"}}, ErrContentType},
		{"list in one header", [][2]string{{"Content-Type", "application/json, text/plain"}}, ErrContentType},
		{"parameter without value", [][2]string{{"Content-Type", "application/json; charset"}}, ErrContentType},
		{"gzip", [][2]string{{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}}, ErrMediaType},
		{"identity then gzip", [][2]string{{"Content-Type", "application/json"}, {"Content-Encoding", "identity, gzip"}}, ErrMediaType},
		{"two encodings", [][2]string{{"Content-Type", "application/json"}, {"Content-Encoding", "identity"}, {"Content-Encoding", "identity"}}, ErrMediaType},
		{"empty encoding", [][2]string{{"Content-Type", "application/json"}, {"Content-Encoding", ""}}, ErrMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, peek := range []func(*http.Request, int64) (Call, error){Peek, PeekStrict} {
				cr := &countingReader{r: strings.NewReader(body)}
				r, _ := http.NewRequest(http.MethodPost, "/mcp", cr)
				r.ContentLength = int64(len(body))
				for _, h := range tt.headers {
					r.Header.Add(h[0], h[1])
				}
				c, err := peek(r, maxTest)
				if tt.want == nil {
					if err != nil || c.Method != "tools/list" {
						t.Fatalf("= %+v, %v; want tools/list", c, err)
					}
					continue
				}
				if !errors.Is(err, tt.want) || !sameCall(c, Call{}) {
					t.Fatalf("= %+v, %v; want %v", c, err, tt.want)
				}
				if cr.reads != 0 {
					t.Fatal("refused after reading the body")
				}
			}
			if tt.want != nil {
				status, code, _, ok := Answer(tt.want)
				wantStatus := http.StatusUnsupportedMediaType
				if tt.want == ErrContentType {
					wantStatus = http.StatusBadRequest
				}
				if !ok || status != wantStatus || code != CodeInvalidRequest {
					t.Fatalf("Answer = %d %d %v", status, code, ok)
				}
			}
		})
	}
}

// TestEntityRulesWithHeaderMode: the rules hold even when Peek takes the call
// from the Mcp-Method header without reading the body.
func TestEntityRulesWithHeaderMode(t *testing.T) {
	r := newPost([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`), false)
	r.Header.Set("Content-Type", "application/json; charset=utf-7")
	r.Header.Set(HeaderProtocolVersion, HeadersSince)
	r.Header.Set(HeaderMethod, "tools/list")
	if _, err := Peek(r, maxTest); !errors.Is(err, ErrMediaType) {
		t.Fatalf("Peek = %v, want ErrMediaType", err)
	}
}

// TestOneReading: bodies that JSON parsers could read two ways are refused.
func TestOneReading(t *testing.T) {
	tests := []struct {
		name, body string
		want       error
	}{
		{"UTF-8 BOM", "\xef\xbb\xbf" + `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, ErrParse},
		{"invalid UTF-8 in a value", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"` + "\xff" + `"}}`, ErrParse},
		{"truncated sequence", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a` + "\xf0\x9f\x98" + `"}}`, ErrParse},
		{"lone surrogate in a tool name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer\ud800"}}`, ErrInvalid},
		{"lone surrogate in a method", `{"jsonrpc":"2.0","id":1,"method":"tools/list\udfff"}`, ErrInvalid},
		{"U+FFFD in a tool name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\ufffd"}}`, ErrInvalid},
		{"__proto__", `{"jsonrpc":"2.0","id":1,"result":{},"__proto__":{"method":"tools/call"}}`, ErrInvalid},
		{"escaped __proto__", `{"jsonrpc":"2.0","id":1,"method":"ping","\u005f_proto__":{}}`, ErrInvalid},
		{"trailing data", `{"jsonrpc":"2.0","id":1,"method":"tools/list"} {"jsonrpc":"2.0","id":2,"method":"tools/call"}`, ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Peek(newPost([]byte(tt.body), false), maxTest)
			if !errors.Is(err, tt.want) || c.Method != "" || c.Name != "" {
				t.Fatalf("Peek = %+v, %v; want %v", c, err, tt.want)
			}
		})
	}
	// A paired surrogate escape is one character to every parser.
	c, err := Peek(newPost([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\ud83d\ude00"}}`), false), maxTest)
	if err != nil || c.Name != "😀" {
		t.Fatalf("Peek = %+v, %v", c, err)
	}
}
