-- Clients: OAuth clients and API keys. Only a SHA-256 of each secret is kept.
CREATE TABLE blnk_auth_clients (
    client_id    text PRIMARY KEY,
    name         text NOT NULL,
    type         text NOT NULL CHECK (type IN ('oauth', 'api_key')),
    scopes       text[] NOT NULL,
    secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
    secret_hint  text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
-- Newest-first listing with a (created_at, client_id) cursor.
CREATE INDEX blnk_auth_clients_created ON blnk_auth_clients (created_at DESC, client_id DESC);

-- Change log: every mutation appends the client it touched, in the same
-- transaction, and NOTIFYs listeners. A reconnecting listener replays it.
CREATE TABLE blnk_auth_changes (
    id         bigserial PRIMARY KEY,
    client_id  text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Token signing keys, private halves sealed with the operator's secret.
CREATE TABLE blnk_auth_signing_keys (
    kid         text PRIMARY KEY,
    algorithm   text NOT NULL,
    sealed_key  bytea NOT NULL,
    created_at  timestamptz NOT NULL
);
