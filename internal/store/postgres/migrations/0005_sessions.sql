-- Dashboard sessions: only the hash of the browser's token is kept.
CREATE TABLE blnk_auth_sessions (
    token_hash      bytea PRIMARY KEY,
    client_id       text NOT NULL,
    credential_hash bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX blnk_auth_sessions_expiry ON blnk_auth_sessions (expires_at);
