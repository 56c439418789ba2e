#!/usr/bin/env bash
# Full-resync benchmark: time for a killed and restarted replica of a 1 GiB volume to be up to date
# again, beside cp and cat of the same backing file (the disk alone) in the same run.
# Not a test (never in ctest). Takes about 1-2 minutes.
#
# usage: bench/resync/run.sh [bin-dir]   (default: build/release/bin, built with script/build release)
#        SIZE_MIB=4096 ROUNDS=2 bench/resync/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/build/release/bin}
BIN=$(realpath -m "$BIN")
"$ROOT/script/deps" test >/dev/null
if [[ ! -x $BIN/tandem-node ]]; then
  if [[ $# -ge 1 ]]; then echo "run.sh: no Tandem binaries in $BIN" >&2; exit 2; fi
  "$ROOT/script/build" release
fi
exec /usr/bin/python3 "$ROOT/bench/resync/resync.py" "$BIN"
