#!/usr/bin/env bash
# Flood test for BENCHMARKS.md: an honest client gets tokens at the token
# endpoint (wrk with token.lua, from its own address) alone, then while an
# attacker floods wrong secrets for that same client ID, first from one
# address and then from a random address per request. Prints the honest
# client's requests/s, latency and non-2xx count for each run.
# Needs wrk (apt-get install wrk) and PostgreSQL at 127.0.0.1:5432.
# Usage: caddymodule/testdata/wrk/flood.sh [seconds, default 10]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
dur=${1:-10}
work=$(mktemp -d)
db=blnk_auth_flood
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
export BLNK_AUTH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
export BLNK_AUTH_SECRET=wrk-secret-0123456789abcdef0123456789
(cd "$root" && go build -o "$work/caddy" ./caddy)
"$work/caddy" run --config "$here/flood.Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null 127.0.0.1:7090 && break; sleep 0.1; done

field() { sed -n "s/.*\"$1\": \"\(.*\)\".*/\1/p"; }
client=$("$work/caddy" blnk-auth client create --name honest --scopes "mcp:read" --config "$here/flood.Caddyfile" --adapter caddyfile)
export CLIENT_ID=$(echo "$client" | field client_id) CLIENT_SECRET=$(echo "$client" | field client_secret)
# A well-formed secret that is not the honest client's: another client's.
decoy=$("$work/caddy" blnk-auth client create --name decoy --scopes "mcp:read" --config "$here/flood.Caddyfile" --adapter caddyfile | field client_secret)
export BASIC=$(printf '%s:%s' "$CLIENT_ID" "$decoy" | base64 -w0)
url=http://127.0.0.1:7090/oauth/token
honest() { wrk -t1 -c8 -d"${dur}s" --latency -s "$here/token.lua" -H "X-Forwarded-For: 203.0.113.7" "$url"; }

echo "== honest client alone: wrk -t1 -c8 -d${dur}s --latency -s token.lua -H 'X-Forwarded-For: 203.0.113.7' $url"
honest
for spread in 0 1; do
	what="one address"; [ "$spread" = 1 ] && what="a random address per request"
	echo "== honest client during a flood of wrong secrets for its ID from $what: attacker wrk -t1 -c32 -d${dur}s -s flood.lua (SPREAD=$spread)"
	SPREAD=$spread wrk -t1 -c32 -d"$((dur + 1))s" -s "$here/flood.lua" "$url" >"$work/flood.out" 2>&1 &
	attacker=$!
	sleep 0.5
	honest
	wait $attacker
	cat "$work/flood.out"
	echo "-- token endpoint outcomes so far (Caddy's metrics):"
	curl -s http://127.0.0.1:7091/metrics | grep -E '^caddy_blnk_auth_(token_requests_total|throttled_requests_total\{endpoint="token"\}|client_cache_misses_total)'
done
