// Package caddymodule is the Caddy adapter of the Blnk Auth Gateway, and the
// only package that imports Caddy: the "blnk_auth" app (database, signing
// keys, caches, shared through a UsagePool), the "blnk_oauth", "blnk_auth"
// and "blnk_admin" handlers as config plus delegation (to
// internal/authserver, internal/resourceserver and admin), their Caddyfile
// syntax, metrics on Caddy's registry and the "caddy blnk-auth" command.
package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authcode"
	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientcache"
	"github.com/blnkfinance/blnk-auth-gateway/internal/clientmetadata"
	"github.com/blnkfinance/blnk-auth-gateway/internal/keyring"
	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpsession"
	"github.com/blnkfinance/blnk-auth-gateway/internal/oidclogin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/ratelimit"
	"github.com/blnkfinance/blnk-auth-gateway/internal/resourceserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/throttle"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

func init() {
	caddy.RegisterModule(App{})
}

// Defaults of the app's settings.
const (
	DefaultTokenTTL         = time.Hour
	DefaultLeeway           = 30 * time.Second
	DefaultTokenCacheSize   = 100_000
	MinSecretLength         = 32
	defaultStartupTimeout   = 30 * time.Second
	defaultSigningAlgorithm = token.ES256
	// DefaultSigningKeyRotation is how long a signing key signs before its
	// successor activates.
	DefaultSigningKeyRotation = 30 * 24 * time.Hour
	// DefaultSigningKeyPublishLead is how long a new key is in the JWKS
	// before it signs: twelve times DefaultJWKSMaxAge, and longer than the
	// JWKS caches of common libraries (jose's is 10 minutes).
	DefaultSigningKeyPublishLead = time.Hour
	// DefaultJWKSMaxAge is the JWKS response's Cache-Control max-age.
	DefaultJWKSMaxAge = 5 * time.Minute
)

