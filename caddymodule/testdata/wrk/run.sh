#!/usr/bin/env bash
# Load test for BENCHMARKS.md: tokens/s through blnk_oauth, and requests/s
# through blnk_auth + reverse_proxy against plain reverse_proxy, in one run
# (ratio.sh measures the second more carefully).
# Needs wrk (apt-get install wrk) and PostgreSQL at 127.0.0.1:5432.
# Usage: caddymodule/testdata/wrk/run.sh [duration, default 15s]
set -euo pipefail
dur=${1:-15s}
source "$(cd "$(dirname "$0")" && pwd)/setup.sh"

echo "== tokens issued: wrk -t1 -c32 -d$dur -s token.lua http://127.0.0.1:7080/oauth/token"
wrk -t1 -c32 -d"$dur" -s "$here/token.lua" http://127.0.0.1:7080/oauth/token

# Interleaved rounds, so drift in the machine's speed hits both alike.
plain=0 auth=0
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
