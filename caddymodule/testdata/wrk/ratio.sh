#!/usr/bin/env bash
# What blnk_auth costs a proxied request, through a real process: one Caddy
# with both sites and the same upstream, wrk -t1 -c32 in alternating rounds
# (plain reverse_proxy, then blnk_auth + reverse_proxy), so that drift in the
# machine's speed hits both alike. A run's ratio is the median of its rounds'
# ratios; the script prints every run's ratio and the median of the runs, for
# a plain route (GET) and an mcp route (a tools/list POST), with what a
# request costs Caddy in CPU time on each.
# Needs wrk (apt-get install wrk) and PostgreSQL at 127.0.0.1:5432.
# Usage: caddymodule/testdata/wrk/ratio.sh [runs, default 5] [rounds per run, default 5] [round length, default 6s]
# With PLAIN_HEADER=1 the plain rounds carry the same Authorization header,
# which reverse_proxy forwards: the ratio then leaves out what receiving a
# token's bytes costs and shows blnk_auth's own work.
# With WRK_ADMIN=127.0.0.1:2019 it also saves a 5 s CPU profile of each kind
# of round of the first run (pprof through Caddy's admin endpoint; both
# rounds of the pair are profiled, so the ratio stays fair) and prints their
# top entries. A round with a refused request or a socket error stops the
# script: it never counts refusals as throughput.
set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C
runs=${1:-5} rounds=${2:-5} dur=${3:-6s}
source "$(cd "$(dirname "$0")" && pwd)/setup.sh"

median() { sort -g | awk '{a[NR]=$1} END {printf "%.4f\n", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# A fresh token for each run, so that none expires during a long measurement.
fresh_token() {
	tok=$(curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials http://127.0.0.1:7080/oauth/token | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
	[ -n "$tok" ] || { echo "no token" >&2; exit 1; }
}

# round URL SCRIPT_OR_EMPTY TOKEN_OR_EMPTY PROFILE_NAME_OR_EMPTY
round() {
	local args=(-t1 -c32 -d"$dur")
	[ -n "$2" ] && args+=(-s "$here/$2")
	[ -n "$3" ] && [ -z "$2" ] && args+=(-H "Authorization: Bearer $3")
	if [ -n "$4" ] && [ -n "${WRK_ADMIN:-}" ]; then
		(sleep 0.5; curl -s -o "$work/$4.pprof" "http://$WRK_ADMIN/debug/pprof/profile?seconds=5") &
	fi
	local out t0 t1 n
	t0=$(cpu_ticks)
	out=$(TOKEN=$3 wrk "${args[@]}" "$1")
	t1=$(cpu_ticks)
	wait
	# Refusals and socket errors are not throughput: stop rather than count them.
	if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
		echo "wrk $* got errors:" >&2
		echo "$out" >&2
		exit 1
	fi
	n=$(sed -n 's/^ *\([0-9][0-9]*\) requests in.*/\1/p' <<<"$out")
	echo "$(rps <<<"$out") $(echo "scale=1; ($t1 - $t0) * 1000000 / $clk / $n" | bc)"
}

# cpu_ticks is the CPU time Caddy has used so far (user + system, in clock
# ticks): divided by the requests of a round, what one request costs it,
# which contention on the machine disturbs far less than throughput.
clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

# measure NAME PLAIN_URL AUTH_URL SCRIPT
measure() {
	local ratios=()
	for run in $(seq 1 "$runs"); do
		fresh_token
		local r=() d=()
		for i in $(seq 1 "$rounds"); do
			local prof_p="" prof_a=""
			if [ "$run" = 1 ] && [ "$i" = 1 ]; then prof_p=$1-plain prof_a=$1-blnk_auth; fi
			local plain_tok=""
			[ "${PLAIN_HEADER:-0}" = 1 ] && plain_tok=$tok
			local res p pc a ac
			res=$(round "$2" "$4" "$plain_tok" "$prof_p")
			read -r p pc <<<"$res"
			res=$(round "$3" "$4" "$tok" "$prof_a")
			read -r a ac <<<"$res"
			[ -n "$p" ] && [ -n "$a" ] && [ "$p" != 0 ] || { echo "no rate measured" >&2; exit 1; }
			r+=("$(echo "scale=4; $a / $p" | bc)")
			d+=("$(echo "$ac - $pc" | bc)")
			echo "   $1 run $run round $i: plain $p/s ($pc µs CPU/request), blnk_auth $a/s ($ac µs CPU/request)"
		done
		m=$(printf '%s\n' "${r[@]}" | median)
		ratios+=("$m")
		echo "== $1 run $run: ratio (median of $rounds rounds) $m; Caddy's CPU per request, blnk_auth − plain (median) $(printf '%s\n' "${d[@]}" | median) µs"
	done
	echo "== $1: ratios ${ratios[*]}; median $(printf '%s\n' "${ratios[@]}" | median)"
}

extra=""
[ "${PLAIN_HEADER:-0}" = 1 ] && extra=", the token sent to the plain routes too"
echo "== wrk -t1 -c32 -d$dur, $runs runs of $rounds alternating rounds$extra"
measure plain http://127.0.0.1:7082/ http://127.0.0.1:7081/ ""
measure mcp http://127.0.0.1:7085/mcp http://127.0.0.1:7084/mcp mcp.lua
if [ -n "${WRK_ADMIN:-}" ]; then
	for f in "$work"/*.pprof; do
		echo "== profile $(basename "$f" .pprof)"
		go tool pprof -top -nodecount=25 "$work/caddy" "$f" 2>/dev/null | sed -n '1,32p'
	done
	mkdir -p /tmp/blnk-wrk-profiles && cp "$work"/*.pprof "$work/caddy" /tmp/blnk-wrk-profiles/ 2>/dev/null || true
	echo "(profiles and the binary copied to /tmp/blnk-wrk-profiles)"
fi
