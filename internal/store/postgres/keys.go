package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// writeKeys writes u's keys, schedule changes and audit events in tx, and
// one change-log entry of kind keys (with its NOTIFY) so every instance
// reloads the keyring.
func writeKeys(ctx context.Context, tx pgx.Tx, u store.KeyringUpdate) error {
	for _, k := range u.Put {
		state := k.RecordedState
		if state == "" {
			state = store.KeyActive
		}
		activates := k.ActivatesAt
		if activates.IsZero() {
			activates = k.CreatedAt
		}
		if _, err := tx.Exec(ctx, `INSERT INTO blnk_auth_signing_keys (kid, algorithm, sealed_key, created_at, activates_at, retires_at, revoked_at, recorded_state)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (kid) DO UPDATE SET sealed_key = EXCLUDED.sealed_key`,
			k.KID, k.Algorithm, k.Sealed, k.CreatedAt, activates, k.RetiresAt, k.RevokedAt, state); err != nil {
			return err
		}
	}
	for _, c := range u.Schedule {
		if _, err := tx.Exec(ctx, `UPDATE blnk_auth_signing_keys SET
			retires_at = coalesce($2, retires_at),
			revoked_at = coalesce($3, revoked_at),
			recorded_state = coalesce(nullif($4, ''), recorded_state)
			WHERE kid = $1`, c.KID, c.RetiresAt, c.RevokedAt, c.RecordedState); err != nil {
			return err
		}
	}
	a := u.Audit
	if a.Time.IsZero() {
		a.Time = time.Now()
	}
	for _, e := range u.Events {
		if _, err := tx.Exec(ctx, `INSERT INTO blnk_auth_audit (at, actor, action, client_id, source, request_id) VALUES ($1,$2,$3,$4,$5,$6)`,
			a.Time, a.Actor, e.Action, e.KID, a.Source, a.RequestID); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `WITH c AS (INSERT INTO blnk_auth_changes (client_id, kind) VALUES ('', $1) RETURNING id, kind)
		SELECT pg_notify('blnk_auth_changes', c.id::text || '   ' || c.kind) FROM c`, store.ChangeKeys)
	return err
}
