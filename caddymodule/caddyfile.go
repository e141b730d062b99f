package caddymodule

import (
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/resourceserver"
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
	httpcaddyfile.RegisterHandlerDirective("blnk_health", parseHealth)
	// Probes answer before any credential is asked for (blnk_oauth and
	// blnk_auth sit between try_files and basic_auth).
	httpcaddyfile.RegisterDirectiveOrder("blnk_health", httpcaddyfile.Before, "try_files")
}

// parseGlobal sets up the blnk_auth app from the global option block:
//
//	{
//		blnk_auth {
//			database   <dsn>           # required, e.g. {env.BLNK_AUTH_DATABASE_URL}
//			secret     <secret>        # required with PostgreSQL: random, at least 32 characters, e.g. {env.BLNK_AUTH_SECRET}
//			secret_previous <secret...> # while changing the secret: the old one(s); default none
//			issuer     <url>           # required, e.g. https://auth.example.com
//			audience   <url>           # default: the issuer
//			token_ttl  <duration>      # default 1h
//			leeway     <duration>      # default 30s, at most 60s
//			signing_algorithm ES256|EdDSA  # default ES256
//			signing_key_rotation <duration>|off  # default 30d
//			signing_key_publish_lead <duration>  # default 1h; longer than jwks_max_age
//			jwks_max_age <duration>    # the JWKS's Cache-Control max-age; default 5m
//			client_cache_size  <n>     # default 100000
//			client_cache_ttl   <duration>  # default 1m
//			negative_cache_ttl <duration>  # default 30s
//			max_stale <duration>       # cached clients trusted while the database is unreachable; default 1s
//			change_feed listen|poll [<interval>]  # default listen (PostgreSQL), poll 150ms (SQLite)
//			token_cache_size   <n>     # default 100000; -1 disables
//			consent_url <path|url>     # turns the authorization-code flow on, e.g. /admin/authorize; default none
//			refresh_token_ttl <duration>  # life of an approval's refresh tokens; default 720h
//			client_metadata {          # accept Client ID Metadata Documents (unregistered public clients); default off
//				allowed_hosts <host...>    # default: any public host
//				allow_private              # fetch from private/loopback addresses too; default no
//				timeout <duration>         # default 5s
//				scopes <scope...>          # the most such a client may be granted; default mcp:*
//			}
//			throttle off               # or a block:
//			throttle {
//				address_failures <n>   # per window and address; default 20
//				client_failures  <n>   # per window and client ID; default 100
//				window <duration>      # default 1m
//				max_keys <n>           # addresses (and client IDs) remembered; default 100000
//			}
//			jwks_uri {                 # fetching private_key_jwt clients' key sets
//				allow_private          # loopback and private addresses too; default off
//				allowed_hosts <host...>  # default any public host
//				trusted_ca_file <pem>  # default the system's roots
//				min_refresh <duration> # between fetches an unknown kid causes; default 30s
//			}
//			login oidc {               # people sign in at the dashboard through an OpenID Connect provider
//				issuer <url>           # required
//				client_id <id>         # required
//				client_secret <secret> # required, e.g. {env.OIDC_CLIENT_SECRET}
//				...                    # who may sign in and what they may grant: see parseLogin
//			}
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
			if err = oneString(d, &a.Database); err == nil && dsnHasLiteralPassword(a.Database) {
				warnLiteral(d, key)
			}
		case "secret":
			if err = oneString(d, &a.Secret); err == nil && isLiteral(a.Secret) {
				warnLiteral(d, key)
			}
		case "secret_previous":
			prev := d.RemainingArgs()
			if len(prev) == 0 {
				return nil, d.ArgErr()
			}
			for _, p := range prev {
				if isLiteral(p) {
					warnLiteral(d, key)
				}
			}
			a.SecretPrevious = append(a.SecretPrevious, prev...)
		case "issuer":
			err = oneString(d, &a.Issuer)
		case "audience":
			err = oneString(d, &a.Audience)
		case "signing_algorithm":
			err = oneString(d, &a.SigningAlgorithm)
		case "signing_key_rotation":
			var v string
			if err = oneString(d, &v); err != nil {
				break
			}
			if v == "off" {
				a.SigningKeyRotation = -1
				break
			}
			var dur time.Duration
			if dur, err = caddy.ParseDuration(v); err != nil || dur <= 0 {
				err = d.Errf("signing_key_rotation: want a positive duration or off, got %q", v)
			}
			a.SigningKeyRotation = caddy.Duration(dur)
		case "signing_key_publish_lead":
			err = oneDuration(d, &a.SigningKeyPublishLead)
		case "jwks_max_age":
			err = oneDuration(d, &a.JWKSMaxAge)
		case "token_ttl":
			err = oneDuration(d, &a.TokenTTL)
		case "leeway":
			err = oneDuration(d, &a.Leeway)
		case "client_cache_ttl":
			err = oneDuration(d, &a.ClientCacheTTL)
		case "negative_cache_ttl":
			err = oneDuration(d, &a.NegativeCacheTTL)
		case "max_stale":
			err = oneDuration(d, &a.MaxStale)
		case "change_feed":
			a.ChangeFeed, err = parseChangeFeed(d)
		case "client_cache_size":
			err = oneInt(d, &a.ClientCacheSize)
		case "token_cache_size":
			err = oneInt(d, &a.TokenCacheSize)
		case "throttle":
			a.Throttle, err = parseThrottle(d)
		case "jwks_uri":
			a.JWKSURI, err = parseJWKSURI(d)
		case "consent_url":
			err = oneString(d, &a.ConsentURL)
		case "refresh_token_ttl":
			err = oneDuration(d, &a.RefreshTokenTTL)
		case "client_metadata":
			a.ClientMetadata, err = parseClientMetadata(d)
		case "login":
			a.Login, err = parseLogin(d)
		default:
			return nil, d.Errf("unrecognized blnk_auth option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	return httpcaddyfile.App{Name: "blnk_auth", Value: caddyconfig.JSON(a, nil)}, nil
}

