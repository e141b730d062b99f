-- Single access tokens revoked before their expiry (RFC 7009), kept until
-- they expire; the change log carries their jti to every instance.
CREATE TABLE blnk_auth_revoked_tokens (
    jti        text PRIMARY KEY,
    client_id  text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX blnk_auth_revoked_tokens_expiry ON blnk_auth_revoked_tokens (expires_at);
ALTER TABLE blnk_auth_changes ADD COLUMN jti text NOT NULL DEFAULT '';
