#!/usr/bin/env bash
# tandem-pool-fs benchmark (issue 12): fio on the FUSE file of a volume vs fio's nbd engine on the
# same volume's export vs fio on its raw backing file, 4 KiB randwrite QD1/QD16 and 1 MiB write,
# and libfuse options (splice, NBD connections, buffered with/without writeback cache). See
# poolfsbench.py for the targets. Needs root and /dev/fuse. Not a test (never in ctest). Every
# process, mount and temp file is removed on exit.
#
# usage: bench/poolfs/run.sh [bin-dir]   (default: build/release/bin, built when missing)
#        RUNTIME=s RAMP=s TARGETS=raw,nbd,fuse bench/poolfs/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(realpath -m "${1:-$ROOT/build/release/bin}")

"$ROOT/script/deps" bench >/dev/null
if [[ ! -x $BIN/tandem-pool-fs || ! -x $BIN/tandem-node || ! -x $BIN/tandem-controller ]]; then
  if [[ $# -ge 1 ]]; then echo "run.sh: no tandem-pool-fs/tandem-node/tandem-controller in $BIN" >&2; exit 2; fi
  if [[ ! -f $ROOT/build/release/build.ninja ]]; then
    cmake -S "$ROOT" -B "$ROOT/build/release" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTANDEM_SANITIZE=OFF -DTANDEM_BUILD_TESTS=OFF >/dev/null
  fi
  ninja -C "$ROOT/build/release" tandem-pool-fs tandem-node tandem-controller >/dev/null
fi

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/tandem-poolfsbench-XXXXXX")
PY=""
cleanup() {
  if [[ -n $PY ]] && kill -0 "$PY" 2>/dev/null; then
    kill -TERM "$PY" 2>/dev/null || true
    wait "$PY" 2>/dev/null || true
  fi
  mountpoint -q "$WORK/mnt" 2>/dev/null && umount --lazy "$WORK/mnt"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

/usr/bin/python3 "$ROOT/bench/poolfs/poolfsbench.py" --bin-dir "$BIN" --work "$WORK" \
  --runtime "${RUNTIME:-10}" --ramp "${RAMP:-2}" ${TARGETS:+--targets "$TARGETS"} &
PY=$!
rc=0
wait "$PY" || rc=$?
PY=""
exit $rc
