#!/usr/bin/env bash
# Fills a small tmpfs: the pre-check refuses a version that cannot fit, and
# with the pre-check off the write itself hits ENOSPC; either way every rank
# reports the failing rank and the last committed version restores intact.
set -u
exe=$1; np=$2; work=$3
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
mnt="$work/tmpfs"
mkdir -p "$mnt"
umount "$mnt" 2>/dev/null
if ! mount -t tmpfs -o size=$((3 * np + 1))m tmpfs "$mnt" 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs here (needs root and mount permission)"; exit 77
fi
trap 'umount "$mnt" 2>/dev/null' EXIT
fail=0
for mode in precheck enospc; do
  rm -rf "$mnt"/*
  extra=(); [ $mode = enospc ] && extra=(--no-space-check)
  # 1 MiB per rank and version: versions 1-3 fit, 4 does not (3 kept).
  out=$($mpirun -n "$np" $flags "$exe" --dir "$mnt/ckpt" --versions 4 --mib 1 "${extra[@]}" 2>&1); rc=$?
  echo "$out" | grep "checkpoint failed" | head -n 2
  if [ $rc -eq 0 ]; then echo "$out"; echo "FAIL [$mode]: version 4 should not fit"; fail=1; continue; fi
  if [ $mode = precheck ]; then
    echo "$out" | grep -q "not attempted: rank [0-9]*: $mnt/ckpt has [0-9]* MiB free" || { echo "$out"; echo "FAIL [$mode]: no clear pre-check error"; fail=1; continue; }
  else
    echo "$out" | grep -q "version 4 aborted, nothing committed: rank [0-9]*: .*No space left on device" || { echo "$out"; echo "FAIL [$mode]: no clear ENOSPC error"; fail=1; continue; }
  fi
  ls "$mnt/ckpt" | grep -q '\.tmp$' && { echo "FAIL [$mode]: temp files left behind"; fail=1; }
  out=$($mpirun -n "$np" $flags "$exe" --dir "$mnt/ckpt" --versions 3 --mib 1 2>&1)
  echo "$out" | grep -q "^restored version 3 (tag 3)$" || { echo "$out"; echo "FAIL [$mode]: version 3 did not restore intact"; fail=1; continue; }
  echo "ok [$mode, np $np]: version 4 refused, version 3 restored intact"
done
exit $fail
