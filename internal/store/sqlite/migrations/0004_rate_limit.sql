-- Per-client rate limits: requests per period (1, 60 or 3600 seconds) with
-- bursts up to rate_limit_burst; all three NULL for no limit of the client's own.
ALTER TABLE blnk_auth_clients ADD COLUMN rate_limit_requests INTEGER CHECK (rate_limit_requests > 0);
ALTER TABLE blnk_auth_clients ADD COLUMN rate_limit_per_seconds INTEGER CHECK (rate_limit_per_seconds IN (1, 60, 3600));
ALTER TABLE blnk_auth_clients ADD COLUMN rate_limit_burst INTEGER CHECK (rate_limit_burst > 0);
