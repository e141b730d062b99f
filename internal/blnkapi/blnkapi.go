// Package blnkapi derives, from an HTTP request's method and path, the scope
// ("resource:action") that Blnk Core itself requires of an API key, so the
// gateway authorizes exactly what Blnk Core would.
//
// # Source of truth
//
// The rules are a transcription of Blnk Core's API-key middleware
// (github.com/blnkfinance/blnk):
//
//   - api/middleware/scope.go: methodToAction, the Resource and Action
//     constants, and HasPermission (the wildcard rules).
//   - api/middleware/auth.go: pathToResource, getResourceFromPath (with its
//     three aliases) and Authenticate (which paths skip authentication, and
//     the 403 "Unknown resource type" for anything else).
//
// getResourceFromPath there is, verbatim:
//
//	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
//	...
//	if parts[0] == "mocked-account"     { return ResourceAccounts }
//	if parts[0] == "multi-search"       { return ResourceSearch }
//	if parts[0] == "refund-transaction" { return ResourceTransactions }
//	if resource, ok := pathToResource[parts[0]]; ok { return resource }
//	return ""
//
// and methodToAction is GET, HEAD → read; POST, PUT, PATCH → write;
// DELETE → delete; any other method (matched case-sensitively) has no action,
// so HasPermission refuses it.
//
// Consequences this package reproduces on purpose:
//
//   - Only the first path segment counts: "/ledgers/ldg_1/balances" requires
//     ledgers:…, not balances:….
//   - Exactly one leading slash is removed, so "//ledgers" has an empty first
//     segment and names no resource. Trailing and inner empty segments do not
//     matter ("/ledgers/", "/ledgers//x" are ledgers).
//   - Matching is exact and case-sensitive: "/Ledgers", "/ledgers%20",
//     "/backup-s3" and "/balances-snapshots" name no resource, although the
//     last two are real Blnk routes (an API key cannot reach them in Blnk
//     either; only the master key can).
//   - Blnk's metadata route is "POST /:entity-id/metadata": its first segment
//     is an entity ID, not "metadata", so Blnk refuses it to every API key as
//     an unknown resource. This package does the same; only paths whose first
//     segment is literally "metadata" require metadata:….
//
// # Which path to pass
//
// Blnk evaluates c.Request.URL.Path: the percent-DECODED path, without the
// query string. Callers must pass the same thing (r.URL.Path). A path that
// still contains "%xx" escapes or a "?" is taken literally, so its first
// segment matches no resource and the answer is ok=false — the conservative
// outcome.
package blnkapi

import "strings"

// The actions of Blnk Core's methodToAction (api/middleware/scope.go).
const (
	actionRead = iota
	actionWrite
	actionDelete
	numActions
)

var actionNames = [numActions]string{
	actionRead:   "read",
	actionWrite:  "write",
	actionDelete: "delete",
}

// The resources of Blnk Core's pathToResource (api/middleware/auth.go), in the
// order Blnk declares them.
const (
	resLedgers = iota
	resBalances
	resAccounts
	resIdentities
	resTransactions
	resBalanceMonitors
	resHooks
	resAPIKeys
	resSearch
	resReconciliation
	resMetadata
	resBackup
	// events and subscribers were added to pathToResource in recent Blnk Core
	// releases (the table in api/middleware/auth.go that also skips /health,
	// /metrics and /debug/pprof). GUESS: their Resource constants'
	// values, defined in a scope.go version not found by our search, are
	// assumed to be "events" and "subscribers", following the naming of every
	// other constant. Blnk additionally gates both surfaces on the master key
	// in their handlers, so an API key with these scopes is still refused
	// there; mapping them only keeps the gateway from refusing earlier than
	// Blnk does.
	resEvents
	resSubscribers
	numResources
	resNone = -1
)

var resourceNames = [numResources]string{
	resLedgers:         "ledgers",
	resBalances:        "balances",
	resAccounts:        "accounts",
	resIdentities:      "identities",
	resTransactions:    "transactions",
	resBalanceMonitors: "balance-monitors",
	resHooks:           "hooks",
	resAPIKeys:         "api-keys",
	resSearch:          "search",
	resReconciliation:  "reconciliation",
	resMetadata:        "metadata",
	resBackup:          "backup",
	resEvents:          "events",
	resSubscribers:     "subscribers",
}

