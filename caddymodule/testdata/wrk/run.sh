#!/usr/bin/env bash
# Load test for BENCHMARKS.md: tokens/s through blnk_oauth, and requests/s
# through blnk_auth + reverse_proxy against plain reverse_proxy, in one run.
# Needs wrk (apt-get install wrk) and PostgreSQL at 127.0.0.1:5432.
# Usage: caddymodule/testdata/wrk/run.sh [duration, default 15s]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
dur=${1:-15s}
work=$(mktemp -d)
db=blnk_auth_wrk
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
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

echo "== tokens issued: wrk -t2 -c32 -d$dur -s token.lua http://127.0.0.1:7080/oauth/token"
wrk -t2 -c32 -d"$dur" -s "$here/token.lua" http://127.0.0.1:7080/oauth/token

# Interleaved rounds, so drift in the machine's speed hits both alike.
plain=0 auth=0
rps() { sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p'; }
for round in 1 2 3; do
	echo "== round $round: plain reverse_proxy: wrk -t2 -c64 -d$dur http://127.0.0.1:7082/"
	out=$(wrk -t2 -c64 -d"$dur" http://127.0.0.1:7082/) && echo "$out"
	p=$(echo "$out" | rps)
	echo "== round $round: blnk_auth + reverse_proxy: wrk -t2 -c64 -d$dur -H 'Authorization: Bearer <token>' http://127.0.0.1:7081/"
	out=$(wrk -t2 -c64 -d"$dur" -H "Authorization: Bearer $tok" http://127.0.0.1:7081/) && echo "$out"
	a=$(echo "$out" | rps)
	plain=$(echo "$plain + $p" | bc) auth=$(echo "$auth + $a" | bc)
done
echo "== blnk_auth + reverse_proxy / reverse_proxy over 3 rounds: $(echo "scale=3; $auth / $plain" | bc)"
