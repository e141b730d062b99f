-- The authorization-code flow (issue 12): redirect URIs registered on OAuth
-- clients (space-separated: a URI has no spaces), grants remembered per
-- (client, person), single-use codes and rotating refresh tokens. Codes and
-- refresh tokens are kept only as hashes.
ALTER TABLE blnk_auth_clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';

CREATE TABLE blnk_auth_grants (
    client_id    TEXT NOT NULL,
    person_id    TEXT NOT NULL,
    person_name  TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    PRIMARY KEY (client_id, person_id)
);

CREATE TABLE blnk_auth_codes (
    code_hash      BLOB PRIMARY KEY CHECK (length(code_hash) = 32),
    client_id      TEXT NOT NULL,
    person_id      TEXT NOT NULL,
    person_name    TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    resource       TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    family         TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    issued_jti     TEXT NOT NULL DEFAULT '',
    issued_jti_expires_at INTEGER
);
CREATE INDEX blnk_auth_codes_expiry ON blnk_auth_codes (expires_at);

CREATE TABLE blnk_auth_refresh_tokens (
    token_hash  BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    family      TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    person_id   TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    -- The access token issued with this refresh token, revoked with its family.
    access_jti  TEXT NOT NULL DEFAULT '',
    access_expires_at INTEGER
);
CREATE INDEX blnk_auth_refresh_tokens_family ON blnk_auth_refresh_tokens (family);
CREATE INDEX blnk_auth_refresh_tokens_grant ON blnk_auth_refresh_tokens (client_id, person_id);
CREATE INDEX blnk_auth_refresh_tokens_expiry ON blnk_auth_refresh_tokens (expires_at);
