package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// writeKeys writes u's keys, schedule changes and audit events in tx, and
// one change-log entry of kind keys so every instance reloads the keyring.
func writeKeys(ctx context.Context, tx *sql.Tx, u store.KeyringUpdate) error {
	for _, k := range u.Put {
		state := k.RecordedState
		if state == "" {
			state = store.KeyActive
		}
		activates := k.ActivatesAt
		if activates.IsZero() {
			activates = k.CreatedAt
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_signing_keys (kid, algorithm, sealed_key, created_at, activates_at, retires_at, revoked_at, recorded_state)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (kid) DO UPDATE SET sealed_key = excluded.sealed_key`,
			k.KID, k.Algorithm, k.Sealed, micros(k.CreatedAt), micros(activates), nullMicros(k.RetiresAt), nullMicros(k.RevokedAt), state); err != nil {
			return err
		}
	}
	for _, c := range u.Schedule {
		if _, err := tx.ExecContext(ctx, `UPDATE blnk_auth_signing_keys SET
			retires_at = coalesce(?, retires_at),
			revoked_at = coalesce(?, revoked_at),
			recorded_state = coalesce(nullif(?, ''), recorded_state)
			WHERE kid = ?`, nullMicros(c.RetiresAt), nullMicros(c.RevokedAt), c.RecordedState, c.KID); err != nil {
			return err
		}
	}
	a := u.Audit
	if a.Time.IsZero() {
		a.Time = time.Now()
	}
	for _, e := range u.Events {
		if _, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_audit (at, actor, action, client_id, source, request_id) VALUES (?, ?, ?, ?, ?, ?)`,
			micros(a.Time), a.Actor, e.Action, e.KID, a.Source, a.RequestID); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO blnk_auth_changes (client_id, kind, changed_at) VALUES ('', ?, ?)`, store.ChangeKeys, time.Now().UnixMicro())
	return err
}
