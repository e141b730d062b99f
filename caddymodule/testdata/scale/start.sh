#!/usr/bin/env bash
# Start time of a gateway process against the 1,000,000-client database of
# the scale benchmarks (seeded with COPY on first use), against an empty one
# for comparison: from exec to /readyz answering 200 (store reachable,
# change feed synced, signing keys loaded), then to a new client's first
# token and first authenticated call (its cache miss included). Prints each
# run and the load average.
# Needs PostgreSQL at 127.0.0.1:5432.
# Usage: caddymodule/testdata/scale/start.sh [runs, default 5]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
runs=${1:-5}
work=$(mktemp -d)
export BLNK_AUTH_SECRET=scale-secret-0123456789abcdef0123456789
(cd "$root" && go build -o "$work/caddy" ./caddy)
# Seeds blnk_auth_scale unless it holds the clients already.
(cd "$root" && go test -run '^$' -bench 'ScaleSeed' -benchtime 1x -timeout 30m ./internal/backend/ | grep -E 'Scale|ok|FAIL')
empty=blnk_auth_scale_empty
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $empty" -c "CREATE DATABASE $empty" >/dev/null
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $empty WITH (FORCE)" >/dev/null; rm -rf "$work"' EXIT

ms() { echo $(( ($2 - $1) / 1000000 )); }
field() { sed -n "s/.*\"$1\": \"\(.*\)\".*/\1/p"; }
for db in blnk_auth_scale $empty; do
	export BLNK_AUTH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
	clients=$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc "SELECT count(*) FROM blnk_auth_clients" 2>/dev/null || echo 0)
	echo "== $db ($clients clients), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	for run in $(seq 1 "$runs"); do
		t0=$(date +%s%N)
		"$work/caddy" run --config "$here/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
		pid=$!
		until [ "$(curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:7191/readyz)" = 200 ]; do
			kill -0 $pid 2>/dev/null || { cat "$work/caddy.log"; exit 1; }
			sleep 0.005
		done
		t1=$(date +%s%N)
		client=$("$work/caddy" blnk-auth client create --name "start $run" --scopes mcp:read --config "$here/Caddyfile" --adapter caddyfile)
		id=$(echo "$client" | field client_id) secret=$(echo "$client" | field client_secret)
		t2=$(date +%s%N)
		tok=$(curl -sf -u "$id:$secret" -d grant_type=client_credentials 127.0.0.1:7190/oauth/token | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
		code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" 127.0.0.1:7191/)
		t3=$(date +%s%N)
		[ "$code" = 200 ] || { echo "first call: $code" >&2; exit 1; }
		echo "   run $run: ready after $(ms "$t0" "$t1") ms; a new client's first token and call $(ms "$t2" "$t3") ms; RSS $(awk '/VmRSS/ {print $2/1024 " MB"}' /proc/$pid/status)"
		kill $pid; wait $pid 2>/dev/null || true; pid=
	done
done
