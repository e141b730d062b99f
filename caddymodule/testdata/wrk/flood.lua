-- wrk script: an attacker posting wrong secrets for one client ID at the
-- token endpoint. BASIC is the Basic credential (victim's ID, a well-formed
-- wrong secret); with SPREAD=1 every request names a random address in
-- X-Forwarded-For (many addresses), else one address.
local basic, spread = os.getenv("BASIC"), os.getenv("SPREAD") == "1"
local headers = {
	["Content-Type"] = "application/x-www-form-urlencoded",
	["Authorization"] = "Basic " .. basic,
	["X-Forwarded-For"] = "198.51.100.66",
}
request = function()
	if spread then
		headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
	end
	return wrk.format("POST", nil, headers, "grant_type=client_credentials")
end
done = function(summary)
	io.write(string.format("attacker: %d requests, non-2xx %d\n", summary.requests, summary.errors.status))
end