// scopes[r][a] is resource r's name + ":" + action a's name, built once so
// that RequiredScope returns a shared string and never allocates.
var scopes = func() (t [numResources][numActions]string) {
	for r := range numResources {
		for a := range numActions {
			t[r][a] = resourceNames[r] + ":" + actionNames[a]
		}
	}
	return t
}()

// RequiredScope returns the scope ("resource:action") Blnk Core requires for
// method and path, or ok=false when the path names no known resource (the
// gateway answers 403) — or the method is not one Blnk maps.
//
// path is the decoded request path without the query (r.URL.Path); see the
// package documentation. method is matched case-sensitively, as Blnk does:
// only GET, HEAD, POST, PUT, PATCH and DELETE are mapped.
//
// RequiredScope does not know about the paths Blnk lets through without any
// key; see Exempt. It does not allocate.
func RequiredScope(method, path string) (scope string, ok bool) {
	r := resourceOf(firstSegment(path))
	if r == resNone {
		return "", false
	}
	a := actionOf(method)
	if a < 0 {
		return "", false
	}
	return scopes[r][a], true
}

// Resources lists the known resource names (for docs and scopes_supported),
// in Blnk Core's order. Each call returns a new slice the caller may modify.
// Aliases (path segments that map to one of these) are not listed: they are
// not scope names.
func Resources() []string {
	return append([]string(nil), resourceNames[:]...)
}

// Exempt reports whether Blnk Core's Authenticate middleware lets a request
// for path through without checking any key, so that Blnk itself requires no
// scope. The comparison is exact (case-sensitive, no normalisation) because
// Blnk's is:
//
//   - "/": the server banner (skipped in every Blnk version).
//   - "/health": the server health check.
//   - "/metrics": Prometheus metrics, which Blnk guards with its own bearer
//     token (MetricsAuth) instead of X-Blnk-Key.
//   - any path starting with "/debug/pprof": profiling, behind the same
//     MetricsAuth as /metrics (strings.HasPrefix in Blnk, so "/debug/pprofX"
//     is exempt too).
//
// The last three appear only in recent Blnk Core releases; older ones skip
// "/" only (and every path when Blnk runs with secure mode off, which is a
// deployment setting, not something a path can tell). Whether the gateway
// forwards exempt paths without a token is the gateway's policy, not this
// package's.
func Exempt(path string) bool {
	switch path {
	case "/", "/health", "/metrics":
		return true
	}
	return strings.HasPrefix(path, "/debug/pprof")
}

// firstSegment mirrors parts[0] of
// strings.Split(strings.TrimPrefix(path, "/"), "/") without allocating.
func firstSegment(path string) string {
	path = strings.TrimPrefix(path, "/")
	if i := strings.IndexByte(path, '/'); i >= 0 {
		return path[:i]
	}
	return path
}

// resourceOf mirrors Blnk's getResourceFromPath on an already extracted first
// segment: the three aliases, then pathToResource, else no resource.
func resourceOf(segment string) int {
	switch segment {
	// Aliases: the special cases in getResourceFromPath.
	case "mocked-account":
		return resAccounts
	case "multi-search":
		return resSearch
	case "refund-transaction":
		return resTransactions

	// pathToResource.
	case "ledgers":
		return resLedgers
	case "balances":
		return resBalances
	case "accounts":
		return resAccounts
	case "identities":
		return resIdentities
	case "transactions":
		return resTransactions
	case "balance-monitors":
		return resBalanceMonitors
	case "hooks":
		return resHooks
	case "api-keys":
		return resAPIKeys
	case "search":
		return resSearch
	case "reconciliation":
		return resReconciliation
	case "metadata":
		return resMetadata
	case "backup":
		return resBackup
	case "events":
		return resEvents
	case "subscribers":
		return resSubscribers
	}
	return resNone
}

// actionOf mirrors Blnk's methodToAction; -1 when the method has no action.
func actionOf(method string) int {
	switch method {
	case "GET", "HEAD":
		return actionRead
	case "POST", "PUT", "PATCH":
		return actionWrite
	case "DELETE":
		return actionDelete
	}
	return -1
}
