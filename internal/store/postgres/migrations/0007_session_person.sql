-- A dashboard session may be a person's, signed in through an OpenID Connect
-- provider: who they are (issuer and subject), how they are shown (email,
-- name) and what they may grant, fixed at sign-in. Empty for key sessions.
ALTER TABLE blnk_auth_sessions ADD COLUMN person_issuer    text NOT NULL DEFAULT '';
ALTER TABLE blnk_auth_sessions ADD COLUMN person_subject   text NOT NULL DEFAULT '';
ALTER TABLE blnk_auth_sessions ADD COLUMN person_email     text NOT NULL DEFAULT '';
ALTER TABLE blnk_auth_sessions ADD COLUMN person_name      text NOT NULL DEFAULT '';
ALTER TABLE blnk_auth_sessions ADD COLUMN person_may_grant text[] NOT NULL DEFAULT '{}';
