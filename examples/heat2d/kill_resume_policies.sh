#!/usr/bin/env bash
# heat2d with the snapshot/storage/trigger/async policies of issue 3: for each combination given
# ("snapshot:storage:trigger:async ..."), an uninterrupted run, a run whose last rank is SIGKILLed
# at step 35, and the same command again; the resumed run must print "resumed from version V at
# step S" and the same final checksum as the uninterrupted one.
set -u
exe=$1; np=$2; work=$3; shift 3
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
crash_rank=$(( np - 1 ))
fail=0
for combo in "$@"; do
  IFS=: read -r snap store trig async <<< "$combo"
  d="$work/$snap-$store-$trig-$async"; mkdir -p "$d"
  args=(--n 96 --steps 60 --every 10 --quiet --snapshot "$snap" --storage "$store" --trigger "$trig" --async "$async" --seconds 0.1 --mtbf 1 --step-delay-ms 15)
  $mpirun -n "$np" $flags "$exe" "${args[@]}" --dir "$d/clean" > "$d/clean.out" 2>&1 || { cat "$d/clean.out"; echo "FAIL [$combo]: uninterrupted run failed"; fail=1; continue; }
  want=$(tail -n 1 "$d/clean.out")
  [[ $want =~ ^checksum\ [0-9a-f]{16}$ ]] || { cat "$d/clean.out"; echo "FAIL [$combo]: last line is not a checksum"; fail=1; continue; }
  cmd=("$mpirun" -n "$np" $flags "$exe" "${args[@]}" --dir "$d/ckpt" --crash-at-step 35 --crash-rank "$crash_rank")
  # A time-based trigger with background writes on a loaded machine may not have committed any
  # version by step 35: such a kill tests nothing (the rerun would start afresh and die again), so
  # it is repeated, at most 3 times, until a version was committed before it.
  died=1
  for attempt in 1 2 3; do
    rm -rf "$d/ckpt"
    if "${cmd[@]}" > "$d/killed.out" 2>&1; then died=0; break; fi
    find "$d/ckpt" -name '*.manifest.json' 2>/dev/null | grep -q . && break
    echo "note [$combo]: no version committed before the kill (attempt $attempt); killing again"
  done
  [ $died -eq 1 ] || { cat "$d/killed.out"; echo "FAIL [$combo]: the run that should die succeeded"; fail=1; continue; }
  "${cmd[@]}" > "$d/resumed.out" 2>&1 || { cat "$d/resumed.out"; echo "FAIL [$combo]: resumed run failed"; fail=1; continue; }
  resumed=$(grep -E "^resumed from version [0-9]+ at step [0-9]+$" "$d/resumed.out")
  [ -n "$resumed" ] || { cat "$d/resumed.out"; echo "FAIL [$combo]: no resume line"; fail=1; continue; }
  got=$(tail -n 1 "$d/resumed.out")
  [ "$got" = "$want" ] || { echo "FAIL [$combo]: checksums differ ($want vs $got)"; fail=1; continue; }
  echo "ok [$combo, np $np]: $resumed, $got"
done
[ $fail -eq 0 ] && echo PASS
exit $fail
