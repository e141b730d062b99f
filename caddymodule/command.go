package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/gateway"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "blnk-auth",
		Usage: "client <create|list|get|update|roll-secret|revoke|delete> [flags]",
		Short: "Manages Blnk Auth Gateway OAuth clients and API keys",
		Long: `
Manages OAuth clients and API keys straight in the gateway's database, for
bootstrap without the admin API. The database comes from the blnk_auth app of
the config (--config, --adapter), as for "caddy run". Running gateways see
every change within a second. Output is JSON on stdout; stderr has nothing
but errors. A new client's secret is shown once, in the output of "create"
or "roll-secret", and never again.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.PersistentFlags().StringP("config", "c", "", "Configuration file (default: ./Caddyfile)")
			cmd.PersistentFlags().StringP("adapter", "a", "", "Name of config adapter to apply")
			client := &cobra.Command{Use: "client", Short: "Create, list, inspect, update, revoke and delete clients, and roll their secrets"}
			cmd.AddCommand(client)

			create := &cobra.Command{
				Use:   "create --name NAME --scopes \"s1 s2\" [--type oauth|api_key] [--expires RFC3339|never] [--rate-limit 100/s [--burst 200]]",
				Short: "Creates a client and prints its credentials, once",
				Args:  cobra.NoArgs,
				RunE: cliRun(func(ctx context.Context, svc *admin.Service, cmd *cobra.Command, _ []string) (any, error) {
					f := cmd.Flags()
					name, _ := f.GetString("name")
					scopes, _ := f.GetString("scopes")
					typ, _ := f.GetString("type")
					expires, _ := f.GetString("expires")
					exp, err := parseExpiry(expires)
					if err != nil {
						return nil, err
					}
					limit, err := rateLimitFlags(cmd)
					if err != nil {
						return nil, err
					}
					c, err := svc.Create(ctx, admin.CLI, admin.CreateParams{Name: name, Type: store.Type(typ), Scopes: strings.Fields(scopes), ExpiresAt: exp, RateLimit: limit})
					if err != nil {
						return nil, err
					}
					return admin.ViewCreated(c, time.Now()), nil
				}),
			}
			create.Flags().String("name", "", "Name of the client (required)")
			create.Flags().String("scopes", "", `Space-separated scopes, e.g. "mcp:read mcp:write" or "*" (required)`)
			create.Flags().String("type", "oauth", "oauth or api_key")
			create.Flags().String("expires", "never", "Expiry as RFC 3339 (2027-01-01T00:00:00Z) or never")
			addRateLimitFlags(create, "none")

			list := &cobra.Command{
				Use:   "list [--status active|revoked|expired] [--type oauth|api_key]",
				Short: "Lists clients, newest first",
				Args:  cobra.NoArgs,
				RunE: cliRun(func(ctx context.Context, svc *admin.Service, cmd *cobra.Command, _ []string) (any, error) {
					status, _ := cmd.Flags().GetString("status")
					typ, _ := cmd.Flags().GetString("type")
					out := []admin.ClientView{}
					var after *store.Cursor
					for {
						page, next, err := svc.List(ctx, admin.ListParams{Status: store.Status(status), Type: store.Type(typ), Limit: admin.MaxListLimit, After: after})
						if err != nil {
							return nil, err
						}
						now := time.Now()
						for _, c := range page {
							out = append(out, admin.View(c, now))
						}
						if next == nil {
							return out, nil
						}
						after = next
					}
				}),
			}
			list.Flags().String("status", "", "Only clients with this status")
			list.Flags().String("type", "", "Only clients of this type")

			byID := func(use, short string, do func(context.Context, *admin.Service, string) (any, error)) *cobra.Command {
				return &cobra.Command{
					Use: use + " CLIENT_ID", Short: short, Args: cobra.ExactArgs(1),
					RunE: cliRun(func(ctx context.Context, svc *admin.Service, _ *cobra.Command, args []string) (any, error) {
						return do(ctx, svc, args[0])
					}),
				}
			}
			get := byID("get", "Shows one client", func(ctx context.Context, svc *admin.Service, id string) (any, error) {
				c, err := svc.Get(ctx, id)
				if err != nil {
					return nil, err
				}
				return admin.View(c, time.Now()), nil
			})
			revoke := byID("revoke", "Revokes a client for good; it stays listed as revoked", func(ctx context.Context, svc *admin.Service, id string) (any, error) {
				c, err := svc.Revoke(ctx, admin.CLI, id)
				if err != nil {
					return nil, err
				}
				return admin.View(c, time.Now()), nil
			})
			del := byID("delete", "Deletes a client; its tokens stop working", func(ctx context.Context, svc *admin.Service, id string) (any, error) {
				if err := svc.Delete(ctx, admin.CLI, id); err != nil {
					return nil, err
				}
				return map[string]any{"client_id": id, "deleted": true}, nil
			})
			update := &cobra.Command{
				Use:   "update CLIENT_ID [--name N] [--scopes \"s1 s2\"] [--expires RFC3339|never] [--rate-limit 100/s|none [--burst 200]]",
				Short: "Changes a client's name, scopes, expiry or rate limit; narrower scopes, earlier expiry and a new limit bite at once",
				Args:  cobra.ExactArgs(1),
				RunE: cliRun(func(ctx context.Context, svc *admin.Service, cmd *cobra.Command, args []string) (any, error) {
					f := cmd.Flags()
					var p admin.UpdateParams
					if f.Changed("name") {
						name, _ := f.GetString("name")
						p.Name = &name
					}
					if f.Changed("scopes") {
						s, _ := f.GetString("scopes")
						list := strings.Fields(s)
						p.Scopes = &list
					}
					if f.Changed("expires") {
						s, _ := f.GetString("expires")
						exp, err := parseExpiry(s)
						if err != nil {
							return nil, err
						}
						p.ExpiresAt = &exp
					}
					if f.Changed("rate-limit") || f.Changed("burst") {
						limit, err := rateLimitFlags(cmd)
						if err != nil {
							return nil, err
						}
						p.RateLimit = &limit
					}
					if p.Name == nil && p.Scopes == nil && p.ExpiresAt == nil && p.RateLimit == nil {
						return nil, errors.New("nothing to change: give --name, --scopes, --expires or --rate-limit")
					}
					c, err := svc.Update(ctx, admin.CLI, args[0], p)
					if err != nil {
						return nil, err
					}
					return admin.View(c, time.Now()), nil
				}),
			}
			update.Flags().String("name", "", "New name")
			update.Flags().String("scopes", "", "New space-separated scopes (replace the old ones)")
			update.Flags().String("expires", "", "New expiry, RFC 3339 or never")
			addRateLimitFlags(update, "")

			roll := &cobra.Command{
				Use:   "roll-secret CLIENT_ID [--grace-period 1h]",
				Short: "Gives a client a new secret (or API key), printed once; the old one works for the grace period",
				Args:  cobra.ExactArgs(1),
				RunE: cliRun(func(ctx context.Context, svc *admin.Service, cmd *cobra.Command, args []string) (any, error) {
					g, _ := cmd.Flags().GetString("grace-period")
					grace, err := admin.ParseDuration(g) // as the admin API reads grace_period
					if err != nil {
						return nil, fmt.Errorf("--grace-period: %v", err)
					}
					c, err := svc.RollSecret(ctx, admin.CLI, args[0], grace)
					if err != nil {
						return nil, err
					}
					return admin.ViewCreated(c, time.Now()), nil
				}),
			}
			roll.Flags().String("grace-period", "0s", "How long the old secret keeps working (default 0: it stops at once)")

			client.AddCommand(create, list, get, update, roll, revoke, del)
		},
	})
}

type cliFunc func(ctx context.Context, svc *admin.Service, cmd *cobra.Command, args []string) (any, error)

// cliRun opens the store named by the config, runs f and prints its result as
// JSON. Errors go to stderr and exit non-zero.
func cliRun(f cliFunc) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cmd.SilenceUsage = true
		defer quietCaddyLog()()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		configFile, _ := cmd.Flags().GetString("config")
		adapter, _ := cmd.Flags().GetString("adapter")
		st, err := openStoreFromConfig(ctx, configFile, adapter)
		if err != nil {
			return err
		}
		defer st.Close()
		out, err := f(ctx, &admin.Service{Store: st}, cmd, args)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no client %q", strings.Join(args, " "))
			}
			if errors.Is(err, store.ErrRevoked) {
				return errors.New("the client is revoked; revoked clients cannot change (create a new one)")
			}
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
}

// quietCaddyLog keeps Caddy's default logger off stderr until the returned
// function is called, then passes on only the lines of level error and above.
// Loading and adapting the config logs at info and warn level ("using config
// from file", "adapted config to JSON", the Caddyfile's warnings): news to an
// operator starting a server, noise around a CLI's JSON.
func quietCaddyLog() (restore func()) {
	_, orig, _ := caddy.BufferedLog()
	return func() { caddy.UnbufferDefaultLogger(orig.WithOptions(zap.IncreaseLevel(zapcore.ErrorLevel))) }
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func addRateLimitFlags(cmd *cobra.Command, def string) {
	cmd.Flags().String("rate-limit", def, "The client's rate limit per instance, requests/period: 100/s, 600/m or 5000/h; none for no limit")
	cmd.Flags().Int("burst", 0, "Bursts the rate limit allows (default: the rate limit's requests)")
}

// rateLimitFlags reads --rate-limit and --burst: nil for none.
func rateLimitFlags(cmd *cobra.Command) (*store.RateLimit, error) {
	f := cmd.Flags()
	rate, _ := f.GetString("rate-limit")
	burst, _ := f.GetInt("burst")
	if rate == "" || strings.EqualFold(rate, "none") {
		if f.Changed("burst") {
			return nil, errors.New("--burst needs --rate-limit")
		}
		return nil, nil
	}
	if f.Changed("burst") && burst < 1 {
		return nil, errors.New("--burst must be at least 1")
	}
	l, err := admin.ParseRate(rate, burst)
	if err != nil {
		return nil, fmt.Errorf("--rate-limit: %v", err)
	}
	return l, nil
}

func parseExpiry(s string) (*time.Time, error) {
	if s == "" || strings.EqualFold(s, "never") {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("--expires: want RFC 3339 (e.g. 2027-01-01T00:00:00Z) or never, got %q", s)
	}
	return &t, nil
}

// openStoreFromConfig reads the blnk_auth app's database from a config file.
func openStoreFromConfig(ctx context.Context, configFile, adapter string) (store.Store, error) {
	raw, _, _, err := caddycmd.LoadConfig(configFile, adapter)
	if err != nil {
		return nil, fmt.Errorf("loading config: %w", err)
	}
	if raw == nil {
		return nil, errors.New("no config: give --config (there is no ./Caddyfile here)")
	}
	var cfg struct {
		Apps struct {
			BlnkAuth *App `json:"blnk_auth"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if cfg.Apps.BlnkAuth == nil {
		return nil, errors.New("the config has no blnk_auth app (set the blnk_auth global option)")
	}
	db, err := gateway.ParseDatabase(caddy.NewReplacer().ReplaceKnown(cfg.Apps.BlnkAuth.Database, ""), DefaultDatabasePath())
	if err != nil {
		return nil, err
	}
	return db.Open(ctx)
}
