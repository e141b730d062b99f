-- A dashboard session may be a person's, signed in through an OpenID Connect
-- provider: who they are (issuer and subject), how they are shown (email,
-- name) and what they may grant (space-separated), fixed at sign-in. Empty
-- for key sessions.
ALTER TABLE blnk_auth_sessions ADD COLUMN person_issuer    TEXT NOT NULL DEFAULT '';
ALTER TABLE blnk_auth_sessions ADD COLUMN person_subject   TEXT NOT NULL DEFAULT '';
ALTER TABLE blnk_auth_sessions ADD COLUMN person_email     TEXT NOT NULL DEFAULT '';
ALTER TABLE blnk_auth_sessions ADD COLUMN person_name      TEXT NOT NULL DEFAULT '';
ALTER TABLE blnk_auth_sessions ADD COLUMN person_may_grant TEXT NOT NULL DEFAULT '';
