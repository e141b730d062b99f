-- The authorization-code flow (issue 12): redirect URIs registered on OAuth
-- clients, grants remembered per (client, person), single-use codes and
-- rotating refresh tokens. Codes and refresh tokens are kept only as hashes.
ALTER TABLE blnk_auth_clients ADD COLUMN redirect_uris text[] NOT NULL DEFAULT '{}';

CREATE TABLE blnk_auth_grants (
    client_id    text NOT NULL,
    person_id    text NOT NULL,
    person_name  text NOT NULL,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    PRIMARY KEY (client_id, person_id)
);

CREATE TABLE blnk_auth_codes (
    code_hash      bytea PRIMARY KEY CHECK (length(code_hash) = 32),
    client_id      text NOT NULL,
    person_id      text NOT NULL,
    person_name    text NOT NULL,
    redirect_uri   text NOT NULL,
    code_challenge text NOT NULL,
    resource       text NOT NULL,
    scopes         text[] NOT NULL,
    family         text NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    issued_jti     text NOT NULL DEFAULT '',
    issued_jti_expires_at timestamptz
);
CREATE INDEX blnk_auth_codes_expiry ON blnk_auth_codes (expires_at);

CREATE TABLE blnk_auth_refresh_tokens (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    family      text NOT NULL,
    client_id   text NOT NULL,
    person_id   text NOT NULL,
    scopes      text[] NOT NULL,
    resource    text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    -- The access token issued with this refresh token, revoked with its family.
    access_jti  text NOT NULL DEFAULT '',
    access_expires_at timestamptz
);
CREATE INDEX blnk_auth_refresh_tokens_family ON blnk_auth_refresh_tokens (family);
CREATE INDEX blnk_auth_refresh_tokens_grant ON blnk_auth_refresh_tokens (client_id, person_id);
CREATE INDEX blnk_auth_refresh_tokens_expiry ON blnk_auth_refresh_tokens (expires_at);
