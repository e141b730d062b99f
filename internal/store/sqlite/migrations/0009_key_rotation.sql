-- Signing-key rotation: each key has a schedule. It is published (in the
-- JWKS) from its creation, signs from activates_at, is trusted until
-- retires_at (set when its successor is created: the successor's activation
-- plus the longest token lifetime) and never again once revoked_at is set.
-- recorded_state is the last state an audit event was written for, so each
-- transition is audited once whichever instance sees it first. Existing keys
-- activated when they were created (times in microseconds since the epoch).
ALTER TABLE blnk_auth_signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE blnk_auth_signing_keys ADD COLUMN retires_at INTEGER;
ALTER TABLE blnk_auth_signing_keys ADD COLUMN revoked_at INTEGER;
ALTER TABLE blnk_auth_signing_keys ADD COLUMN recorded_state TEXT NOT NULL DEFAULT 'active';
UPDATE blnk_auth_signing_keys SET activates_at = created_at;

-- The change log also says that the keyring changed (kind 'keys'), so every
-- instance reloads it: a new key, an activation, a revocation.
ALTER TABLE blnk_auth_changes ADD COLUMN kind TEXT NOT NULL DEFAULT '';
