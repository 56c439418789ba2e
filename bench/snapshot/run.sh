#!/usr/bin/env bash
# Snapshot benchmark: on an XFS (reflink=1) loop image, makes a 1 GiB volume full of data and a
# 10 GiB thick volume (fallocate) with 2 GiB of data spread over it, then times
#   - a snapshot through the file provider (tandem-provider-bench: FICLONE, then fdatasync), and
#   - `cp --sparse=always --reflink=never` of the same file followed by `sync` of the copy
# and prints both side by side. Needs root (mount, losetup). Cleans up its mount and loop
# device on every exit. Disk use: ~16 GiB under $TMPDIR (default /var/tmp) while it runs.
#
# usage: bench/snapshot/run.sh [build-dir]      (default: /work/main/build/devices)
set -euo pipefail

BUILD=${1:-/work/main/build/devices}
if [[ $EUID -ne 0 ]]; then echo "run.sh: needs root (mount, losetup)" >&2; exit 2; fi
BIN=$(find "$BUILD" -name tandem-provider-bench -type f -perm -u+x 2>/dev/null | head -n1 || true)
if [[ -z $BIN ]]; then
  ninja -C "$BUILD" -j2 tandem-provider-bench >/dev/null
  BIN=$(find "$BUILD" -name tandem-provider-bench -type f -perm -u+x | head -n1)
fi

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/tandem-snapbench-XXXXXX")
IMG=$WORK/xfs.img
MNT=$WORK/mnt
LOOP=""
cleanup() {
  if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" || umount -l "$MNT"; fi
  if [[ -n $LOOP ]]; then losetup -d "$LOOP" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$MNT"
truncate -s 32G "$IMG"
mkfs.xfs -q -f -m reflink=1 "$IMG"
LOOP=$(losetup -f --show "$IMG")
mount "$LOOP" "$MNT"
POOL=$MNT/pool
mkdir -p "$POOL"

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }
GiB=$((1 << 30))

declare -a ROWS
bench() {  # name, size-bytes, provisioning, data-bytes, every-nth-MiB
  local name=$1 size=$2 prov=$3 data=$4 every=$5
  "$BIN" "$POOL" create "$name" "$size" "$prov"
  "$BIN" "$POOL" fill "$name" "$data" "$every" >/dev/null
  sync -f "$POOL"
  local snap method t0 t1 cp_s
  read -r snap method < <("$BIN" "$POOL" snapshot "$name" snap)
  t0=$(now)
  cp --sparse=always --reflink=never "$POOL/$name.img" "$WORK/mnt/cp-$name.img"
  sync "$WORK/mnt/cp-$name.img"
  t1=$(now)
  cp_s=$(printf '%.3f' "$(elapsed "$t0" "$t1")")
  ROWS+=("$(printf '%-28s %14s %22s %8.0fx' \
    "$name ($((size / GiB)) GiB, $((data / GiB)) GiB data)" "$snap s ($method)" "$cp_s s" \
    "$(echo "$cp_s / ($snap + 0.0005)" | bc -l)")")
}

bench vol1g $((1 * GiB)) thin $((1 * GiB)) 1
bench vol10g $((10 * GiB)) thick $((2 * GiB)) 5

echo
echo "XFS reflink=1 on $LOOP ($(uname -r)); snapshot = tandem file provider, cp = cp --sparse=always --reflink=never + sync"
printf '%-28s %14s %22s %9s\n' "volume" "snapshot" "cp --sparse=always" "speedup"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
df -h "$MNT" | tail -n1 | awk '{print "file system used after both copies: " $3 " of " $2}'
