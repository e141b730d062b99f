#!/usr/bin/env bash
# Fan-out figures for BENCHMARKS.md: N = 2, 4 and 8 gateway processes (the
# real binary) on one PostgreSQL database, under load through all of them
# (one wrk per instance with a valid token, and the test's own load
# goroutines sending revoked and not yet revoked credentials), while clients
# are revoked (in the database, as the CLI does) and tokens revoked (RFC 7009
# at one instance) one after another. For each N it prints the time until
# every instance refuses (p50, p99, max), the requests sent with a revoked
# credential after their instance refused it and how many were accepted
# (the test fails on any), and the machine's load average before and after.
# Needs wrk (apt-get install wrk) and PostgreSQL at 127.0.0.1:5432.
# Usage: caddymodule/testdata/fanout/run.sh [revocations per N, default 50] [instance counts, default 2,4,8]
# With WRK=0 the load is the test's goroutines alone (no wrk). WRK_NICE=10
# runs the wrk processes at nice 10 (the load generator yields the cores to
# the system under test, as when it runs on machines of its own);
# GOMAXPROCS_EACH=1 sets GOMAXPROCS in every gateway (as a container's CPU
# limit of a quarter core would).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
[ "${WRK:-1}" = 0 ] || command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
BLNK_FANOUT_REVOCATIONS=${1:-50} BLNK_FANOUT_N=${2:-2,4,8} BLNK_FANOUT_WRK=${WRK:-1} BLNK_FANOUT_WRK_NICE=${WRK_NICE:-0} BLNK_FANOUT_GOMAXPROCS=${GOMAXPROCS_EACH:-} \
	go test -count=1 -timeout 30m -run 'TestFanoutRevocation$' -v . | grep -E 'FANOUT|^(--- |ok|FAIL|panic)|fanout_test.go' || true
