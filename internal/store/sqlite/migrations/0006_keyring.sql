-- The keyring: one row holding what binds sealed signing keys to this
-- database (a random deployment ID) and the check value that proves which
-- secret they are sealed under, and the sealed key that binds MCP session
-- IDs to clients. Existing keys stay as they are; the first
-- instance of this version to start seals them again in the new format.
CREATE TABLE blnk_auth_keyring (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    deployment_id BLOB NOT NULL,
    check_value   BLOB,
    session_key   BLOB
) STRICT;
INSERT INTO blnk_auth_keyring (singleton, deployment_id) VALUES (1, randomblob(16));
