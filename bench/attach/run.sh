#!/usr/bin/env bash
# Local block device benchmark (issue 9, attachments): the same fio jobs
#   4 KiB randwrite QD1, 4 KiB randwrite QD16, 1 MiB sequential write QD4
# against, one after the other, on one 1 GiB file served by tandem-nbd-serve:
#   fuse-loop-cN  /dev/loopN over tandem-disk-fuse (FUSE file -> libnbd, N NBD connections),
#                 losetup --direct-io=on, fio libaio O_DIRECT on the loop device
#   nbd           fio's nbd engine straight to the same export (no kernel in the path)
#   plain-loop-dio-on/off  a loop device over the plain file (no FUSE, no NBD), with direct I/O
#                 to the file (the disk's own latency) and without (the page cache, like
#                 tandem-nbd-serve, which writes through the page cache too)
# then prints IOPS, MiB/s and mean completion latency side by side. Needs root, /dev/fuse and
# loop devices. Not a test (never in ctest). Every process, loop device, mount and temp file is
# removed on exit.
#
# usage: bench/attach/run.sh [bin-dir]   (default: build/release/bin; tandem-nbd-serve and
#        tandem-disk-fuse are built there when missing)
#        RUNTIME=s RAMP=s CONNECTIONS="1 4" bench/attach/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(realpath -m "${1:-$ROOT/build/release/bin}")
RUNTIME=${RUNTIME:-10}
RAMP=${RAMP:-2}
CONNECTIONS=${CONNECTIONS:-"1 4"}
SIZE=$((1 << 30))

"$ROOT/script/deps" bench >/dev/null
if [[ ! -x $BIN/tandem-nbd-serve || ! -x $BIN/tandem-disk-fuse ]]; then
  if [[ $# -ge 1 ]]; then echo "run.sh: no tandem-nbd-serve/tandem-disk-fuse in $BIN" >&2; exit 2; fi
  if [[ ! -f $ROOT/build/release/build.ninja ]]; then
    cmake -S "$ROOT" -B "$ROOT/build/release" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTANDEM_SANITIZE=OFF -DTANDEM_BUILD_TESTS=OFF >/dev/null
  fi
  ninja -C "$ROOT/build/release" tandem-nbd-serve tandem-disk-fuse >/dev/null
fi

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/tandem-attachbench-XXXXXX")
SERVER_PID=""
LOOPS=()
cleanup() {
  local l
  for l in "${LOOPS[@]}"; do losetup --detach "$l" 2>/dev/null || true; done
  if [[ -f $WORK/att/pid ]]; then
    local p; p=$(cat "$WORK/att/pid")
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  mountpoint -q "$WORK/att/mnt" 2>/dev/null && umount --lazy "$WORK/att/mnt"
  [[ -n $SERVER_PID ]] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

truncate -s $SIZE "$WORK/volume.img"
# Written once so that reads and overwrites hit allocated blocks everywhere.
dd if=/dev/zero of="$WORK/volume.img" bs=1M count=1024 conv=notrunc status=none
"$BIN/tandem-nbd-serve" --file "$WORK/volume.img" --export vol --port 0 >"$WORK/serve.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do grep -q ready "$WORK/serve.out" && break; sleep 0.1; done
PORT=$(awk '/^port/{print $2}' "$WORK/serve.out")

JOBS=("randwrite-4k-qd1:randwrite:4k:1" "randwrite-4k-qd16:randwrite:4k:16" "write-1m-qd4:write:1M:4")
declare -A RESULT

# fio TARGET_NAME fio-target-args...: runs every job, stores "iops mib lat_us" per job.
run_fio() {
  local name=$1; shift
  local job jname rw bs qd out
  for job in "${JOBS[@]}"; do
    IFS=: read -r jname rw bs qd <<<"$job"
    out=$(fio --name="$jname" --rw="$rw" --bs="$bs" --iodepth="$qd" --size=$SIZE --time_based \
      --runtime="$RUNTIME" --ramp_time="$RAMP" --output-format=json "$@")
    RESULT[$name/$jname]=$(/usr/bin/python3 -c '
import json, sys
text = sys.stdin.read()  # the nbd engine prints a line before the JSON
j = json.loads(text[text.index("{"):])["jobs"][0]["write"]
print("%.0f %.1f %.0f" % (j["iops"], j["bw_bytes"] / 1048576, j["clat_ns"]["mean"] / 1000))' <<<"$out")
  done
}

TARGETS=()
for c in $CONNECTIONS; do
  mkdir -p "$WORK/att/mnt"
  printf 'volume=vol\nsize=%s\nexport=vol\ntcp_host=127.0.0.1\ntcp_port=%s\nunix_path=\ngeneration=1\n' \
    $SIZE "$PORT" >"$WORK/att/spec"
  "$BIN/tandem-disk-fuse" --dir "$WORK/att" --connections "$c"
  loop=$(losetup --find --show --direct-io=on "$WORK/att/mnt/disk")
  LOOPS+=("$loop")
  run_fio "fuse-loop-c$c" --filename="$loop" --ioengine=libaio --direct=1
  losetup --detach "$loop"
  LOOPS=()
  kill -TERM "$(cat "$WORK/att/pid")"
  for _ in $(seq 100); do [[ -f $WORK/att/pid ]] || break; sleep 0.1; done
  rm -rf "$WORK/att"
  TARGETS+=("fuse-loop-c$c")
done

run_fio nbd --ioengine=nbd --uri="nbd://127.0.0.1:$PORT/vol"
TARGETS+=(nbd)

for dio in on off; do
  loop=$(losetup --find --show --direct-io=$dio "$WORK/volume.img")
  LOOPS+=("$loop")
  run_fio "plain-loop-dio-$dio" --filename="$loop" --ioengine=libaio --direct=1
  losetup --detach "$loop"
  LOOPS=()
  TARGETS+=("plain-loop-dio-$dio")
done

printf '%-20s' "IOPS / MiB/s / lat"
for t in "${TARGETS[@]}"; do printf '%24s' "$t"; done
echo
for job in "${JOBS[@]}"; do
  jname=${job%%:*}
  printf '%-20s' "$jname"
  for t in "${TARGETS[@]}"; do
    read -r iops mib lat <<<"${RESULT[$t/$jname]}"
    printf '%24s' "$iops / $mib / ${lat}us"
  done
  echo
done
