package mcpscope

import (
	"maps"
	"strings"

	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// The scopes of the default policy. A token granted mcp:write also covers
// mcp:read (see package scope), so write methods require mcp:write alone.
const (
	ScopeRead  = "mcp:read"
	ScopeWrite = "mcp:write"
)

// Special keys of Policy.WithMethod.
const (
	// AnyNotification stands for every "notifications/…" method without an
	// entry of its own.
	AnyNotification = "notifications/*"
	// AnyMethod stands for every method matched by nothing else: methods
	// unknown to the policy.
	AnyMethod = "*"
)

var (
	readSet  = scope.MustParse(ScopeRead)
	writeSet = scope.MustParse(ScopeWrite)
)

// defaultMethods is the default method table. Sources: the ClientRequest and
// ClientNotification unions of the MCP schema for revisions 2025-06-18,
// 2025-11-25 and 2026-07-28, and the Tasks extension
// (io.modelcontextprotocol/tasks, SEP-2663). A method is "write" when it can
// change state outside the caller's own connection or view: run a tool, or
// steer or stop work already started.
var defaultMethods = map[string]scope.Set{
	// No method: a JSON-RPC response (a client answering a server request,
	// before 2026-07-28), or a bodiless GET (SSE stream) or DELETE (session
	// end). The base scope: using the endpoint at all.
	"": readSet,

	// Handshake and discovery: describe the server, change nothing.
	"initialize":      readSet, // up to 2025-11-25
	"ping":            readSet, // up to 2025-11-25
	"server/discover": readSet, // from 2026-07-28

	// Listing and reading.
	"tools/list":               readSet,
	"resources/list":           readSet,
	"resources/templates/list": readSet,
	"resources/read":           readSet,
	"prompts/list":             readSet,
	"prompts/get":              readSet, // renders a prompt template; no side effect
	"completion/complete":      readSet, // argument autocompletion suggestions

	// Subscriptions: asking to be told of changes to what the caller may
	// already read. The server remembers the subscription, but only for the
	// caller's own session or stream.
	"resources/subscribe":   readSet, // up to 2025-11-25
	"resources/unsubscribe": readSet, // up to 2025-11-25
	"subscriptions/listen":  readSet, // from 2026-07-28, replaces the two above and the GET stream

	// logging/setLevel (up to 2025-11-25) sets the minimum level of the log
	// messages the server sends to this client. It changes the caller's own
	// session only, and 2026-07-28 replaced it with a per-request _meta field
	// (io.modelcontextprotocol/logLevel) that any read request may carry.
	"logging/setLevel": readSet,

	// Tools: the one method that acts.
	"tools/call": writeSet,

	// Tasks (2025-11-25 core; 2026-07-28 Tasks extension). Polling a task
	// and fetching its result read the outcome of a call already authorized;
	// cancelling it, or feeding it input (tasks/update) so it proceeds,
	// steers work that can have side effects.
	"tasks/get":    readSet,
	"tasks/result": readSet, // 2025-11-25 only
	"tasks/list":   readSet, // 2025-11-25 only
	"tasks/cancel": writeSet,
	"tasks/update": writeSet, // Tasks extension, 2026-07-28
}

// Policy maps calls to the scopes they require.
//
// A Policy is immutable: WithMethod and WithTool return a modified copy, so a
// Policy may be shared between goroutines. The zero Policy and a nil *Policy
// behave as DefaultPolicy, never as a policy that requires nothing.
type Policy struct {
	methods       map[string]scope.Set // exact method names; "" is the no-method entry
	notifications scope.Set            // AnyNotification
	fallback      scope.Set            // AnyMethod
	toolExtra     map[string]scope.Set // WithTool, as configured
	tools         map[string]scope.Set // tools/call scopes ∪ toolExtra, precomputed
	ready         bool                 // built by DefaultPolicy
}

// std backs the zero and nil Policy.
var std = DefaultPolicy()

// DefaultPolicy returns the default policy: mcp:write for tools/call,
// tasks/cancel and tasks/update; mcp:read for every other method of the MCP
// specification, for every notifications/… method, and for calls without a
// method; mcp:write for methods it does not know (fail closed).
func DefaultPolicy() *Policy {
	return &Policy{
		methods:       maps.Clone(defaultMethods),
		notifications: readSet,
		fallback:      writeSet,
		ready:         true,
	}
}

// or returns p, or the default policy when p is nil or the zero Policy.
func (p *Policy) or() *Policy {
	if p == nil || !p.ready {
		return std
	}
	return p
}

// clone returns a deep copy of p (of the default policy for a nil or zero p).
func (p *Policy) clone() *Policy {
	p = p.or()
	return &Policy{
		methods:       maps.Clone(p.methods),
		notifications: p.notifications,
		fallback:      p.fallback,
		toolExtra:     maps.Clone(p.toolExtra),
		ready:         true,
	}
}

// WithMethod returns a copy of p in which method requires exactly scopes
// (operator configuration). method is a JSON-RPC method name, "" for calls
// without a method (responses, GET, DELETE), AnyNotification for the
// notifications without an entry of their own, or AnyMethod for the methods
// matched by nothing else. An empty set makes the method require no scope
// at all. p is not modified.
func (p *Policy) WithMethod(method string, scopes scope.Set) *Policy {
	q := p.clone()
	switch method {
	case AnyNotification:
		q.notifications = scopes
	case AnyMethod:
		q.fallback = scopes
	default:
		q.methods[method] = scopes
	}
	q.precompute()
	return q
}

// WithTool returns a copy of p in which a tools/call naming tool requires
// scopes in addition to those of the tools/call method, whatever WithMethod
// set them to before or after. A later WithTool for the same tool replaces
// the earlier one. p is not modified.
func (p *Policy) WithTool(tool string, scopes scope.Set) *Policy {
	q := p.clone()
	if q.toolExtra == nil {
		q.toolExtra = make(map[string]scope.Set)
	}
	q.toolExtra[tool] = scopes
	q.precompute()
	return q
}

// precompute fills tools, so that Required never builds a set.
func (p *Policy) precompute() {
	p.tools = nil
	if len(p.toolExtra) == 0 {
		return
	}
	base := p.method(methodToolsCall)
	p.tools = make(map[string]scope.Set, len(p.toolExtra))
	for tool, extra := range p.toolExtra {
		p.tools[tool] = base.Union(extra)
	}
}

// Scopes is every scope some call may need under p, for a route's
// scopes_supported (RFC 9728).
func (p *Policy) Scopes() scope.Set {
	p = p.or()
	all := p.notifications.Union(p.fallback)
	for _, s := range p.methods {
		all = all.Union(s)
	}
	for _, s := range p.toolExtra {
		all = all.Union(s)
	}
	return all
}

// method returns the scopes of a method, ignoring tool rules.
func (p *Policy) method(m string) scope.Set {
	if s, ok := p.methods[m]; ok {
		return s
	}
	if strings.HasPrefix(m, "notifications/") {
		return p.notifications
	}
	return p.fallback
}

// Required returns the scopes a call needs, all of them: the caller must hold
// a grant that covers every one (scope.Set.CoversAll). It does not allocate.
func (p *Policy) Required(c Call) scope.Set {
	p = p.or()
	if c.Method == methodToolsCall && p.tools != nil {
		if s, ok := p.tools[c.Name]; ok {
			return s
		}
	}
	return p.method(c.Method)
}
