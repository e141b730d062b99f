package resourceserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
)

// Routes collects what a gateway's routes declare when they are made: the
// resource identifiers tokens may be minted for (all from configuration,
// never from a request), the scopes routes may ask for, and which route
// describes itself at the root metadata path.
type Routes struct {
	mu        sync.Mutex
	resources map[string]bool
	described []*Route // routes with a resource identifier, each serving its metadata
	scopes    map[string]bool
}

// NewRoutes starts a registry in which defaultAudience, the audience of
// tokens minted without a resource, is a known resource.
func NewRoutes(defaultAudience string) *Routes {
	return &Routes{resources: map[string]bool{defaultAudience: true}, scopes: map[string]bool{}}
}

func (rs *Routes) add(rt *Route) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, id := range rt.ids {
		rs.resources[id.url] = true
	}
	if len(rt.ids) > 0 {
		rs.described = append(rs.described, rt)
	}
	for _, s := range rt.supported.List() {
		rs.scopes[s] = true
	}
}

// Known reports whether a token may be minted for resource r: the default
// audience or one of a route's identifiers, tolerant of one trailing slash.
func (rs *Routes) Known(r string) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r = strings.TrimSuffix(r, "/")
	return rs.resources[r] || rs.resources[r+"/"]
}

// Scopes lists, sorted, "*" and every scope a route may ask for, for the
// authorization server's scopes_supported.
func (rs *Routes) Scopes() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := []string{scope.All}
	for s := range rs.scopes {
		if s != scope.All {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// rootOwner is the route whose metadata the root metadata path means when it
// reaches route asked: asked itself while it is the only route with a
// resource identifier, else a route mounted at the root with an identifier
// for host; nil when none or ambiguous.
func (rs *Routes) rootOwner(asked *Route, host string) *Route {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.described) == 1 && rs.described[0] == asked {
		return asked
	}
	var owner *Route
	for _, rt := range rs.described {
		if rt.mount != "" || !slices.ContainsFunc(rt.ids, func(id resourceID) bool { return strings.EqualFold(id.host, host) }) {
			continue
		}
		if owner != nil {
			return nil // two root mounts for one host: ambiguous
		}
		owner = rt
	}
	return owner
}

// identifierFor is the resource identifier to name to r's client: the one
// whose host is r's Host, else the first; nil when the route has none. The
// Host only chooses among configured identifiers.
func (rt *Route) identifierFor(r *http.Request) *resourceID {
	switch len(rt.ids) {
	case 0:
		return nil
	case 1:
		return &rt.ids[0]
	}
	for i := range rt.ids {
		if strings.EqualFold(rt.ids[i].host, r.Host) {
			return &rt.ids[i]
		}
	}
	return &rt.ids[0]
}

// serveMetadata answers GET /.well-known/oauth-protected-resource<mount> (RFC 9728 §3.2).
func (rt *Route) serveMetadata(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		authn.WriteJSON(w, http.StatusMethodNotAllowed, "invalid_request", "use GET")
		return nil
	}
	id := rt.identifierFor(r)
	if id == nil {
		authn.WriteJSON(w, http.StatusNotFound, "not_found", "this route has no resource identifier: tokens with the default audience pass it")
		return nil
	}
	b, err := json.Marshal(map[string]any{
		"resource":                 id.url,
		"authorization_servers":    []string{rt.sh.Issuer},
		"scopes_supported":         rt.supported.List(),
		"bearer_methods_supported": []string{"header"},
	})
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	if len(rt.ids) == 1 {
		hdr.Set("Cache-Control", "public, max-age=300") // the same document for every request
	} else {
		// Chosen by the request's Host: a shared cache must not hand it to another.
		hdr.Set("Cache-Control", "private, max-age=300")
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
	return nil
}

// serveRootMetadata answers /.well-known/oauth-protected-resource at a
// mount elsewhere: that mount's metadata while it is the only one, else the
// metadata of a mount at the root of this host, else 404 (several mounts:
// the root would be ambiguous, and a 401 would send clients looking for a
// token).
func (rt *Route) serveRootMetadata(w http.ResponseWriter, r *http.Request) error {
	if rt.sh.Routes != nil {
		if owner := rt.sh.Routes.rootOwner(rt, r.Host); owner != nil {
			return owner.serveMetadata(w, r)
		}
	}
	authn.WriteJSON(w, http.StatusNotFound, "not_found", "no single protected resource is described at the root: fetch /.well-known/oauth-protected-resource/<path> of the mount you want")
	return nil
}