// App is the "blnk_auth" app: the OAuth client store, the token signing keys
// and the caches shared by the blnk_oauth and blnk_auth handlers. The database
// pool and client cache survive config reloads (they are shared through a
// caddy.UsagePool keyed by the database and cache settings).
type App struct {
	// Database is where clients live: a PostgreSQL connection string
	// (postgres://… or key=value pairs) for production and for several
	// instances, or sqlite:///path/to/file.db for an embedded file. Default:
	// an embedded SQLite file in Caddy's data directory
	// (blnk_auth/blnk_auth.db). Placeholders such as
	// {env.BLNK_AUTH_DATABASE_URL} are expanded; one that expands to nothing
	// means the default.
	Database string `json:"database,omitempty"`

	// Secret encrypts the token signing keys at rest (Argon2id, then
	// AES-256-GCM; see package keyring). Random, at least 32 characters
	// (openssl rand -base64 32); every instance on the same database must use
	// the same one. Give it as {env.BLNK_AUTH_SECRET} or {file./path}, which
	// are read when the config loads and stay out of the stored config.
	// Required with PostgreSQL; with the embedded database it defaults to one
	// generated on first start and kept (mode 0600) beside the database file.
	Secret string `json:"secret,omitempty"`

	// SecretPrevious are secrets the signing keys may still be sealed under
	// while the secret is being changed: an instance whose secret does not
	// open them but one of these does seals them again under the secret (the
	// keys stay the same, so issued tokens keep working). Remove them once
	// every instance has the new secret. Placeholders are expanded as for
	// Secret; an empty value is ignored. Default: none.
	SecretPrevious []string `json:"secret_previous,omitempty"`

	// Issuer is the "iss" claim of every token and the base URL of the token
	// endpoint and the metadata documents, e.g. https://auth.example.com.
	// Required; https, except for localhost and loopback addresses; at most
	// 512 bytes as a token carries it (JSON-escaped: & < > count six), so
	// that every token fits in the 4096 bytes blnk_auth accepts.
	Issuer string `json:"issuer,omitempty"`

	// Audience is the "aud" of tokens requested without a resource parameter.
	// At most 512 bytes, as the issuer. Default: the issuer.
	Audience string `json:"audience,omitempty"`

	// TokenTTL is the lifetime of access tokens (never past the client's own
	// expiry). Default 1h; at most 24h.
	TokenTTL caddy.Duration `json:"token_ttl,omitempty"`

	// Leeway is the clock skew tolerated when checking a token's exp and iat.
	// Default 30s; at most 60s.
	Leeway caddy.Duration `json:"leeway,omitempty"`

	// SigningAlgorithm signs tokens: "ES256" (default) or "EdDSA". The key is
	// generated on first start and stored encrypted in the database.
	SigningAlgorithm string `json:"signing_algorithm,omitempty"`

	// SigningKeyRotation is how long a signing key signs before its
	// successor takes over: the successor is created and published in the
	// JWKS SigningKeyPublishLead before, and the replaced key stays published
	// and trusted until every token it signed has expired (its last signing
	// moment plus 24h, the longest token_ttl, plus a minute of clock skew),
	// then is retired. Instances agree on the keys through the database.
	// Default 30d; negative (Caddyfile: off) turns automatic rotation off
	// (keys still rotate by hand: caddy blnk-auth keys rotate).
	SigningKeyRotation caddy.Duration `json:"signing_key_rotation,omitempty"`

	// SigningKeyPublishLead is how long a new signing key is published in
	// the JWKS before it signs: it must be longer than JWKSMaxAge, so every
	// verifier that caches the JWKS as it is told has the key before the
	// first token it signs. Default 1h.
	SigningKeyPublishLead caddy.Duration `json:"signing_key_publish_lead,omitempty"`

	// JWKSMaxAge is the Cache-Control max-age of the JWKS response (in whole
	// seconds, rounded up). Default 5m.
	JWKSMaxAge caddy.Duration `json:"jwks_max_age,omitempty"`

	// ClientCacheSize is how many client records (including remembered unknown
	// IDs) are kept in memory, each about 300 to 360 bytes of heap (about 28 MB
	// at the default, 340 MB at 1000000; BENCHMARKS.md). Default 100000.
	ClientCacheSize int64 `json:"client_cache_size,omitempty"`

	// ClientCacheTTL is a backstop: a cached client record is re-read after
	// this long even if no change was announced. Changes normally reach every
	// instance within a second. Default 1m.
	ClientCacheTTL caddy.Duration `json:"client_cache_ttl,omitempty"`

	// NegativeCacheTTL is how long an unknown client ID is remembered.
	// Default 30s.
	NegativeCacheTTL caddy.Duration `json:"negative_cache_ttl,omitempty"`

	// MaxStale is how long, while the database or the change feed is
	// unreachable, this instance keeps deciding from what it holds: cached
	// clients and the token denylist are trusted for MaxStale after the
	// change feed was last known to be connected and caught up; after that,
	// and at once for anything not cached, requests that need the database
	// get 503 temporarily_unavailable with Retry-After. It is also the
	// bound on how late a revocation can take effect on an instance that
	// lost the database while others still reach it: they can commit one
	// that it cannot learn of until its feed is back, and when it is, the
	// feed replays the change log before anything is decided on cached data
	// again. Default 1s, the revocation latency the gateway promises; raise
	// it (e.g. 30s) to ride out database restarts and failovers, knowing that
	// a revocation may then take that long on a partitioned instance. A
	// cached client is re-read after ClientCacheTTL in any case, so values
	// above it give nothing more.
	MaxStale caddy.Duration `json:"max_stale,omitempty"`

	// ChangeFeed says how this instance learns of changes made by others.
	// Default: on PostgreSQL, LISTEN/NOTIFY if a probe at start finds that it
	// works through the connection, else (a transaction-pooling PgBouncer, a
	// database without it) polling every 150ms, with a warning; on SQLite,
	// polling every 150ms.
	ChangeFeed *ChangeFeedConfig `json:"change_feed,omitempty"`

	// TokenCacheSize is how many verified access tokens are remembered (until
	// they expire) so their signatures are checked once. 0 means the default
	// 100000; -1 disables the cache.
	TokenCacheSize int64 `json:"token_cache_size,omitempty"`

	// Throttle slows down guessing of client credentials (RFC 6749 §2.3.1):
	// failed authentications at the token, introspection and revocation
	// endpoints, of API keys at blnk_auth routes and at the admin API (API
	// keys and the master key) are counted per address and per client ID,
	// and past a budget the address (or the client ID, from addresses that
	// are failing) gets 429 with Retry-After without its credential being
	// judged. Default: on, with the defaults of ThrottleConfig.
	Throttle *ThrottleConfig `json:"throttle,omitempty"`

	// JWKSURI says how private_key_jwt clients' jwks_uri key sets are
	// fetched. Default: public https hosts only, with the defaults of
	// JWKSURIConfig.
	JWKSURI *JWKSURIConfig `json:"jwks_uri,omitempty"`
	// ConsentURL turns the authorization-code flow (RFC 6749 §4.1 with PKCE)
	// on: the URL of the consent page, which the dashboard serves at its
	// mount followed by /authorize, e.g. /admin/authorize for
	// handle_path /admin/* { blnk_admin }. A path is on the issuer's host;
	// an absolute URL may name another host of the same site. The
	// authorization endpoint sends the browser there with the request
	// sealed. Default: none, so /oauth/authorize refuses every request and
	// the token endpoint accepts client_credentials only.
	ConsentURL string `json:"consent_url,omitempty"`

	// RefreshTokenTTL bounds the life of the refresh tokens of one approval
	// (a family: every rotation keeps the first one's end). Default 720h (30
	// days); at most 8760h.
	RefreshTokenTTL caddy.Duration `json:"refresh_token_ttl,omitempty"`

	// ClientMetadata, with ConsentURL, accepts clients the operator never
	// registered: an https URL as client_id names a public client (no
	// secret, PKCE) by its Client ID Metadata Document, fetched with SSRF
	// protection (https only, no private or loopback addresses unless
	// allowed, 5 KiB, a time limit, cached). Default: none, so only
	// registered clients may use the flow.
	ClientMetadata *ClientMetadataConfig `json:"client_metadata,omitempty"`

	flow       *authcode.Flow // nil when ConsentURL is unset
	consentURL string

	// Login is how people sign in at the dashboard's sign-in page besides
	// keys: through an OpenID Connect provider (see OIDCLogin). Default:
	// keys only.
	Login *LoginConfig `json:"login,omitempty"`

	backend  *backend.Backend
	poolKey  string
	keyring  *keyring.Live // signs, keeps verifier's keys and the JWKS current, rotates
	stopKeys func()        // stops the change feed telling keyring of key changes
	verifier *token.Verifier
	decider  *authn.Decider
	// defaultAudience: the admin API accepts tokens with the default audience only.
	defaultAudience authn.Resources
	audience        string
	issuerURL       *url.URL
	logger          *zap.Logger
	metrics         *metrics

	sessions *mcpsession.Binder // binds MCP session IDs to clients; keyed by the keyring's session key

	// routes registers the config's blnk_auth routes; shared is what they use.
	routes *resourceserver.Routes
	shared *resourceserver.Shared

	throttle *throttle.Throttle // nil when off
	// jwksFetcher fetches private_key_jwt clients' jwks_uri key sets.
	jwksFetcher *safefetch.Fetcher

	login        *oidclogin.Login // nil when Login.OIDC is not set
	loginFlowKey []byte
	loginOutcome func(string) // counts sign-ins through the provider
}

