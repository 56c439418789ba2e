#!/usr/bin/env bash
# Full-resync benchmark: time for a killed and restarted replica of a 1 GiB volume to be up to date
# again, beside cp and cat of the same backing file (the disk alone) in the same run.
# Not a test (never in ctest). Takes about 1-2 minutes.
#
# usage: bench/resync/run.sh [bin-dir]   (default: build/release/bin, built with script/build release)
#        SIZE_MIB=4096 ROUNDS=2 bench/resync/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_BIN_ARG=${1:-}
. "$ROOT/bench/lib/release-bin.sh"
release_bin tandem-node tandem-controller
exec /usr/bin/python3 "$ROOT/bench/resync/resync.py" "$BIN"
