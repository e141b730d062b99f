-- The keyring: one row holding what binds sealed signing keys to this
-- database (a random deployment ID) and the check value that proves which
-- secret they are sealed under, and the sealed key that binds MCP session
-- IDs to clients. Existing keys stay as they are; the first
-- instance of this version to start seals them again in the new format.
CREATE TABLE blnk_auth_keyring (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    deployment_id bytea NOT NULL,
    check_value   bytea,
    session_key   bytea
);
INSERT INTO blnk_auth_keyring (deployment_id) VALUES (uuid_send(gen_random_uuid()));
