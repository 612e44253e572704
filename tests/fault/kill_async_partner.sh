#!/usr/bin/env bash
# SIGKILL a rank (a) right after version 3 was staged for the background writer (the writer is
# mid-version) and (b) just before rank's shard copy of version 3 is sent to its partner; the
# restarted run must resume from the previous committed version (2, at step 20) and end with the
# checksum of an uninterrupted run.
set -u
exe=$1; np=$2; work=$3
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
victims="0"; [ "$np" -gt 1 ] && victims="0 $((np - 1))"
base=(--n 64 --steps 40 --every 10 --quiet --step-delay-ms 20)
$mpirun -n "$np" $flags "$exe" "${base[@]}" --dir "$work/clean" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; echo "FAIL: clean run"; exit 1; }
want=$(tail -n 1 "$work/clean.out")
fail=0
for case in "writer_staged:--async on --snapshot incremental" "sending_partner:--storage partner --async off" "sending_partner:--storage partner --async on"; do
  phase=${case%%:*}; extra=(${case#*:})
  for victim in $victims; do
    d="$work/$phase-$victim-${extra[1]}-${extra[3]}"; rm -rf "$d"
    out=$(STRATA_FAULT="$phase@$victim:3" $mpirun -n "$np" $flags "$exe" "${base[@]}" "${extra[@]}" --dir "$d" 2>&1)
    if [ $? -eq 0 ]; then echo "$out"; echo "FAIL [$case@$victim]: survived its SIGKILL"; fail=1; continue; fi
    echo "$out" | grep -q "fault injection: SIGKILL at $phase of version 3" || { echo "$out"; echo "FAIL [$case@$victim]: no kill seen"; fail=1; continue; }
    out=$($mpirun -n "$np" $flags "$exe" "${base[@]}" "${extra[@]}" --dir "$d" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] || ! echo "$out" | grep -q "^resumed from version 2 at step 20$" || [ "$(echo "$out" | tail -n 1)" != "$want" ]; then
      echo "$out"; echo "FAIL [$case@$victim]: expected resume from version 2 at step 20 and $want (rc $rc)"; fail=1; continue
    fi
    echo "ok [$case@$victim, np $np]: killed during version 3, resumed from 2, $want"
  done
done
exit $fail
