package mcpscope

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestJSONRPCError(t *testing.T) {
	tests := []struct {
		id   json.RawMessage
		want string
	}{
		{nil, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}`},
		{json.RawMessage{}, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}`},
		{json.RawMessage(`1`), `{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"Invalid Request"}}`},
		{json.RawMessage(`-1.5e3`), `{"jsonrpc":"2.0","id":-1.5e3,"error":{"code":-32600,"message":"Invalid Request"}}`},
		{json.RawMessage(`"req-7"`), `{"jsonrpc":"2.0","id":"req-7","error":{"code":-32600,"message":"Invalid Request"}}`},
		{json.RawMessage(" 7\n"), `{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"Invalid Request"}}`},
		{json.RawMessage(`null`), `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}`},
		// Not an id JSON-RPC allows, or not JSON at all: null.
		{json.RawMessage(`{"a":1}`), `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}`},
		{json.RawMessage(`[1]`), `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}`},
		{json.RawMessage(`true`), `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}`},
		{json.RawMessage(`1 2`), `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}`},
		{json.RawMessage(`"unterminated`), `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}`},
		{json.RawMessage(`1,"error":{}`), `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}`},
	}
	for _, tt := range tests {
		if got := string(JSONRPCError(tt.id, CodeInvalidRequest, "Invalid Request")); got != tt.want {
			t.Errorf("JSONRPCError(%q) = %s, want %s", tt.id, got, tt.want)
		}
	}
}

func TestJSONRPCErrorEscapesMessage(t *testing.T) {
	msg := "quote \" backslash \\ newline \n tab \t nul \x00 <html> 世界"
	b := JSONRPCError(json.RawMessage(`"x"`), CodeParseError, msg)
	var resp struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatalf("JSONRPCError produced invalid JSON %s: %v", b, err)
	}
	if resp.JSONRPC != "2.0" || string(resp.ID) != `"x"` || resp.Error.Code != CodeParseError || resp.Error.Message != msg {
		t.Fatalf("round trip = %+v", resp)
	}
}

func TestAnswer(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		err    error
		status int
		code   int
		ok     bool
	}{
		{nil, 0, 0, false},
		{ErrBatch, http.StatusBadRequest, CodeInvalidRequest, true},
		{ErrParse, http.StatusBadRequest, CodeParseError, true},
		{fmt.Errorf("%w: detail", ErrParse), http.StatusBadRequest, CodeParseError, true},
		{ErrInvalid, http.StatusBadRequest, CodeInvalidRequest, true},
		{fmt.Errorf("%w: detail", ErrInvalid), http.StatusBadRequest, CodeInvalidRequest, true},
		{ErrTooLarge, http.StatusRequestEntityTooLarge, CodeTooLarge, true},
		{fmt.Errorf("%w: %w: %w", ErrTooLarge, ErrRead, &http.MaxBytesError{Limit: 1}), http.StatusRequestEntityTooLarge, CodeTooLarge, true},
		{ErrHeaderMismatch, http.StatusBadRequest, CodeHeaderMismatch, true},
		{fmt.Errorf("%w: %w", ErrRead, boom), 0, 0, false},
		{boom, 0, 0, false},
	}
	for _, tt := range tests {
		status, code, msg, ok := Answer(tt.err)
		if status != tt.status || code != tt.code || ok != tt.ok || ok != (msg != "") {
			t.Errorf("Answer(%v) = %d, %d, %q, %v; want %d, %d, _, %v", tt.err, status, code, msg, ok, tt.status, tt.code, tt.ok)
		}
	}
}

// From refusal to the body the gateway sends: the id of a readable but
// invalid request is echoed; that of a malformed one is null.
func TestAnswerWithPeek(t *testing.T) {
	tests := []struct {
		body, want string
		status     int
	}{
		{`{"jsonrpc":"1.0","id":42,"method":"tools/call"}`,
			`{"jsonrpc":"2.0","id":42,"error":{"code":-32600,"message":"Invalid Request"}}`, 400},
		{`{"jsonrpc":"2.0","id":42,"method":"tools/call"`,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`, 400},
		{`[{"jsonrpc":"2.0","id":42,"method":"tools/call"}]`,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: JSON-RPC batches are not supported"}}`, 400},
		{`{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"` + string(hugeBody(200)) + `"}}`,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32013,"message":"Request body too large"}}`, 413},
	}
	for _, tt := range tests {
		c, err := Peek(newPost([]byte(tt.body), true), 100)
		status, code, msg, ok := Answer(err)
		if !ok {
			t.Fatalf("Peek(%.40q): %v, not answerable", tt.body, err)
		}
		if got := string(JSONRPCError(c.ID, code, msg)); got != tt.want || status != tt.status {
			t.Errorf("Peek(%.40q) answered %d %s, want %d %s", tt.body, status, got, tt.status, tt.want)
		}
	}
}
