-- Secret rolling: the replaced secret keeps working until its grace period ends.
ALTER TABLE blnk_auth_clients ADD COLUMN previous_secret_hash BLOB CHECK (length(previous_secret_hash) = 32);
ALTER TABLE blnk_auth_clients ADD COLUMN previous_secret_expires_at INTEGER;

-- Audit log: one row per change, written in the change's transaction. Never a secret.
CREATE TABLE blnk_auth_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    source     TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX blnk_auth_audit_client ON blnk_auth_audit (client_id, id DESC);
