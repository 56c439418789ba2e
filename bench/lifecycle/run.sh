#!/usr/bin/env bash
# Lifecycle benchmark (issue 10): the write pause of a crash-consistent snapshot on an idle and on
# a busy volume (fio QD16 random writes over NBD), with fio's latency without snapshots as the
# baseline; and the time to make a volume from a snapshot by reflink (XFS) vs by copy (ext4),
# beside `cp --reflink=always` and `cp` of the same bytes on the same file systems.
# Not a test (never in ctest). Needs root (loop-mounted XFS and ext4). About 3-6 minutes.
#
# usage: bench/lifecycle/run.sh [bin-dir]   (default: build/release/bin, built with script/build release)
#        CLONE_GIB=10 SNAPSHOTS=20 bench/lifecycle/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_BIN_ARG=${1:-}
. "$ROOT/bench/lib/release-bin.sh"
release_bin tandem-node tandem-controller
exec /usr/bin/python3 "$ROOT/bench/lifecycle/lifecycle.py" "$BIN"
