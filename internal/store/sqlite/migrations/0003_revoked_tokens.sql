-- Single access tokens revoked before their expiry (RFC 7009), kept until
-- they expire; the change log carries their jti to every instance.
CREATE TABLE blnk_auth_revoked_tokens (
    jti        TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX blnk_auth_revoked_tokens_expiry ON blnk_auth_revoked_tokens (expires_at);
ALTER TABLE blnk_auth_changes ADD COLUMN jti TEXT NOT NULL DEFAULT '';
