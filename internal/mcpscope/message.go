package mcpscope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The members of a JSON-RPC 2.0 message that decide a call's scopes.
const (
	memberJSONRPC = iota
	memberID
	memberMethod
	memberParams
	memberResult
	memberError
	memberCount
)

var memberNames = [memberCount]string{"jsonrpc", "id", "method", "params", "result", "error"}

// errAmbiguous is recorded for a decisive member that appears twice, or
// under a spelling that differs from its name only in case. Parsers disagree
// on both (first or last duplicate wins; encoding/json matches names without
// regard to case), so the gateway could authorize one call while the
// upstream runs another.
func errAmbiguous(name string) error {
	return fmt.Errorf("%w: ambiguous member %q", ErrInvalid, name)
}

// memberIndex returns the index of the decisive member named key, -1 for a
// member that decides nothing, or an error for an ambiguous spelling.
func memberIndex(key string) (int, error) {
	for i, name := range memberNames {
		if key == name {
			return i, nil
		}
	}
	for _, name := range memberNames {
		if strings.EqualFold(key, name) {
			return -1, errAmbiguous(key)
		}
	}
	return -1, nil
}

// isJSONSpace reports whether c is insignificant whitespace (RFC 8259 §2).
func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// parseMessage parses one JSON-RPC 2.0 message.
func parseMessage(body []byte) (Call, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return Call{}, fmt.Errorf("%w: empty body", ErrParse)
	}
	switch trimmed[0] {
	case '{':
	case '[':
		if !json.Valid(body) {
			return Call{}, fmt.Errorf("%w: invalid batch", ErrParse)
		}
		return Call{}, ErrBatch
	default:
		if !json.Valid(body) {
			return Call{}, ErrParse
		}
		return Call{}, fmt.Errorf("%w: not a JSON object", ErrInvalid)
	}

	// Walk the object with a tokenizer, which validates the syntax, sees
	// every member name exactly as sent and keeps each value's bytes.
	var (
		raw     [memberCount]json.RawMessage
		present [memberCount]bool
		semErr  error // first semantic error; syntax errors take precedence
	)
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // '{'
		return Call{}, ErrParse
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Call{}, ErrParse
		}
		key, _ := tok.(string) // More guarantees a name here
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return Call{}, ErrParse
		}
		i, err := memberIndex(key)
		switch {
		case err != nil:
			semErr = cmpOr(semErr, err)
		case i < 0:
		case present[i]:
			semErr = cmpOr(semErr, errAmbiguous(key))
		default:
			present[i], raw[i] = true, value
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return Call{}, ErrParse
	}
	for _, c := range body[dec.InputOffset():] {
		if !isJSONSpace(c) {
			return Call{}, fmt.Errorf("%w: data after the JSON object", ErrParse)
		}
	}

	var c Call
	if present[memberID] {
		if !validID(raw[memberID]) {
			return Call{}, fmt.Errorf("%w: id must be a string, a number or null", ErrInvalid)
		}
		c.ID = raw[memberID]
	}
	if semErr != nil {
		return c, semErr
	}
	var version string
	if !present[memberJSONRPC] || json.Unmarshal(raw[memberJSONRPC], &version) != nil || version != "2.0" {
		return c, fmt.Errorf(`%w: jsonrpc must be "2.0"`, ErrInvalid)
	}

	if !present[memberMethod] {
		// A response: a client answering a request of the server.
		switch {
		case present[memberResult] && present[memberError]:
			return c, fmt.Errorf("%w: response with both result and error", ErrInvalid)
		case present[memberResult] && !present[memberID]:
			return c, fmt.Errorf("%w: result without id", ErrInvalid)
		case !present[memberResult] && !present[memberError]:
			return c, fmt.Errorf("%w: missing method", ErrInvalid)
		}
		return c, nil
	}

	if present[memberResult] || present[memberError] {
		return c, fmt.Errorf("%w: method alongside result or error", ErrInvalid)
	}
	if json.Unmarshal(raw[memberMethod], &c.Method) != nil || c.Method == "" {
		c.Method = ""
		return c, fmt.Errorf("%w: method must be a non-empty string", ErrInvalid)
	}
	params := raw[memberParams]
	if present[memberParams] {
		switch params[0] {
		case '{', '[':
		case 'n': // null, as good as absent
			params = nil
		default:
			return c, fmt.Errorf("%w: params must be an object or an array", ErrInvalid)
		}
	}
	if member, named := namedMember(c.Method); named && params != nil {
		name, err := stringMember(params, member)
		if err != nil {
			return c, err
		}
		c.Name = name
	}
	return c, nil
}

// cmpOr returns a if it is non-nil, else b.
func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// validID reports whether raw, a valid JSON value, is a string, a number or
// null: the id types JSON-RPC 2.0 allows.
func validID(raw json.RawMessage) bool {
	c := raw[0]
	return c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 'n'
}

// stringMember returns the string member name of the params object, "" if
// absent. Params must be an object; the member must be a string and, like
// the decisive top-level members, unambiguous.
func stringMember(params json.RawMessage, name string) (string, error) {
	if params[0] != '{' {
		return "", fmt.Errorf("%w: params must be an object", ErrInvalid)
	}
	var (
		value string
		found bool
	)
	dec := json.NewDecoder(bytes.NewReader(params))
	if _, err := dec.Token(); err != nil {
		return "", ErrParse // unreachable: params was validated
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", ErrParse
		}
		key, _ := tok.(string)
		switch {
		case key == name:
			if found {
				return "", errAmbiguous("params." + key)
			}
			found = true
			var s *string
			if err := dec.Decode(&s); err != nil {
				var typeErr *json.UnmarshalTypeError
				if errors.As(err, &typeErr) {
					return "", fmt.Errorf("%w: params.%s must be a string", ErrInvalid, name)
				}
				return "", ErrParse
			}
			if s == nil {
				return "", fmt.Errorf("%w: params.%s must be a string", ErrInvalid, name)
			}
			value = *s
			continue
		case strings.EqualFold(key, name):
			return "", errAmbiguous("params." + key)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", ErrParse
		}
	}
	return value, nil
}