// ClientMetadataConfig configures Client ID Metadata Documents.
type ClientMetadataConfig struct {
	// AllowedHosts, when set, are the only hosts whose documents are
	// fetched (exact host names, port ignored). Default: any public host.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
	// AllowPrivate lets documents be fetched from loopback, private and
	// other special-use addresses: for clients on internal hosts, never for
	// a gateway reachable from the internet. Default false.
	AllowPrivate bool `json:"allow_private,omitempty"`
	// Timeout bounds one fetch (connection, TLS, headers, body). Default 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Scopes bound what a client known only by its document may be granted
	// (the approving person may grant less). Default mcp:* (never the admin
	// API's scopes unless named here: anyone can publish a document).
	Scopes []string `json:"scopes,omitempty"`
}

// defaultMetadataScopes bound unregistered clients when Scopes is empty.
var defaultMetadataScopes = []string{"mcp:*"}

func (m *ClientMetadataConfig) options() safefetch.Options {
	return safefetch.Options{AllowPrivate: m.AllowPrivate, AllowedHosts: m.AllowedHosts, Timeout: time.Duration(m.Timeout)}
}

func (m *ClientMetadataConfig) scopes() (scope.Set, error) {
	list := m.Scopes
	if len(list) == 0 {
		list = defaultMetadataScopes
	}
	return scope.FromList(list)
}

