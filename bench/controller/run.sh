#!/usr/bin/env bash
# Controller scale benchmark: a real tandem-controller (release build) with NODES simulated nodes
# (default 1000) reporting through the real internal API like node workers (full report, then
# deltas; long-polls), and STEPS three-replica volumes (default 10000; e.g. STEPS=10000,100000)
# created over CONNS parallel connections. Prints create p50/p99, one page of GET /v1/volumes,
# one node's desired state and report (full, delta), fan-out to the long-polls a change concerns, restart
# to serving, and RSS. Not a test (never in ctest). 10 000 volumes take about 5-10 minutes on two
# shared cores; the state lives in a temp dir removed after.
#
# usage: bench/controller/run.sh [bin-dir]   (default: build/release/bin, built with script/build release)
#        STEPS=10000,100000 NODES=1000 CONNS=8 FANOUT=1000 nice bench/controller/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_BIN_ARG=${1:-}
. "$ROOT/bench/lib/release-bin.sh"
release_bin tandem-controller
# A long-poll per simulated node: one connection each on both sides.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec /usr/bin/python3 "$ROOT/bench/controller/scale.py" "$BIN"
