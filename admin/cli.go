package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/blnkfinance/blnk-auth-gateway/internal/clientassertion"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// ClientCommand is the CLI's "client" command: create, list, get, update,
// roll-secret, revoke and delete, each printing JSON on stdout (the views of
// the admin API) and nothing but errors on stderr. open opens the store,
// before each subcommand runs; the caller closes nothing.
func ClientCommand(open func(context.Context, *cobra.Command) (store.Store, error)) *cobra.Command {
	run := func(f cliFunc) func(*cobra.Command, []string) error { return cliRun(open, f) }
	client := &cobra.Command{Use: "client", Short: "Create, list, inspect, update, revoke and delete clients, and roll their secrets"}

	create := &cobra.Command{
		Use:   "create --name NAME --scopes \"s1 s2\" [--type oauth|api_key] [--expires RFC3339|never] [--rate-limit 100/s [--burst 200]] [--redirect-uri URI]... [--jwks FILE|--jwks-uri URL]",
		Short: "Creates a client and prints its credentials, once",
		Args:  cobra.NoArgs,
		RunE: run(func(ctx context.Context, svc *Service, cmd *cobra.Command, _ []string) (any, error) {
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
			keys, err := keyFlags(cmd)
			if err != nil {
				return nil, err
			}
			uris, _ := f.GetStringArray("redirect-uri")
			p := CreateParams{Name: name, Type: store.Type(typ), Scopes: strings.Fields(scopes), ExpiresAt: exp, RateLimit: limit, RedirectURIs: uris}
			if keys != nil {
				p.AuthMethod, p.Keys = store.AuthPrivateKeyJWT, *keys
			}
			c, err := svc.Create(ctx, CLI, p)
			if err != nil {
				return nil, err
			}
			return ViewCreated(c, time.Now()), nil
		}),
	}
	create.Flags().String("name", "", "Name of the client (required)")
	create.Flags().String("scopes", "", `Space-separated scopes, e.g. "mcp:read mcp:write" or "*" (required)`)
	create.Flags().String("type", "oauth", "oauth or api_key")
	create.Flags().String("expires", "never", "Expiry as RFC 3339 (2027-01-01T00:00:00Z) or never")
	addRateLimitFlags(create, "none")
	create.Flags().StringArray("redirect-uri", nil, "A redirect URI of the authorization-code flow (repeatable; OAuth clients)")
	addKeyFlags(create)

	list := &cobra.Command{
		Use:   "list [--status active|revoked|expired] [--type oauth|api_key]",
		Short: "Lists clients, newest first",
		Args:  cobra.NoArgs,
		RunE: run(func(ctx context.Context, svc *Service, cmd *cobra.Command, _ []string) (any, error) {
			status, _ := cmd.Flags().GetString("status")
			typ, _ := cmd.Flags().GetString("type")
			out := []ClientView{}
			var after *store.Cursor
			for {
				page, next, err := svc.List(ctx, ListParams{Status: store.Status(status), Type: store.Type(typ), Limit: MaxListLimit, After: after})
				if err != nil {
					return nil, err
				}
				now := time.Now()
				for _, c := range page {
					out = append(out, View(c, now))
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

	byID := func(use, short string, do func(context.Context, *Service, string) (any, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " CLIENT_ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: run(func(ctx context.Context, svc *Service, _ *cobra.Command, args []string) (any, error) {
				return do(ctx, svc, args[0])
			}),
		}
	}
	get := byID("get", "Shows one client", func(ctx context.Context, svc *Service, id string) (any, error) {
		c, err := svc.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		return View(c, time.Now()), nil
	})
	revoke := byID("revoke", "Revokes a client for good; it stays listed as revoked", func(ctx context.Context, svc *Service, id string) (any, error) {
		c, err := svc.Revoke(ctx, CLI, id)
		if err != nil {
			return nil, err
		}
		return View(c, time.Now()), nil
	})
	del := byID("delete", "Deletes a client; its tokens stop working", func(ctx context.Context, svc *Service, id string) (any, error) {
		if err := svc.Delete(ctx, CLI, id); err != nil {
			return nil, err
		}
		return map[string]any{"client_id": id, "deleted": true}, nil
	})
	update := &cobra.Command{
		Use:   "update CLIENT_ID [--name N] [--scopes \"s1 s2\"] [--expires RFC3339|never] [--rate-limit 100/s|none [--burst 200]] [--redirect-uri URI]... [--no-redirect-uris] [--jwks FILE|--jwks-uri URL]",
		Short: "Changes a client's name, scopes, expiry or rate limit; narrower scopes, earlier expiry and a new limit bite at once",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, svc *Service, cmd *cobra.Command, args []string) (any, error) {
			f := cmd.Flags()
			var p UpdateParams
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
			if f.Changed("redirect-uri") || f.Changed("no-redirect-uris") {
				uris, _ := f.GetStringArray("redirect-uri")
				if none, _ := f.GetBool("no-redirect-uris"); none && len(uris) > 0 {
					return nil, errors.New("give --redirect-uri or --no-redirect-uris, not both")
				}
				if uris == nil {
					uris = []string{}
				}
				p.RedirectURIs = &uris
			}
			keys, err := keyFlags(cmd)
			if err != nil {
				return nil, err
			}
			p.Keys = keys
			if p.Name == nil && p.Scopes == nil && p.ExpiresAt == nil && p.RateLimit == nil && p.RedirectURIs == nil && p.Keys == nil {
				return nil, errors.New("nothing to change: give --name, --scopes, --expires, --rate-limit, --redirect-uri, --jwks or --jwks-uri")
			}
			c, err := svc.Update(ctx, CLI, args[0], p)
			if err != nil {
				return nil, err
			}
			return View(c, time.Now()), nil
		}),
	}
	update.Flags().String("name", "", "New name")
	update.Flags().String("scopes", "", "New space-separated scopes (replace the old ones)")
	update.Flags().String("expires", "", "New expiry, RFC 3339 or never")
	addRateLimitFlags(update, "")
	update.Flags().StringArray("redirect-uri", nil, "Redirect URIs replacing the client's (repeatable)")
	update.Flags().Bool("no-redirect-uris", false, "Remove every redirect URI")
	addKeyFlags(update)

	roll := &cobra.Command{
		Use:   "roll-secret CLIENT_ID [--grace-period 1h]",
		Short: "Gives a client a new secret (or API key), printed once; the old one works for the grace period",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, svc *Service, cmd *cobra.Command, args []string) (any, error) {
			g, _ := cmd.Flags().GetString("grace-period")
			grace, err := ParseDuration(g) // as the admin API reads grace_period
			if err != nil {
				return nil, fmt.Errorf("--grace-period: %v", err)
			}
			c, err := svc.RollSecret(ctx, CLI, args[0], grace)
			if err != nil {
				return nil, err
			}
			return ViewCreated(c, time.Now()), nil
		}),
	}
	roll.Flags().String("grace-period", "0s", "How long the old secret keeps working (default 0: it stops at once)")

	client.AddCommand(create, list, get, update, roll, revoke, del)
	return client
}

