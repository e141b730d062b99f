-- A person's grants, codes and refresh tokens are ended together when the key
-- they signed in with is revoked or deleted (DELETE ... WHERE person_id = $1,
-- in the client's own transaction): without these indexes each such delete
-- scanned the whole table while holding the client's row.
CREATE INDEX blnk_auth_grants_person ON blnk_auth_grants (person_id);
CREATE INDEX blnk_auth_codes_person ON blnk_auth_codes (person_id);
CREATE INDEX blnk_auth_refresh_tokens_person ON blnk_auth_refresh_tokens (person_id);
