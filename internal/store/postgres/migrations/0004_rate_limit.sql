-- Per-client rate limits: requests per period (1, 60 or 3600 seconds) with
-- bursts up to rate_limit_burst; all three NULL for no limit of the client's own.
ALTER TABLE blnk_auth_clients
    ADD COLUMN rate_limit_requests integer CHECK (rate_limit_requests > 0),
    ADD COLUMN rate_limit_per_seconds integer CHECK (rate_limit_per_seconds IN (1, 60, 3600)),
    ADD COLUMN rate_limit_burst integer CHECK (rate_limit_burst > 0),
    ADD CONSTRAINT blnk_auth_clients_rate_limit_whole CHECK (
        (rate_limit_requests IS NULL) = (rate_limit_per_seconds IS NULL)
        AND (rate_limit_requests IS NULL) = (rate_limit_burst IS NULL));