// parseClientMetadata parses the client_metadata block (or the bare option).
func parseClientMetadata(d *caddyfile.Dispenser) (*ClientMetadataConfig, error) {
	m := new(ClientMetadataConfig)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "allowed_hosts":
			hosts := d.RemainingArgs()
			if len(hosts) == 0 {
				return nil, d.ArgErr()
			}
			m.AllowedHosts = append(m.AllowedHosts, hosts...)
		case "allow_private":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			m.AllowPrivate = true
		case "timeout":
			if err := oneDuration(d, &m.Timeout); err != nil {
				return nil, err
			}
		case "scopes":
			list := d.RemainingArgs()
			if len(list) == 0 {
				return nil, d.ArgErr()
			}
			m.Scopes = append(m.Scopes, list...)
		default:
			return nil, d.Errf("unrecognized client_metadata option %q", d.Val())
		}
	}
	return m, nil
}

// isLiteral reports whether a secret-bearing value is written out rather than
// read when the config loads ({env.*} or {file.*}). By the time the adapter
// sees a value, {$VAR} has already been expanded into a literal one.
func isLiteral(v string) bool {
	return v != "" && !strings.Contains(v, "{env.") && !strings.Contains(v, "{file.")
}

// dsnHasLiteralPassword reports whether a PostgreSQL connection string, URL or
// key=value, carries a literal password.
func dsnHasLiteralPassword(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		pw, ok := u.User.Password()
		return ok && isLiteral(pw) || isLiteral(u.Query().Get("password"))
	}
	for _, f := range strings.Fields(dsn) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.TrimSpace(k) == "password" {
			return isLiteral(strings.Trim(v, "'"))
		}
	}
	return false
}

// warnLiteral says, once per option, that a secret written into the
// Caddyfile is kept in every stored copy of the adapted config: Caddy's
// autosave.json and what its admin endpoint serves (GET /config/). Never the
// value itself.
func warnLiteral(d *caddyfile.Dispenser, option string) {
	caddy.Log().Named("caddyfile").Warn("blnk_auth: "+option+" is written literally (or as {$VAR}, which the adapter expands), so the adapted config holds it: "+
		"Caddy saves it in autosave.json and serves it on its admin endpoint (GET /config/); use {env.NAME} or {file.PATH}, which are read when the config loads",
		zap.String("option", option), zap.String("file", d.File()), zap.Int("line", d.Line()))
}

