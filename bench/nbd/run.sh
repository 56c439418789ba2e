#!/usr/bin/env bash
# NBD I/O benchmark: the same fio jobs (ioengine=nbd over TCP 127.0.0.1, 1 GiB target)
#   4 KiB randwrite QD1, 4 KiB randwrite QD16, 1 MiB sequential write QD4, 4 KiB randread QD16
# against, one after the other:
#   nbdkit file, qemu-nbd (raw, --cache=writeback --aio=threads), tandem-nbd-serve --file,
#   a Tandem volume with 1 replica and one with 3 replicas (a LocalCluster: controller + 3 nodes),
# then prints IOPS, MiB/s and mean/p99 completion latency side by side. Not a test (never in ctest).
# Installs only fio (script/deps bench). Every process and temp file is removed on exit.
# Takes about 5 minutes (20 fio runs of 2 s ramp + 10 s; override with RUNTIME=s RAMP=s).
#
# usage: bench/nbd/run.sh [bin-dir]     (default: build/release/bin, built with script/build release)
#        TARGETS=nbdkit,tandem-r3 bench/nbd/run.sh    (a subset; names as in the table)
#        FIO_JSON_DIR=DIR keeps fio's raw JSON output
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/build/release/bin}
BIN=$(realpath -m "$BIN")

"$ROOT/script/deps" bench
if [[ ! -x $BIN/tandem-nbd-serve || ! -x $BIN/tandem-node || ! -x $BIN/tandem-controller ]]; then
  if [[ $# -ge 1 ]]; then echo "run.sh: no Tandem binaries in $BIN" >&2; exit 2; fi
  "$ROOT/script/build" release
fi

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/tandem-nbdbench-XXXXXX")
PY=""
cleanup() {
  # The helper stops its servers and the cluster itself on SIGTERM; wait for it, then remove the rest.
  if [[ -n $PY ]] && kill -0 "$PY" 2>/dev/null; then
    kill -TERM "$PY" 2>/dev/null || true
    wait "$PY" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# In the background so that a signal to this script runs the trap at once (bash defers traps
# while a foreground child runs).
/usr/bin/python3 "$ROOT/bench/nbd/nbdbench.py" --bin-dir "$BIN" --work "$WORK" \
  --runtime "${RUNTIME:-10}" --ramp "${RAMP:-2}" ${TARGETS:+--targets "$TARGETS"} \
  ${FIO_JSON_DIR:+--json-dir "$FIO_JSON_DIR"} &
PY=$!
rc=0
wait "$PY" || rc=$?
PY=""
exit $rc
