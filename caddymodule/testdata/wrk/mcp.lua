-- wrk script: an MCP tools/list request (Streamable HTTP POST), the same on
-- the blnk_auth route and the plain one. TOKEN, when set, is sent as a bearer
-- token.
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
local tok = os.getenv("TOKEN")
if tok and tok ~= "" then
	wrk.headers["Authorization"] = "Bearer " .. tok
end
