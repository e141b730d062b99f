package mcpscope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The members of a JSON-RPC 2.0 message that decide a call's scopes.
const (
	memberJSONRPC = iota
	memberID
	memberMethod
	memberParams
	memberResult
	memberError
	// memberProto is refused, not read: JSON.parse keeps "__proto__" as an
	// ordinary member, but JavaScript code that copies the message with
	// assignment (Object.assign) turns it into the prototype, whose members
	// then show through, e.g. a method the gateway never saw.
	memberProto
	memberCount
)

var memberNames = []string{"jsonrpc", "id", "method", "params", "result", "error", "__proto__"}

// errAmbiguous reports a decisive member that appears twice, or under a
// spelling that differs from its name only in case. Parsers disagree on both
// (the first or the last duplicate wins; encoding/json matches names without
// regard to case), so the gateway could authorize one call while the
// upstream runs another.
func errAmbiguous(quotedName []byte) error {
	return fmt.Errorf("%w: ambiguous member %s", ErrInvalid, quotedName)
}

// isJSONSpace reports whether c is insignificant whitespace (RFC 8259 §2).
func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// parseMessage parses one JSON-RPC 2.0 message. On error the Call holds at
// most the id, so that a caller ignoring the error cannot authorize by it.
func parseMessage(body []byte) (Call, error) {
	c, err := parseObject(body)
	if err != nil {
		return Call{ID: c.ID}, err
	}
	return c, nil
}

// parseObject does the work of parseMessage. It validates the whole body
// with encoding/json first; the scanning below relies on that.
func parseObject(body []byte) (Call, error) {
	if !json.Valid(body) {
		if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
			return Call{}, fmt.Errorf("%w: empty body", ErrParse)
		}
		return Call{}, ErrParse
	}
	// RFC 8259 §8.1: JSON exchanged between systems is UTF-8. Decoders
	// replace invalid bytes with U+FFFD differently (Go one per byte, WHATWG
	// one per maximal subpart), so invalid UTF-8 has no single reading.
	if !utf8.Valid(body) {
		return Call{}, fmt.Errorf("%w: not UTF-8", ErrParse)
	}
	start := skipSpace(body, 0)
	switch body[start] {
	case '{':
	case '[':
		return Call{}, ErrBatch
	default:
		return Call{}, fmt.Errorf("%w: not a JSON object", ErrInvalid)
	}

	var (
		raw     [memberCount][]byte // values, nil when absent
		semErr  error               // first ambiguity; reported once the id is known
		idTwice bool                // "id" repeated or beside a case variant: no one id
	)
	for it := (objectIter{b: body, i: start}); ; {
		key, value, ok := it.next()
		if !ok {
			break
		}
		i, ambiguous := memberIndex(key, memberNames)
		switch {
		case ambiguous || i >= 0 && raw[i] != nil:
			semErr = cmp(semErr, errAmbiguous(key))
			idTwice = idTwice || i == memberID
		case i < 0:
		default:
			raw[i] = value
		}
	}

	var c Call
	if id := raw[memberID]; id != nil && !idTwice {
		if !validID(id) {
			return Call{}, fmt.Errorf("%w: id must be a string, a number or null", ErrInvalid)
		}
		// In place: the buffer Peek read is never written (the upstream reads
		// it through a bytes.Reader), so the id needs no copy of its own. Its
		// capacity ends with it, so that an append copies instead of
		// writing over the bytes after it, which the upstream will read.
		c.ID = id[:len(id):len(id)]
	}
	if raw[memberProto] != nil {
		semErr = cmp(semErr, fmt.Errorf("%w: member __proto__", ErrInvalid))
	}
	if semErr != nil {
		return c, semErr
	}
	if v := raw[memberJSONRPC]; v == nil || v[0] != '"' || (string(v) != `"2.0"` && unquote(v) != "2.0") {
		return c, fmt.Errorf(`%w: jsonrpc must be "2.0"`, ErrInvalid)
	}

	hasResult, hasError := raw[memberResult] != nil, raw[memberError] != nil
	if raw[memberMethod] == nil {
		// A response: a client answering a request of the server.
		switch {
		case hasResult && hasError:
			return c, fmt.Errorf("%w: response with both result and error", ErrInvalid)
		case hasResult && c.ID == nil:
			return c, fmt.Errorf("%w: result without id", ErrInvalid)
		case !hasResult && !hasError:
			return c, fmt.Errorf("%w: missing method", ErrInvalid)
		}
		return c, nil
	}

	if hasResult || hasError {
		return c, fmt.Errorf("%w: method alongside result or error", ErrInvalid)
	}
	m := raw[memberMethod]
	if m[0] != '"' {
		return c, fmt.Errorf("%w: method must be a string", ErrInvalid)
	}
	c.Method = internMethod(m)
	if c.Method == "" {
		return c, fmt.Errorf("%w: empty method", ErrInvalid)
	}
	if !unambiguousString(c.Method) {
		return c, fmt.Errorf("%w: method contains U+FFFD or an unpaired surrogate", ErrInvalid)
	}
	params := raw[memberParams]
	if params != nil {
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
		if !unambiguousString(name) {
			return c, fmt.Errorf("%w: params.%s contains U+FFFD or an unpaired surrogate", ErrInvalid, member)
		}
		c.Name = name
	}
	return c, nil
}

