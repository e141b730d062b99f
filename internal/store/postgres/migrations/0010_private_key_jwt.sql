-- Clients without shared secrets (RFC 7523 private_key_jwt): a client's
-- authentication method, and its public keys, inline (a JWK Set) or fetched
-- from jwks_uri. A private_key_jwt client has exactly one of the two; a
-- secret client neither.
ALTER TABLE blnk_auth_clients
    ADD COLUMN token_endpoint_auth_method text NOT NULL DEFAULT 'client_secret_basic'
        CHECK (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt')),
    ADD COLUMN jwks text,
    ADD COLUMN jwks_uri text,
    ADD CONSTRAINT blnk_auth_clients_keys CHECK (
        (token_endpoint_auth_method = 'private_key_jwt') = ((jwks IS NULL) <> (jwks_uri IS NULL))
        AND NOT (jwks IS NOT NULL AND jwks_uri IS NOT NULL));

-- The jti of every client assertion accepted, until the assertion expires:
-- an assertion is used once (RFC 7523 §3 item 7), on any instance.
CREATE TABLE blnk_auth_client_assertions (
    client_id  text NOT NULL,
    jti        text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX blnk_auth_client_assertions_expires ON blnk_auth_client_assertions (expires_at);
