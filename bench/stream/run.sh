#!/usr/bin/env bash
# Volume streaming benchmark: a LocalCluster (controller + 2 nodes, 2 replicas) with a 1 GiB
# volume; imports a raw image into it and exports it back, best of 3 rounds each, with
#   - `tandem volume export|import` (GET/PUT /v1/volumes/{v}/data through the controller), and
#   - `qemu-img convert` straight to/from the primary's NBD export (nbd://...),
# for a full image and a sparse one (25% data), and prints seconds and MiB/s side by side.
# Not a test (never in ctest). Every process and temp file is removed on exit.
#
# usage: bench/stream/run.sh [bin-dir]      (default: build/release/bin, built with script/build release)
#        SIZE_MIB=256 ROUNDS=1 bench/stream/run.sh build/test/bin
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_BIN_ARG=${1:-}
source "$ROOT/bench/lib/release-bin.sh"
release_bin tandem tandem-controller tandem-node
command -v qemu-img >/dev/null || { echo "run.sh: qemu-img missing (script/deps installs qemu-utils)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/tandem-streambench-XXXXXX")
PY=""
cleanup() {
  if [[ -n $PY ]] && kill -0 "$PY" 2>/dev/null; then
    kill -TERM "$PY" 2>/dev/null || true
    wait "$PY" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

/usr/bin/python3 "$ROOT/bench/stream/streambench.py" --bin-dir "$BIN" --work "$WORK" \
  --size-mib "${SIZE_MIB:-1024}" --rounds "${ROUNDS:-3}" &
PY=$!
rc=0
wait "$PY" || rc=$?
PY=""
exit $rc
