package caddymodule

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("blnk_auth", parseGlobal)
	httpcaddyfile.RegisterHandlerDirective("blnk_oauth", parseOAuth)
	httpcaddyfile.RegisterDirective("blnk_auth", parseAuthRoute)
	httpcaddyfile.RegisterHandlerDirective("blnk_admin", parseAdmin)
	// Before basic_auth: the token endpoint answers before anything else
	// authenticates, and blnk_auth guards everything that follows it.
	httpcaddyfile.RegisterDirectiveOrder("blnk_oauth", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("blnk_auth", httpcaddyfile.Before, "basic_auth")
	// The admin API answers every request it gets, like respond.
	httpcaddyfile.RegisterDirectiveOrder("blnk_admin", httpcaddyfile.Before, "respond")
}

// parseGlobal sets up the blnk_auth app from the global option block:
//
//	{
//		blnk_auth {
//			database   <dsn>           # required, e.g. {env.BLNK_AUTH_DATABASE_URL}
//			secret     <secret>        # required, at least 32 characters
//			issuer     <url>           # required, e.g. https://auth.example.com
//			audience   <url>           # default: the issuer
//			token_ttl  <duration>      # default 1h
//			leeway     <duration>      # default 30s, at most 60s
//			signing_algorithm ES256|EdDSA  # default ES256
//			client_cache_size  <n>     # default 100000
//			client_cache_ttl   <duration>  # default 1m
//			negative_cache_ttl <duration>  # default 30s
//			token_cache_size   <n>     # default 100000; -1 disables
//		}
//	}
func parseGlobal(d *caddyfile.Dispenser, _ any) (any, error) {
	a := new(App)
	d.Next() // the option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		key := d.Val()
		var err error
		switch key {
		case "database":
			err = oneString(d, &a.Database)
		case "secret":
			err = oneString(d, &a.Secret)
		case "issuer":
			err = oneString(d, &a.Issuer)
		case "audience":
			err = oneString(d, &a.Audience)
		case "signing_algorithm":
			err = oneString(d, &a.SigningAlgorithm)
		case "token_ttl":
			err = oneDuration(d, &a.TokenTTL)
		case "leeway":
			err = oneDuration(d, &a.Leeway)
		case "client_cache_ttl":
			err = oneDuration(d, &a.ClientCacheTTL)
		case "negative_cache_ttl":
			err = oneDuration(d, &a.NegativeCacheTTL)
		case "client_cache_size":
			err = oneInt(d, &a.ClientCacheSize)
		case "token_cache_size":
			err = oneInt(d, &a.TokenCacheSize)
		default:
			return nil, d.Errf("unrecognized blnk_auth option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	return httpcaddyfile.App{Name: "blnk_auth", Value: caddyconfig.JSON(a, nil)}, nil
}

func oneString(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

func oneDuration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	if err := oneString(d, &s); err != nil {
		return err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("%s: %v", d.Val(), err)
	}
	*dst = caddy.Duration(v)
	return nil
}

func oneInt(d *caddyfile.Dispenser, dst *int64) error {
	var s string
	if err := oneString(d, &s); err != nil {
		return err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return d.Errf("%s: not a whole number", s)
	}
	*dst = v
	return nil
}

// parseOAuth sets up the token endpoint and metadata; it takes no options:
//
//	blnk_oauth
func parseOAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next()
	if h.NextArg() || h.NextBlock(0) {
		return nil, h.Err("blnk_oauth takes no arguments or options; configure the blnk_auth global option")
	}
	return new(OAuth), nil
}

// parseAuthRoute makes the blnk_auth route. When its matcher is a single path
// such as /mcp*, the path is the route's mount: the route also matches
// /.well-known/oauth-protected-resource/mcp, where the handler serves the
// mount's Protected Resource Metadata (RFC 9728).
func parseAuthRoute(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	a, err := parseAuth(h)
	if err != nil {
		return nil, err
	}
	auth := a.(*Auth)
	vals := h.NewRoute(matcherSet, auth)
	if matcherSet == nil {
		return vals, nil // every request reaches it, the metadata path included
	}
	mount, ok := mountOf(matcherSet)
	if !ok && auth.MountPath == "" && auth.Resource == "" {
		return vals, nil // an elaborate matcher: no metadata unless resource is set
	}
	if auth.MountPath == "" && ok {
		auth.MountPath = mount
		vals = h.NewRoute(matcherSet, auth)
	}
	metaPath := auth.MountPath
	if metaPath == "" {
		u, err := url.Parse(auth.Resource)
		if err != nil {
			return nil, h.Errf("resource: %v", err)
		}
		metaPath = strings.TrimSuffix(u.Path, "/")
	}
	route := vals[0].Value.(caddyhttp.Route)
	metaPaths := []string{wellKnownResource + metaPath}
	if metaPath != "" {
		// The root variant, answered only while this is the config's one mount.
		metaPaths = append(metaPaths, wellKnownResource)
	}
	route.MatcherSetsRaw = append(route.MatcherSetsRaw, caddy.ModuleMap{
		"path": caddyconfig.JSON(metaPaths, nil),
	})
	vals[0].Value = route
	return vals, nil
}

// mountOf reads the mount path from a matcher set that is exactly one path
// pattern with at most a trailing wildcard: /mcp, /mcp* and /mcp/* give /mcp.
func mountOf(set caddy.ModuleMap) (string, bool) {
	if len(set) != 1 || set["path"] == nil {
		return "", false
	}
	var paths []string
	if err := json.Unmarshal(set["path"], &paths); err != nil || len(paths) != 1 {
		return "", false
	}
	p := strings.TrimSuffix(strings.TrimSuffix(paths[0], "*"), "/")
	if !strings.HasPrefix(paths[0], "/") || strings.ContainsAny(p, "*?[]%") {
		return "", false
	}
	return p, true
}

// parseAuth sets up enforcement on the matched requests:
//
//	blnk_auth [<matcher>] [<scope...>] {
//		scopes     <scope...>  # required scopes, all of them (added to the inline ones)
//		realm      <realm>     # default "blnk"
//		resource   <url>       # this route's resource identifier (RFC 8707, RFC 9728); default: its canonical URL
//		mount_path <path>      # the path it protects, for its metadata; default: from a single path matcher
//		mcp {                  # an MCP endpoint: also require the scopes of each JSON-RPC method
//			tool   <name> <scope...>   # more scopes for tools/call of that tool
//			method <name> <scope...>   # replace the default scopes of a method
//			max_body_size <bytes>      # default 1 MiB
//		}
//		blnk_api {             # a Blnk Core API: also require the scope of each operation
//			upstream_key <key> # the gateway's own Blnk API key, sent as X-Blnk-Key
//			manage_api_keys    # let callers manage their own Blnk API keys (/api-keys); default: refused
//		}
//	}
func parseAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(Auth)
	h.Next()
	a.Scopes = append(a.Scopes, h.RemainingArgs()...)
	for h.NextBlock(0) {
		switch h.Val() {
		case "scopes":
			args := h.RemainingArgs()
			if len(args) == 0 {
				return nil, h.ArgErr()
			}
			a.Scopes = append(a.Scopes, args...)
		case "realm":
			if err := oneString(h.Dispenser, &a.Realm); err != nil {
				return nil, err
			}
		case "resource":
			if err := oneString(h.Dispenser, &a.Resource); err != nil {
				return nil, err
			}
		case "mount_path":
			if err := oneString(h.Dispenser, &a.MountPath); err != nil {
				return nil, err
			}
		case "mcp":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			a.MCP = new(MCP)
			for nesting := h.Nesting(); h.NextBlock(nesting); {
				switch h.Val() {
				case "tool", "method":
					kind := h.Val()
					args := h.RemainingArgs()
					if len(args) < 2 {
						return nil, h.Errf("%s <name> <scope...>", kind)
					}
					m := &a.MCP.Tools
					if kind == "method" {
						m = &a.MCP.Methods
					}
					if *m == nil {
						*m = map[string][]string{}
					}
					(*m)[args[0]] = append((*m)[args[0]], args[1:]...)
				case "max_body_size":
					var n int64
					if err := oneInt(h.Dispenser, &n); err != nil {
						return nil, err
					}
					a.MCP.MaxBodySize = n
				default:
					return nil, h.Errf("unrecognized mcp option %q", h.Val())
				}
			}
		case "blnk_api":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			a.BlnkAPI = new(BlnkAPI)
			for nesting := h.Nesting(); h.NextBlock(nesting); {
				switch h.Val() {
				case "upstream_key":
					if err := oneString(h.Dispenser, &a.BlnkAPI.UpstreamKey); err != nil {
						return nil, err
					}
				case "manage_api_keys":
					if h.NextArg() {
						return nil, h.ArgErr()
					}
					a.BlnkAPI.ManageAPIKeys = true
				default:
					return nil, h.Errf("unrecognized blnk_api option %q", h.Val())
				}
			}
		default:
			return nil, h.Errf("unrecognized blnk_auth option %q", h.Val())
		}
	}
	return a, nil
}

// parseAdmin sets up the admin API, usually inside handle_path:
//
//	handle_path /admin/* {
//		blnk_admin {
//			master_key      <key>        # e.g. {env.BLNK_AUTH_MASTER_KEY}; default none
//			allowed_origins <origin...>  # CORS; default none
//		}
//	}
func parseAdmin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(AdminAPI)
	h.Next()
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		switch h.Val() {
		case "master_key":
			if err := oneString(h.Dispenser, &a.MasterKey); err != nil {
				return nil, err
			}
		case "allowed_origins":
			origins := h.RemainingArgs()
			if len(origins) == 0 {
				return nil, h.ArgErr()
			}
			a.AllowedOrigins = append(a.AllowedOrigins, origins...)
		default:
			return nil, h.Errf("unrecognized blnk_admin option %q", h.Val())
		}
	}
	return a, nil
}
