-- Secret rolling: the replaced secret keeps working until its grace period ends.
ALTER TABLE blnk_auth_clients
    ADD COLUMN previous_secret_hash bytea CHECK (length(previous_secret_hash) = 32),
    ADD COLUMN previous_secret_expires_at timestamptz;

-- Audit log: one row per change, written in the change's transaction. Never a secret.
CREATE TABLE blnk_auth_audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    client_id  text NOT NULL,
    source     text NOT NULL DEFAULT '',
    request_id text NOT NULL DEFAULT ''
);
CREATE INDEX blnk_auth_audit_client ON blnk_auth_audit (client_id, id DESC);
