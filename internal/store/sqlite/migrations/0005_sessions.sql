-- Dashboard sessions: only the hash of the browser's token is kept.
CREATE TABLE blnk_auth_sessions (
    token_hash      BLOB PRIMARY KEY,
    client_id       TEXT NOT NULL,
    credential_hash BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX blnk_auth_sessions_expiry ON blnk_auth_sessions (expires_at);
