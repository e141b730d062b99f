# Sourced by run.sh and ratio.sh: builds ./caddy, starts it on the Caddyfile
# here with a fresh PostgreSQL database, creates a client with the CLI and
# gets a token. Sets work, pid, CLIENT_ID, CLIENT_SECRET and tok; stops Caddy
# and drops the database on exit.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
db=blnk_auth_wrk_$$ # one per run: two people measuring at once do not drop each other's
PGOPTIONS=--client-min-messages=warning psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
export BLNK_AUTH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
export BLNK_AUTH_SECRET=wrk-secret-0123456789abcdef0123456789
(cd "$root" && go build -o "$work/caddy" ./caddy)
"$work/caddy" run --config "$here/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null 127.0.0.1:7083 && break; sleep 0.1; done

client=$("$work/caddy" blnk-auth client create --name wrk --scopes "mcp:read" --config "$here/Caddyfile" --adapter caddyfile)
export CLIENT_ID=$(echo "$client" | sed -n 's/.*"client_id": "\(.*\)".*/\1/p')
export CLIENT_SECRET=$(echo "$client" | sed -n 's/.*"client_secret": "\(.*\)".*/\1/p')
tok=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials http://127.0.0.1:7080/oauth/token | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" http://127.0.0.1:7081/)" = 200
test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
	-d '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}' http://127.0.0.1:7084/mcp)" = 200
rps() { sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p'; }