// unambiguousString reports whether a decoded decisive string reads the same
// to every JSON parser. Go decodes an unpaired surrogate escape ("\ud800") to
// U+FFFD, JavaScript keeps the lone surrogate, so a name holding U+FFFD could
// stand for either: refused, whatever produced it.
func unambiguousString(s string) bool {
	return !strings.ContainsRune(s, utf8.RuneError)
}

// cmp returns a if it is non-nil, else b.
func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// validID reports whether raw, a valid JSON value, is a string, a number or
// null: the id types JSON-RPC 2.0 allows.
func validID(raw []byte) bool {
	c := raw[0]
	return c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 'n'
}

// stringMember returns the string member name of params, "" if absent.
// Params must be an object; the member must be a string and, like the
// decisive top-level members, unambiguous.
func stringMember(params []byte, name string) (string, error) {
	if params[0] != '{' {
		return "", fmt.Errorf("%w: params must be an object", ErrInvalid)
	}
	names := []string{name}
	var value []byte
	for it := (objectIter{b: params}); ; {
		key, v, ok := it.next()
		if !ok {
			break
		}
		i, ambiguous := memberIndex(key, names)
		if ambiguous || (i == 0 && value != nil) {
			return "", errAmbiguous(key)
		}
		if i == 0 {
			value = v
		}
	}
	if value == nil {
		return "", nil
	}
	if value[0] != '"' {
		return "", fmt.Errorf("%w: params.%s must be a string", ErrInvalid, name)
	}
	return unquote(value), nil
}

// The scanning below works on JSON already validated by json.Valid, so it
// checks nothing and cannot run off the end of its input.

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i]: past
// the first quote not escaped, that is not preceded by an odd run of
// backslashes.
func skipString(b []byte, i int) int {
	for i++; ; i++ {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j
		k := i - 1
		for b[k] == '\\' { // stops at the opening quote at the latest
			k--
		}
		if (i-1-k)%2 == 0 {
			return i + 1
		}
	}
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) {
			switch c := b[i]; {
			case c == ',', c == '}', c == ']', isJSONSpace(c):
				return i
			}
			i++
		}
		return i
	}
}

// objectIter walks the members of the object starting at b[i].
type objectIter struct {
	b []byte
	i int
}

// next returns the next member's name, still quoted and escaped, and value.
func (it *objectIter) next() (key, value []byte, ok bool) {
	b := it.b
	i := skipSpace(b, it.i)
	if b[i] == '{' || b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	if b[i] == '}' {
		return nil, nil, false
	}
	end := skipString(b, i)
	key = b[i:end]
	i = skipSpace(b, end) // at ':'
	i = skipSpace(b, i+1) // at the value
	end = skipValue(b, i)
	it.i = end
	return key, b[i:end], true
}

// memberIndex returns the index in names of the member named by the quoted
// JSON string key, -1 if none, and whether key is an ambiguous spelling of
// one of names: equal to it without regard to case (Unicode simple folding,
// as encoding/json matches names) but not exactly; the index is then that
// name's. It does not allocate for the names of well-formed messages.
func memberIndex(key []byte, names []string) (int, bool) {
	k := key[1 : len(key)-1]
	if bytes.IndexByte(k, '\\') >= 0 || !utf8.Valid(k) {
		s := unquote(key)
		for i, name := range names {
			if s == name {
				return i, false
			}
		}
		for i, name := range names {
			if strings.EqualFold(s, name) {
				return i, true
			}
		}
		return -1, false
	}
	for i, name := range names {
		if string(k) == name {
			return i, false
		}
	}
	for i, name := range names {
		// A rune folds to one at most 3 bytes longer (K, U+212A, to k),
		// so longer keys cannot match, and shorter ones convert on the
		// stack.
		if len(k) <= 3*len(name) && strings.EqualFold(string(k), name) {
			return i, true
		}
	}
	return -1, false
}

// unquote returns the value of the valid JSON string q (quotes included),
// decoded as encoding/json does, invalid UTF-8 becoming U+FFFD.
func unquote(q []byte) string {
	s := q[1 : len(q)-1]
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s)
	}
	var v string
	if err := json.Unmarshal(q, &v); err != nil {
		panic("mcpscope: unquoting a validated JSON string: " + err.Error()) // unreachable
	}
	return v
}

// knownMethods interns the method names of the default policy and the
// notifications a client sends, so that parsing them does not allocate.
var knownMethods = func() map[string]string {
	m := make(map[string]string)
	for name := range defaultMethods {
		m[name] = name
	}
	for _, name := range []string{
		"notifications/initialized",
		"notifications/cancelled",
		"notifications/progress",
		"notifications/roots/list_changed",
		"notifications/tasks/status",
	} {
		m[name] = name
	}
	return m
}()

// internMethod returns the value of the JSON string q, shared with
// knownMethods when it is one of them. (A known name written with escapes
// misses the table and is decoded by unquote.)
func internMethod(q []byte) string {
	if s, ok := knownMethods[string(q[1:len(q)-1])]; ok {
		return s
	}
	return unquote(q)
}