// ThrottleConfig sets the budgets of failed authentications. An address
// failing more than AddressFailures times per Window is refused; a client ID
// failed against more than ClientFailures times per Window is refused from
// addresses that failed within the last Window, never from a clean one, so
// the real client keeps working during a flood against its ID. Counts are
// kept per instance, in memory.
type ThrottleConfig struct {
	// Off disables the throttle (for tests that fail on purpose). Default false.
	Off bool `json:"off,omitempty"`
	// AddressFailures is how many failed authentications one address (an
	// IPv6 address counts per /64) may make per Window. Default 20.
	AddressFailures int `json:"address_failures,omitempty"`
	// ClientFailures is how many failed authentications against one client
	// ID are allowed per Window, from any addresses, before addresses that
	// are failing are refused for it. Default 100.
	ClientFailures int `json:"client_failures,omitempty"`
	// Window is the period of both budgets. Default 1m.
	Window caddy.Duration `json:"window,omitempty"`
	// MaxKeys bounds how many addresses, and how many client IDs, are
	// remembered; past it the ones idle longest are forgotten. Default 100000.
	MaxKeys int `json:"max_keys,omitempty"`
}

// ChangeFeedConfig is how the change feed follows the change log.
type ChangeFeedConfig struct {
	// Mode is "listen" (PostgreSQL LISTEN/NOTIFY on a connection of its own;
	// not with SQLite; the start fails if the probe finds that it does not
	// work) or "poll" (read the change log every PollInterval
	// through the pool: for PostgreSQL behind a transaction-pooling
	// PgBouncer, or a Postgres-wire database without LISTEN/NOTIFY; queries
	// then run without prepared statements). Default: see App.ChangeFeed.
	Mode string `json:"mode,omitempty"`
	// PollInterval is how often "poll" reads the change log: a revocation
	// reaches every instance within it. Default 150ms; at least 10ms.
	PollInterval caddy.Duration `json:"poll_interval,omitempty"`
}

// Defaults of the change feed and max_stale.
const (
	DefaultPollInterval = 150 * time.Millisecond
	DefaultMaxStale     = time.Second
	minPollInterval     = 10 * time.Millisecond
)

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "blnk_auth",
		New: func() caddy.Module { return new(App) },
	}
}

// backends shares one Backend (pool, cache, change feed) across config loads.
var backends = caddy.NewUsagePool()

type backendHandle struct{ *backend.Backend }

func (b backendHandle) Destruct() error { b.Close(); return nil }