type cliFunc func(ctx context.Context, svc *Service, cmd *cobra.Command, args []string) (any, error)

// cliRun opens the store, runs f and prints its result as JSON. Errors go to
// stderr and exit non-zero.
func cliRun(open func(context.Context, *cobra.Command) (store.Store, error), f cliFunc) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cmd.SilenceUsage = true
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		st, err := open(ctx, cmd)
		if err != nil {
			return err
		}
		defer st.Close()
		out, err := f(ctx, &Service{Store: st}, cmd, args)
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
	l, err := ParseRate(rate, burst)
	if err != nil {
		return nil, fmt.Errorf("--rate-limit: %v", err)
	}
	return l, nil
}

func addKeyFlags(cmd *cobra.Command) {
	cmd.Flags().String("jwks", "", "A file holding the client's public JWK Set: the client authenticates with private_key_jwt and gets no secret (- reads standard input)")
	cmd.Flags().String("jwks-uri", "", "The https URL of the client's public JWK Set: the client authenticates with private_key_jwt and gets no secret")
}

// keyFlags reads --jwks FILE and --jwks-uri URL: nil when neither is given.
func keyFlags(cmd *cobra.Command) (*store.ClientKeys, error) {
	f := cmd.Flags()
	file, _ := f.GetString("jwks")
	uri, _ := f.GetString("jwks-uri")
	switch {
	case file != "" && uri != "":
		return nil, errors.New("give --jwks or --jwks-uri, not both")
	case uri != "":
		return &store.ClientKeys{JWKSURI: uri}, nil
	case file == "":
		return nil, nil
	}
	var (
		b   []byte
		err error
	)
	if file == "-" {
		b, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), clientassertion.MaxKeySetSize+1))
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("--jwks: %v", err)
	}
	return &store.ClientKeys{JWKS: string(b)}, nil
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
