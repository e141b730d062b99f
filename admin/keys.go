package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authn"
	"github.com/blnkfinance/blnk-auth-gateway/internal/keyring"
)

// Scopes of the signing-key operations. Listing needs keys:read (what it
// shows is public: the JWKS has the keys, and the list adds their
// schedules); rotating needs keys:write. The master key may do both.
const (
	ScopeKeysRead  = "keys:read"
	ScopeKeysWrite = "keys:write"
)

var errNoKeys = authn.NewError(http.StatusServiceUnavailable, "temporarily_unavailable", "signing keys are not managed here")

// KeyList is the answer of GET /keys and POST /keys/rotate: every signing
// key, newest first, never a private half.
type KeyList struct {
	Keys []keyring.KeyInfo `json:"keys"`
}

// listKeys: GET /keys.
func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, _ *call) error {
	m := h.service().Keys
	if m == nil {
		return errNoKeys
	}
	keys, err := m.List(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, KeyList{Keys: keys})
}

// rotateKeys: POST /keys/rotate {"now": false}. Without now, a new key is
// published and activates after the publish lead (a key already published
// and waiting is kept); with now, the emergency: a new key signs at once and
// every other key is revoked, so every token they signed is refused on every
// instance.
func (h *Handler) rotateKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	fields, err := readFields(w, r, true, "now")
	if err != nil {
		return err
	}
	var now bool
	if raw, ok := fields["now"]; ok && !isNull(raw) {
		if err := decodeField(fields, "now", &now); err != nil {
			return err
		}
	}
	m := h.service().Keys
	if m == nil {
		return errNoKeys
	}
	keys, err := m.Rotate(r.Context(), c.actor.keyAudit(h.service()), now)
	if err != nil {
		return err
	}
	action := "keys.rotate"
	if now {
		action = "keys.rotate_now"
	}
	h.logAudit(action, c, "")
	return writeJSON(w, http.StatusOK, KeyList{Keys: keys})
}

// KeysCommand is the CLI's "keys" command: list, and rotate [--now]. open
// gives the keys of the config's database, before each subcommand runs, and
// a function that releases them.
func KeysCommand(open func(context.Context, *cobra.Command) (keyring.Manager, func(), error)) *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Lists and rotates the token signing keys"}
	run := func(f func(ctx context.Context, m keyring.Manager, cmd *cobra.Command) ([]keyring.KeyInfo, error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			m, release, err := open(ctx, cmd)
			if err != nil {
				return err
			}
			defer release()
			out, err := f(ctx, m, cmd)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), KeyList{Keys: out})
		}
	}
	list := &cobra.Command{
		Use: "list", Short: "Lists every signing key, newest first, with its state: published, active, retiring, retired or revoked", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, m keyring.Manager, _ *cobra.Command) ([]keyring.KeyInfo, error) {
			return m.List(ctx)
		}),
	}
	rotate := &cobra.Command{
		Use:   "rotate [--now]",
		Short: "Publishes a new signing key that signs after the publish lead; --now: signs at once and revokes every other key (their tokens stop working everywhere)",
		Args:  cobra.NoArgs,
		RunE: run(func(ctx context.Context, m keyring.Manager, cmd *cobra.Command) ([]keyring.KeyInfo, error) {
			now, _ := cmd.Flags().GetBool("now")
			return m.Rotate(ctx, CLI.keyAudit(&Service{}), now)
		}),
	}
	rotate.Flags().Bool("now", false, "Emergency: the new key signs at once and every other key is revoked")
	keys.AddCommand(list, rotate)
	return keys
}