// Provision connects to the database, migrates it, and loads (or creates) the
// signing key.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	db, err := backend.ParseDatabase(repl.ReplaceKnown(a.Database, ""), DefaultDatabasePath())
	if err != nil {
		return fmt.Errorf("blnk_auth: %w", err)
	}
	secret, err := a.resolveSecret(db)
	if err != nil {
		return err
	}
	issuer := repl.ReplaceKnown(a.Issuer, "")
	if err := a.checkSettings(db, secret, issuer); err != nil {
		return err
	}
	if a.MaxStale == 0 {
		a.MaxStale = caddy.Duration(DefaultMaxStale)
	}
	if err := a.applyChangeFeed(&db); err != nil {
		return err
	}
	if err := a.provisionLogin(secret, ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	a.audience = repl.ReplaceKnown(a.Audience, "")
	if a.audience == "" {
		a.audience = issuer
	}
	if err := checkURLLength("audience", a.audience); err != nil {
		return err
	}
	a.routes = resourceserver.NewRoutes(a.audience)
	if a.TokenTTL == 0 {
		a.TokenTTL = caddy.Duration(DefaultTokenTTL)
	}
	if a.Leeway == 0 {
		a.Leeway = caddy.Duration(DefaultLeeway)
	}
	if a.TokenCacheSize == 0 {
		a.TokenCacheSize = DefaultTokenCacheSize
	}
	a.keyDefaults()
	if a.RefreshTokenTTL == 0 {
		a.RefreshTokenTTL = caddy.Duration(authcode.DefaultRefreshTTL)
	}
	if err := a.Validate(); err != nil {
		return err
	}
	a.metrics = newMetrics(ctx.GetMetricsRegistry())

	cacheCfg := clientcache.Config{
		MaxClients:  a.ClientCacheSize,
		TTL:         time.Duration(a.ClientCacheTTL),
		NegativeTTL: time.Duration(a.NegativeCacheTTL),
		MaxUnsynced: time.Duration(a.MaxStale),
	}
	a.poolKey = fmt.Sprintf("%s|%+v", db.Key(), cacheCfg)
	val, _, err := backends.LoadOrNew(a.poolKey, func() (caddy.Destructor, error) {
		sctx, cancel := context.WithTimeout(ctx, defaultStartupTimeout)
		defer cancel()
		st, err := db.Open(sctx)
		if err != nil {
			return nil, err
		}
		b, err := backend.New(st, cacheCfg, a.logger.Named("feed"))
		if err != nil {
			st.Close()
			return nil, err
		}
		return backendHandle{b}, nil
	})
	if err != nil {
		return fmt.Errorf("blnk_auth: %w", err)
	}
	a.backend = val.(backendHandle).Backend
	watchBackend(ctx.GetMetricsRegistry(), a.backend)

	sctx, cancel := context.WithTimeout(ctx, defaultStartupTimeout)
	defer cancel()
	opts := a.keyOptions(secret, a.previousSecrets())
	ring, err := keyring.Open(sctx, a.backend.Store, opts)
	if err != nil {
		return fmt.Errorf("blnk_auth: loading signing keys: %w", err)
	}
	for _, skipped := range ring.Skipped {
		a.logger.Warn("a stored signing key does not open with the configured secret, which opens the others; delete its row if it is not needed", zap.Error(skipped))
	}
	if ring.Resealed {
		a.logger.Info("the signing keys were sealed under a secret in secret_previous and are now sealed under the secret; remove secret_previous once every instance has the new secret")
	} else if len(opts.Previous) > 0 {
		// While it stays, a row sealed under an old secret would still be
		// taken in: whoever holds that secret and can write the database
		// could plant a signing key.
		a.logger.Warn("secret_previous is set but no longer needed: the secret opens the signing keys; remove secret_previous")
	}
	if ring.WeakSecret != nil {
		a.logger.Warn("weak secret: the signing keys are sealed under it, so it is still accepted; replace it", zap.Error(ring.WeakSecret))
	}
	a.sessions = mcpsession.New(string(ring.SessionKey))
	if a.ConsentURL != "" {
		sealer, err := authcode.NewSealer(ring.SessionKey)
		if err != nil {
			return fmt.Errorf("blnk_auth: %w", err)
		}
		a.flow = &authcode.Flow{Sealer: sealer, Store: a.backend.Store, Issuer: a.issuerURL.String()}
		if m := a.ClientMetadata; m != nil {
			scopes, err := m.scopes()
			if err != nil {
				return fmt.Errorf("blnk_auth: client_metadata scopes: %v", err)
			}
			a.flow.Public = &authcode.PublicClients{Resolver: clientmetadata.NewResolver(m.options()), Scopes: scopes}
		}
	}
	cacheSize := max(a.TokenCacheSize, 0)
	a.verifier, err = token.NewVerifier(ring.Keys, issuer, time.Duration(a.Leeway), cacheSize)
	if err != nil {
		return fmt.Errorf("blnk_auth: %w", err)
	}
	a.keyring = keyring.NewLive(a.backend.Store, opts, ring, issuer, time.Duration(a.TokenTTL), a.verifier, a.backend.KeysRemoved, a.logger.Named("keys"))
	a.stopKeys = a.backend.OnKeysChanged(a.keyring.Changed)
	// Without the change feed, revocations made elsewhere reach this
	// instance only by reading the keyring: every second, not every minute.
	a.keyring.FollowFeed(a.backend.FeedSynced)
	watchKeys(ctx.GetMetricsRegistry(), a.keyring)
	if a.Throttle == nil || !a.Throttle.Off {
		var tc ThrottleConfig
		if a.Throttle != nil {
			tc = *a.Throttle
		}
		a.throttle = throttle.New(throttle.Config{AddressFailures: tc.AddressFailures, ClientFailures: tc.ClientFailures, Window: time.Duration(tc.Window), MaxKeys: tc.MaxKeys})
	}
	if err := a.provisionJWKSURI(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	a.decider = &authn.Decider{Clients: a.backend.Clients, Verifier: a.verifier, Revoked: a.backend, Logger: a.logger, Throttle: a.throttle}
	if a.flow != nil && a.flow.Public != nil {
		// Clients known by their metadata document have no record: blnk_auth
		// accepts their tokens within client_metadata's scopes.
		bound := a.flow.Public.Scopes
		a.decider.MetadataScopes = &bound
	}
	a.defaultAudience = authn.Resources{Default: a.audience}
	a.shared = &resourceserver.Shared{
		Backend:         a.backend,
		Decider:         a.decider,
		Sessions:        a.sessions,
		Issuer:          a.issuerURL.String(),
		DefaultAudience: a.audience,
		Leeway:          time.Duration(a.Leeway),
		Routes:          a.routes,
		Decision:        a.metrics.decision,
		Earlier:         earlierPass,
		Admitted:        admitted,
		ClientIP:        clientIP,
		ClientLimits:    ratelimit.New(int(a.ClientCacheSize)),
		Throttled:       func() { a.metrics.throttled("blnk_auth") },
		RateLimited:     func() { a.metrics.rateLimited("blnk_auth") },
	}
	return nil
}

// applyChangeFeed sets how db is followed (and, polling PostgreSQL, queried)
// from the change_feed setting.
func (a *App) applyChangeFeed(db *backend.Database) error {
	db.MaxStale = time.Duration(a.MaxStale)
	f := a.ChangeFeed
	switch {
	case f == nil:
	case f.Mode == "poll":
		db.PollInterval = DefaultPollInterval
		if f.PollInterval != 0 {
			db.PollInterval = time.Duration(f.PollInterval)
		}
	case f.Mode == "listen" && db.Embedded():
		return errors.New("blnk_auth: change_feed listen needs PostgreSQL; the embedded SQLite database is followed by polling (change_feed poll <interval>)")
	case f.Mode == "listen":
		db.ListenOnly = true
	}
	return nil
}

// resolveSecret is the configured secret with its placeholders expanded, or
// with the embedded database the generated one.
func (a *App) resolveSecret(db backend.Database) (string, error) {
	secret := caddy.NewReplacer().ReplaceKnown(a.Secret, "")
	var err error
	if secret == "" && a.Secret != "" {
		// A placeholder that names nothing. A missing file is a mistake to
		// stop at; an unset variable with the embedded store is the
		// zero-setup path (the Caddyfile serves PostgreSQL too), which
		// falls back to the generated secret, saying so.
		if !db.Embedded() || strings.Contains(a.Secret, "{file.") {
			return "", fmt.Errorf("blnk_auth: secret %s expands to nothing (unset environment variable or missing file?)", a.Secret)
		}
		a.log().Warn("blnk_auth: secret expands to nothing; the embedded database uses the secret generated beside it (see README: Backups)", zap.String("placeholder", a.Secret))
	}
	if secret == "" && db.Embedded() {
		if secret, err = db.EmbeddedSecret(); err != nil {
			return "", fmt.Errorf("blnk_auth: generating the secret: %w", err)
		}
	}
	return secret, nil
}

func (a *App) log() *zap.Logger {
	if a.logger == nil {
		return zap.NewNop()
	}
	return a.logger
}

// previousSecrets are the secret_previous values, placeholders expanded.
func (a *App) previousSecrets() []string {
	var previous []string
	for _, p := range a.SecretPrevious {
		previous = append(previous, caddy.NewReplacer().ReplaceKnown(p, ""))
	}
	return previous
}

// DefaultDatabasePath is the embedded database used when no database is set.
func DefaultDatabasePath() string {
	return filepath.Join(caddy.AppDataDir(), "blnk_auth", "blnk_auth.db")
}

func (a *App) checkSettings(db backend.Database, secret, issuer string) error {
	if secret == "" && !db.Embedded() {
		return errors.New("blnk_auth: secret is required with PostgreSQL: every gateway instance on the database must use the same secret, which encrypts the shared signing keys (generate one with: openssl rand -base64 32)")
	}
	if len(secret) < MinSecretLength {
		return fmt.Errorf("blnk_auth: secret is required and must be at least %d characters (it encrypts the signing keys; generate one with: openssl rand -base64 32)", MinSecretLength)
	}
	u, err := url.Parse(issuer)
	if issuer == "" || err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(u.Path, "/") {
		return fmt.Errorf("blnk_auth: issuer must be an absolute URL without query, fragment or trailing slash, e.g. https://auth.example.com (got %q)", issuer)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return fmt.Errorf("blnk_auth: issuer must use https (http only for localhost), got %q", issuer)
	}
	if err := checkURLLength("issuer", issuer); err != nil {
		return err
	}
	a.issuerURL = u
	if a.ConsentURL != "" {
		c, err := url.Parse(a.ConsentURL)
		if err != nil || c.Fragment != "" || c.RawQuery != "" || !strings.HasPrefix(c.Path, "/") ||
			(c.IsAbs() && c.Scheme != "https" && !(c.Scheme == "http" && isLoopback(c.Hostname()))) || (!c.IsAbs() && c.Host != "") {
			return fmt.Errorf("blnk_auth: consent_url must be a path such as /admin/authorize, or an https URL, without query or fragment (got %q)", a.ConsentURL)
		}
		if !c.IsAbs() {
			c.Scheme, c.Host = u.Scheme, u.Host
		}
		a.consentURL = c.String()
	}
	return nil
}

// checkURLLength refuses an issuer, audience or resource too long for every
// token to fit in token.MaxTokenLength (see token.MaxURLLength).
func checkURLLength(field, s string) error {
	if n := token.ClaimLength(s); n > token.MaxURLLength {
		return fmt.Errorf("blnk_auth: %s must be at most %d bytes as a token carries it (JSON-escaped: & < > count six each), so that every token fits in %d bytes; got %d",
			field, token.MaxURLLength, token.MaxTokenLength, n)
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1" || strings.HasSuffix(host, ".localhost")
}

// Validate checks the settings that need no I/O.
func (a *App) Validate() error {
	if d := time.Duration(a.TokenTTL); d < time.Minute || d > token.MaxTTL {
		return fmt.Errorf("blnk_auth: token_ttl %s out of range (1m to 24h)", d)
	}
	if d := time.Duration(a.Leeway); d < 0 || d > token.MaxLeeway {
		return fmt.Errorf("blnk_auth: leeway %s out of range (0 to %s)", d, token.MaxLeeway)
	}
	if !token.ValidAlgorithm(a.SigningAlgorithm) {
		return fmt.Errorf("blnk_auth: signing_algorithm %q: use %s or %s", a.SigningAlgorithm, token.ES256, token.EdDSA)
	}
	if err := a.keyPolicy().Check(); err != nil {
		return fmt.Errorf("blnk_auth: %w", err)
	}
	if lead, maxAge := time.Duration(a.SigningKeyPublishLead), jwksMaxAge(a.JWKSMaxAge); lead <= maxAge || a.JWKSMaxAge < 0 {
		return fmt.Errorf("blnk_auth: signing_key_publish_lead %s must be longer than jwks_max_age %s: verifiers may cache the JWKS that long", lead, maxAge)
	}
	if a.ClientCacheSize < 0 || a.ClientCacheTTL < 0 || a.NegativeCacheTTL < 0 {
		return errors.New("blnk_auth: cache sizes and TTLs must not be negative")
	}
	if a.MaxStale < 0 {
		return errors.New("blnk_auth: max_stale must not be negative")
	}
	if f := a.ChangeFeed; f != nil {
		if f.Mode != "listen" && f.Mode != "poll" {
			return fmt.Errorf("blnk_auth: change_feed mode %q: want listen or poll", f.Mode)
		}
		if f.PollInterval != 0 && (f.Mode != "poll" || time.Duration(f.PollInterval) < minPollInterval) {
			return fmt.Errorf("blnk_auth: change_feed poll_interval %s: only with mode poll, and at least %s", time.Duration(f.PollInterval), minPollInterval)
		}
	}
	if d := time.Duration(a.RefreshTokenTTL); d < 0 || d > 365*24*time.Hour {
		return fmt.Errorf("blnk_auth: refresh_token_ttl %s out of range (at most 8760h)", d)
	}
	if m := a.ClientMetadata; m != nil {
		if a.ConsentURL == "" {
			return errors.New("blnk_auth: client_metadata needs consent_url (the authorization-code flow)")
		}
		if err := m.options().Validate(); err != nil {
			return fmt.Errorf("blnk_auth: client_metadata: %v", err)
		}
		if _, err := m.scopes(); err != nil {
			return fmt.Errorf("blnk_auth: client_metadata scopes: %v", err)
		}
	}
	if t := a.Throttle; t != nil && (t.AddressFailures < 0 || t.ClientFailures < 0 || t.Window < 0 || t.MaxKeys < 0) {
		return errors.New("blnk_auth: throttle budgets, window and max_keys must not be negative")
	}
	return nil
}

// Start implements caddy.App; the work happens in Provision.
func (a *App) Start() error { return nil }

// Stop implements caddy.App.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's hold on the shared backend.
func (a *App) Cleanup() error {
	if a.stopKeys != nil {
		a.stopKeys()
	}
	if a.keyring != nil {
		a.keyring.Close()
	}
	if a.verifier != nil {
		a.verifier.Close()
	}
	if a.backend != nil {
		if _, err := backends.Delete(a.poolKey); err != nil {
			return err
		}
	}
	return nil
}

// publishedKeys are the keys of the JWKS now.
func (a *App) publishedKeys() []*token.Key { return a.keyring.Published(time.Now()) }

// keyDefaults sets the defaults of the signing-key settings.
func (a *App) keyDefaults() {
	if a.SigningAlgorithm == "" {
		a.SigningAlgorithm = defaultSigningAlgorithm
	}
	if a.SigningKeyRotation == 0 {
		a.SigningKeyRotation = caddy.Duration(DefaultSigningKeyRotation)
	}
	if a.SigningKeyPublishLead == 0 {
		a.SigningKeyPublishLead = caddy.Duration(DefaultSigningKeyPublishLead)
	}
	if a.JWKSMaxAge == 0 {
		a.JWKSMaxAge = caddy.Duration(DefaultJWKSMaxAge)
	}
}

// keyPolicy is the rotation policy of the settings (after Provision's defaults).
func (a *App) keyPolicy() keyring.Policy {
	p := keyring.Policy{Lead: time.Duration(a.SigningKeyPublishLead)}
	if a.SigningKeyRotation > 0 {
		p.Period = time.Duration(a.SigningKeyRotation)
	}
	return p
}

// keyOptions are how this app opens and rotates its keyring.
func (a *App) keyOptions(secret string, previous []string) keyring.Options {
	return keyring.Options{Secret: secret, Previous: previous, Algorithm: a.SigningAlgorithm, Policy: a.keyPolicy()}
}

// jwksMaxAge is the JWKS's max-age as it is sent: whole seconds, rounded up.
func jwksMaxAge(d caddy.Duration) time.Duration {
	return (time.Duration(d) + time.Second - 1).Truncate(time.Second)
}

// Service is the client lifecycle on this app's store, keeping its cache current.
func (a *App) Service() *admin.Service {
	return &admin.Service{Store: a.backend.Store, Invalidate: a.backend.ClientChanged, Keys: a.keyring, Issuer: a.issuerURL}
}

// app finds the blnk_auth app of the config being provisioned.
func app(ctx caddy.Context) (*App, error) {
	v, err := ctx.App("blnk_auth")
	if err != nil {
		return nil, fmt.Errorf("the blnk_auth app is not configured (add a blnk_auth block with database, secret and issuer to the global options): %w", err)
	}
	return v.(*App), nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
