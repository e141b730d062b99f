-- Times are INTEGER unix microseconds (UTC): exact, and they sort as times do,
-- so the (created_at, client_id) listing cursor is exact. Tables are STRICT so
-- a wrongly typed value is an error rather than silently stored.

-- Clients: OAuth clients and API keys. Only a SHA-256 of each secret is kept.
-- scopes holds the scope tokens joined by single spaces (a token never
-- contains a space); "" is no scope.
CREATE TABLE blnk_auth_clients (
    client_id    TEXT NOT NULL PRIMARY KEY,
    name         TEXT NOT NULL,
    type         TEXT NOT NULL CHECK (type IN ('oauth', 'api_key')),
    scopes       TEXT NOT NULL,
    secret_hash  BLOB NOT NULL CHECK (length(secret_hash) = 32),
    secret_hint  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
) STRICT;

-- Newest-first listing with a (created_at, client_id) cursor.
CREATE INDEX blnk_auth_clients_created ON blnk_auth_clients (created_at DESC, client_id DESC);

-- Change log: every mutation appends the client it touched, in the same
-- transaction. Followers poll it. AUTOINCREMENT: an ID is never used twice,
-- not even after pruning has emptied the table.
CREATE TABLE blnk_auth_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id  TEXT NOT NULL,
    changed_at INTEGER NOT NULL
) STRICT;

-- Token signing keys, private halves sealed with the operator's secret.
CREATE TABLE blnk_auth_signing_keys (
    kid         TEXT NOT NULL PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    sealed_key  BLOB NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
