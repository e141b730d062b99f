-- Signing-key rotation: each key has a schedule. It is published (in the
-- JWKS) from its creation, signs from activates_at, is trusted until
-- retires_at (set when its successor is created: the successor's activation
-- plus the longest token lifetime) and never again once revoked_at is set.
-- recorded_state is the last state an audit event was written for, so each
-- transition is audited once whichever instance sees it first. Existing keys
-- activated when they were created.
ALTER TABLE blnk_auth_signing_keys
    ADD COLUMN activates_at   timestamptz,
    ADD COLUMN retires_at     timestamptz,
    ADD COLUMN revoked_at     timestamptz,
    ADD COLUMN recorded_state text NOT NULL DEFAULT 'active';
UPDATE blnk_auth_signing_keys SET activates_at = created_at;
ALTER TABLE blnk_auth_signing_keys ALTER COLUMN activates_at SET NOT NULL;

-- The change log also says that the keyring changed (kind 'keys'), so every
-- instance reloads it: a new key, an activation, a revocation.
ALTER TABLE blnk_auth_changes ADD COLUMN kind text NOT NULL DEFAULT '';
