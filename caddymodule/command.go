package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/keyring"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "blnk-auth",
		Usage: "client <create|list|get|update|roll-secret|revoke|delete> [flags] | keys <list|rotate [--now]>",
		Short: "Manages Blnk Auth Gateway OAuth clients and API keys, and its signing keys",
		Long: `
Manages OAuth clients and API keys straight in the gateway's database, for
bootstrap without the admin API. The database comes from the blnk_auth app of
the config (--config, --adapter), as for "caddy run". Running gateways see
every change within a second. Output is JSON on stdout; stderr has nothing
but errors. A new client's secret is shown once, in the output of "create"
or "roll-secret", and never again.

"keys list" lists the token signing keys and their states; "keys rotate"
publishes a new key that signs after signing_key_publish_lead; "keys rotate
--now" is the emergency: the new key signs at once and every other key is
revoked, so every token they signed is refused by every running gateway.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.PersistentFlags().StringP("config", "c", "", "Configuration file (default: ./Caddyfile)")
			cmd.PersistentFlags().StringP("adapter", "a", "", "Name of config adapter to apply")
			cmd.AddCommand(admin.ClientCommand(func(ctx context.Context, cmd *cobra.Command) (store.Store, error) {
				defer quietCaddyLog()()
				configFile, _ := cmd.Flags().GetString("config")
				adapter, _ := cmd.Flags().GetString("adapter")
				return openStoreFromConfig(ctx, configFile, adapter)
			}))
			cmd.AddCommand(admin.KeysCommand(func(ctx context.Context, cmd *cobra.Command) (keyring.Manager, func(), error) {
				defer quietCaddyLog()()
				configFile, _ := cmd.Flags().GetString("config")
				adapter, _ := cmd.Flags().GetString("adapter")
				return openKeysFromConfig(ctx, configFile, adapter)
			}))
		},
	})
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

// openStoreFromConfig reads the blnk_auth app's database from a config file.
func openStoreFromConfig(ctx context.Context, configFile, adapter string) (store.Store, error) {
	a, err := appFromConfig(configFile, adapter)
	if err != nil {
		return nil, err
	}
	db, err := a.cliDatabase()
	if err != nil {
		return nil, err
	}
	return db.Open(ctx)
}

// cliDatabase is the app's database as the CLI opens it: behind a
// transaction pooler (change_feed poll) its queries must not use prepared
// statements either.
func (a *App) cliDatabase() (backend.Database, error) {
	db, err := backend.ParseDatabase(caddy.NewReplacer().ReplaceKnown(a.Database, ""), DefaultDatabasePath())
	if err != nil {
		return backend.Database{}, err
	}
	if err := a.applyChangeFeed(&db); err != nil {
		return backend.Database{}, err
	}
	return db, nil
}

// openKeysFromConfig opens the signing keys of the blnk_auth app of a config
// file, with its secret, algorithm and rotation settings.
func openKeysFromConfig(ctx context.Context, configFile, adapter string) (keyring.Manager, func(), error) {
	a, err := appFromConfig(configFile, adapter)
	if err != nil {
		return nil, nil, err
	}
	db, err := a.cliDatabase()
	if err != nil {
		return nil, nil, err
	}
	secret, err := a.resolveSecret(db)
	if err != nil {
		return nil, nil, err
	}
	a.keyDefaults()
	if err := a.keyPolicy().Check(); err != nil {
		return nil, nil, err
	}
	st, err := db.Open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return &keyring.Offline{Store: st, Options: a.keyOptions(secret, a.previousSecrets())}, st.Close, nil
}

// appFromConfig reads the blnk_auth app's settings from a config file.
func appFromConfig(configFile, adapter string) (*App, error) {
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
	return cfg.Apps.BlnkAuth, nil
}
