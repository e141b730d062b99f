-- Clients without shared secrets (RFC 7523 private_key_jwt): a client's
-- authentication method, and its public keys, inline (a JWK Set) or fetched
-- from jwks_uri. A private_key_jwt client has exactly one of the two; a
-- secret client neither (SQLite cannot add a table constraint to an existing
-- table; the admin service ensures it).
ALTER TABLE blnk_auth_clients ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT 'client_secret_basic'
    CHECK (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt'));
ALTER TABLE blnk_auth_clients ADD COLUMN jwks TEXT;
ALTER TABLE blnk_auth_clients ADD COLUMN jwks_uri TEXT;

-- The jti of every client assertion accepted, until the assertion expires
-- (unix microseconds): an assertion is used once (RFC 7523 §3 item 7), on
-- any instance.
CREATE TABLE blnk_auth_client_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
) STRICT;
CREATE INDEX blnk_auth_client_assertions_expires ON blnk_auth_client_assertions (expires_at);
