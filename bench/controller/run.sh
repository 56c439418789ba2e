#!/usr/bin/env bash
# Controller scale benchmark: REST latency against the number of volumes (250, 1000, 4000 by
# default), beside GET /v1/version as the baseline (one TLS round trip, no state). Starts a real
# tandem-controller; K registered nodes report status through the API (no node workers, no I/O).
# Not a test (never in ctest). Takes about 3-5 minutes; the state lives in a temp dir removed after.
#
# usage: bench/controller/run.sh [bin-dir]   (default: build/release/bin, built with script/build release)
#        STEPS=500,2000 NODES=24 bench/controller/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_BIN_ARG=${1:-}
. "$ROOT/bench/lib/release-bin.sh"
release_bin tandem-controller
exec /usr/bin/python3 "$ROOT/bench/controller/scale.py" "$BIN"