// parseChangeFeed reads "change_feed listen" or "change_feed poll [<interval>]".
func parseChangeFeed(d *caddyfile.Dispenser) (*ChangeFeedConfig, error) {
	f := new(ChangeFeedConfig)
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	f.Mode = d.Val()
	switch f.Mode {
	case "listen":
	case "poll":
		if d.NextArg() {
			v, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return nil, d.Errf("change_feed poll %q: %v", d.Val(), err)
			}
			f.PollInterval = caddy.Duration(v)
		}
	default:
		return nil, d.Errf("change_feed: want listen or poll [<interval>], got %q", f.Mode)
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	return f, nil
}

// parseThrottle reads "throttle off" or a throttle block.
func parseThrottle(d *caddyfile.Dispenser) (*ThrottleConfig, error) {
	t := new(ThrottleConfig)
	if d.NextArg() {
		if d.Val() != "off" || d.NextArg() {
			return nil, d.Errf("throttle: want off or a block, got %q", d.Val())
		}
		t.Off = true
		return t, nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		var n int64
		switch key := d.Val(); key {
		case "off":
			t.Off = true
		case "address_failures", "client_failures", "max_keys":
			if err = oneInt(d, &n); err == nil {
				if n < 1 {
					return nil, d.Errf("throttle %s: must be at least 1", key)
				}
				switch key {
				case "address_failures":
					t.AddressFailures = int(n)
				case "client_failures":
					t.ClientFailures = int(n)
				default:
					t.MaxKeys = int(n)
				}
			}
		case "window":
			err = oneDuration(d, &t.Window)
		default:
			return nil, d.Errf("unrecognized throttle option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

// parseRouteRateLimit reads "rate_limit <requests>/<s|m|h> [burst <n>]".
func parseRouteRateLimit(d *caddyfile.Dispenser) (*RouteRateLimit, error) {
	args := d.RemainingArgs()
	if len(args) != 1 && (len(args) != 3 || args[1] != "burst") {
		return nil, d.Errf("rate_limit <requests>/<s|m|h> [burst <n>], e.g. rate_limit 100/s burst 200")
	}
	burst := 0
	if len(args) == 3 {
		n, err := strconv.Atoi(args[2])
		if err != nil || n < 1 {
			return nil, d.Errf("rate_limit: burst %q must be a whole number of at least 1", args[2])
		}
		burst = n
	}
	l, err := admin.ParseRate(args[0], burst)
	if err != nil {
		return nil, d.Errf("rate_limit: %v", err)
	}
	return &RouteRateLimit{Requests: l.Requests, Per: caddy.Duration(l.Per), Burst: l.Burst}, nil
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
// such as /mcp* (with at most a host matcher beside it), the path is the
// route's mount: the route also matches
// /.well-known/oauth-protected-resource/mcp, where the handler serves the
// mount's Protected Resource Metadata (RFC 9728). Unless the route sets
// resource, its resource identifiers are the mount's canonical URLs on the
// host names its site's addresses (or its host matcher) name; with none, the
// adapter warns, since only tokens with the default audience pass it then.
func parseAuthRoute(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	file, line := h.File(), h.Line()
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	a, err := parseAuth(h)
	if err != nil {
		return nil, err
	}
	auth := a.(*Auth)
	mount, hosts, hasPath, simple := mountOf(matcherSet)
	if auth.MountPath == "" && simple {
		auth.MountPath = mount
	}
	if auth.Resource == "" && len(auth.Resources) == 0 {
		if simple || auth.MountPath != "" {
			keys, err := siteKeys(h)
			if err != nil {
				return nil, h.Err(err.Error())
			}
			auth.Resources = canonicalURLs(keys, hosts, strings.TrimSuffix(auth.MountPath, "/"), portOption(h, "http_port", "80"), portOption(h, "https_port", "443"))
		}
		if len(auth.Resources) == 0 {
			// Caddy's own idiom for adapt-time advice about site addresses;
			// `caddy run` and `caddy adapt` print it.
			caddy.Log().Named("caddyfile").Warn("blnk_auth route without a resource identifier: only tokens with the default audience pass it, and it serves no Protected Resource Metadata, so MCP clients cannot discover it; "+
				"give its site a host name (e.g. https://api.example.com or http://localhost:8081, not :8081) or set its resource option",
				zap.String("file", file), zap.Int("line", line))
		}
	}
	vals := h.NewRoute(matcherSet, auth)
	if !hasPath && simple {
		return vals, nil // every request to its hosts reaches it, the metadata path included
	}
	if !simple && auth.MountPath == "" && auth.Resource == "" {
		return vals, nil // an elaborate matcher: no metadata unless resource or mount_path is set
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
	metaPaths := []string{resourceserver.WellKnownPath + metaPath}
	if metaPath != "" {
		// The root variant: this mount's metadata while it is the config's
		// only one, else a root mount's of the request's host, else 404.
		metaPaths = append(metaPaths, resourceserver.WellKnownPath)
	}
	meta := caddy.ModuleMap{"path": caddyconfig.JSON(metaPaths, nil)}
	if hosts != nil {
		meta["host"] = caddyconfig.JSON(hosts, nil)
	}
	route.MatcherSetsRaw = append(route.MatcherSetsRaw, meta)
	vals[0].Value = route
	return vals, nil
}

// mountOf reads a matcher set made of at most one path pattern, with at most
// a trailing wildcard (/mcp, /mcp* and /mcp/* give the mount /mcp), and a
// host matcher (hosts). No matcher at all is the root mount. simple is false
// for any other matcher.
func mountOf(set caddy.ModuleMap) (mount string, hosts []string, hasPath, simple bool) {
	for name := range set {
		if name != "path" && name != "host" {
			return "", nil, false, false
		}
	}
	if raw := set["host"]; raw != nil {
		if err := json.Unmarshal(raw, &hosts); err != nil || len(hosts) == 0 {
			return "", nil, false, false
		}
	}
	raw := set["path"]
	if raw == nil {
		return "", hosts, false, true
	}
	var paths []string
	if err := json.Unmarshal(raw, &paths); err != nil || len(paths) != 1 {
		return "", nil, false, false
	}
	p := strings.TrimSuffix(strings.TrimSuffix(paths[0], "*"), "/")
	if !strings.HasPrefix(paths[0], "/") || strings.ContainsAny(p, "*?[]%") {
		return "", nil, false, false
	}
	return p, hosts, true, true
}

// siteKeys returns the addresses of the site block the directive is in.
// httpcaddyfile.Helper has no accessor for them (Caddy v2.11), so they are
// read, read-only, from its parentBlock field through reflect, after checking
// its type. Should a Caddy upgrade rename it, adapting fails here rather than
// leaving every route without identifiers in silence.
func siteKeys(h httpcaddyfile.Helper) ([]string, error) {
	if h.IsNamedRoute() {
		return nil, nil // a named route belongs to no site
	}
	block := reflect.ValueOf(h).FieldByName("parentBlock")
	if !block.IsValid() || block.Type() != reflect.TypeFor[caddyfile.ServerBlock]() {
		return nil, errors.New("blnk_auth: this Caddy version hides the site's addresses; set resource on each blnk_auth route")
	}
	keys := block.FieldByName("Keys")
	out := make([]string, 0, keys.Len())
	for i := range keys.Len() {
		out = append(out, keys.Index(i).FieldByName("Text").String())
	}
	return out, nil
}

// portOption is the http_port or https_port global option, else def.
func portOption(h httpcaddyfile.Helper, name, def string) string {
	if p, ok := h.Option(name).(int); ok && p > 0 {
		return strconv.Itoa(p)
	}
	return def
}

// canonicalURLs are the URLs a mount is reached at through a site with the
// given addresses, as Caddy serves them: the address's scheme, else http on
// the HTTP port, https on the HTTPS port or for a host name (automatic
// HTTPS), http otherwise; the port unless it is the scheme's default. hosts
// from a host matcher replace the addresses' own. Addresses without a host
// name, wildcards and placeholders give none: a URL needs one host.
func canonicalURLs(keys, hosts []string, mount, httpPort, httpsPort string) []string {
	var out []string
	for _, key := range keys {
		addr, err := httpcaddyfile.ParseAddress(key)
		if err != nil {
			continue // Caddy refuses the address itself
		}
		names := hosts
		if names == nil {
			names = []string{addr.Host}
		}
		scheme, port := addr.Scheme, addr.Port
		if scheme == "" {
			switch {
			case port == httpPort:
				scheme = "http"
			case port == httpsPort || addr.Host != "":
				scheme = "https"
			default:
				scheme = "http"
			}
		}
		if port == "" {
			port = httpsPort
			if scheme == "http" {
				port = httpPort
			}
		}
		for _, name := range names {
			name = strings.ToLower(name)
			if name == "" || strings.ContainsAny(name, "*{}") {
				continue
			}
			hostport := name
			if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
				if strings.Contains(name, ":") {
					hostport = "[" + name + "]" // IPv6
				}
			} else {
				hostport = net.JoinHostPort(name, port)
			}
			if u := scheme + "://" + hostport + mount; !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	return out
}

// parseAuth sets up enforcement on the matched requests:
//
//	blnk_auth [<matcher>] [<scope...>] {
//		scopes     <scope...>  # required scopes, all of them (added to the inline ones)
//		realm      <realm>     # default "blnk"
//		resource   <url>       # this route's resource identifier (RFC 8707, RFC 9728); default: the mount's
//		                       # canonical URL on each host name of the site's addresses (none without one)
//		mount_path <path>      # the path it protects, for its metadata; default: from a single path matcher
//		rate_limit <n>/<s|m|h> [burst <b>]  # per client on this route, per instance; default none
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
		case "rate_limit":
			l, err := parseRouteRateLimit(h.Dispenser)
			if err != nil {
				return nil, err
			}
			a.RateLimit = l
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
					if isLiteral(a.BlnkAPI.UpstreamKey) {
						warnLiteral(h.Dispenser, "upstream_key")
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
	if a.MCP != nil && a.BlnkAPI != nil {
		return nil, h.Err(errMCPAndBlnk.Error())
	}
	return a, nil
}

// parseAdmin sets up the admin API, usually inside handle_path:
//
//	handle_path /admin/* {
//		blnk_admin {
//			master_key      <key>        # e.g. {env.BLNK_AUTH_MASTER_KEY}; default none
//			allowed_origins <origin...>  # CORS; default none
//			no_dashboard                 # no browser page at the mount's root; default: served
//			session_idle_timeout 30m     # dashboard session idle timeout; default 30m
//			session_lifetime 12h         # dashboard session absolute timeout; default 12h
//			scope_choices <scope...>     # offered in the create form; default *, the routes' scopes, mcp:*, api-keys:*
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
			if isLiteral(a.MasterKey) {
				warnLiteral(h.Dispenser, "master_key")
			}
		case "allowed_origins":
			origins := h.RemainingArgs()
			if len(origins) == 0 {
				return nil, h.ArgErr()
			}
			a.AllowedOrigins = append(a.AllowedOrigins, origins...)
		case "no_dashboard":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			a.NoDashboard = true
		case "session_idle_timeout", "session_lifetime":
			opt := h.Val()
			if !h.NextArg() {
				return nil, h.ArgErr()
			}
			v, err := caddy.ParseDuration(h.Val())
			if err != nil || v <= 0 {
				return nil, h.Errf("%s: a positive duration such as 30m: %q", opt, h.Val())
			}
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			d := caddy.Duration(v)
			if opt == "session_idle_timeout" {
				a.SessionIdleTimeout = d
			} else {
				a.SessionLifetime = d
			}
		case "scope_choices":
			choices := h.RemainingArgs()
			if len(choices) == 0 {
				return nil, h.ArgErr()
			}
			a.ScopeChoices = append(a.ScopeChoices, choices...)
		default:
			return nil, h.Errf("unrecognized blnk_admin option %q", h.Val())
		}
	}
	return a, nil
}
