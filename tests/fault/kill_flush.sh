#!/usr/bin/env bash
# Issue 9, item 2: the copy of every 2nd version to the slow level (storage::multilevel, heat2d
# --storage multilevel: DIR/fast every version, DIR every 2nd) runs in the background. SIGKILL a
# rank while the copy of version 4 is under way: the slow level must hold version 2 committed and
# nothing of version 4 committed. With the fast level intact the restart resumes from the newest
# version committed there; with the fast level lost, from version 2 on the slow level alone. Both
# end with the checksum of an uninterrupted run.
#   kill_flush.sh HEAT2D NP WORKDIR
set -u
exe=$1; np=$2; work=$3
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
base=(--n 64 --steps 60 --every 10 --quiet --step-delay-ms 10 --storage multilevel)
$mpirun -n "$np" $flags "$exe" "${base[@]}" --dir "$work/clean" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; fail "clean run"; }
want=$(tail -n 1 "$work/clean.out")
# The uninterrupted run's destructor committed its last flush: version 6 is on the slow level.
[ -f "$work/clean/v00000006.manifest.json" ] || { ls -R "$work/clean"; fail "the last flush (version 6) was not committed on the slow level"; }
newest() { ls "$1" | sed -n 's/^v0*\([0-9][0-9]*\)\.manifest\.json$/\1/p' | sort -n | tail -n 1; }
resume() {  # resume DIR VERSION WHAT
  local out rc
  out=$($mpirun -n "$np" $flags "$exe" "${base[@]}" --dir "$1" 2>&1); rc=$?
  if [ $rc -ne 0 ] || ! echo "$out" | grep -q "^resumed from version $2 at step $(($2 * 10))$" || [ "$(echo "$out" | tail -n 1)" != "$want" ]; then
    echo "$out"; fail "$3: expected resume from version $2 and $want (rc $rc)"
  fi
  echo "ok [np $np]: $3: resumed from version $2, $want"
}
victims="0"; [ "$np" -gt 1 ] && victims="0 $((np - 1))"
for victim in $victims; do
  d="$work/kill$victim"
  out=$(STRATA_FAULT="flushing@$victim:4" $mpirun -n "$np" $flags "$exe" "${base[@]}" --dir "$d" 2>&1)
  [ $? -ne 0 ] || { echo "$out"; fail "rank $victim survived its SIGKILL"; }
  echo "$out" | grep -q "fault injection: SIGKILL at flushing of version 4$" || { echo "$out"; fail "no kill at the flush of version 4"; }
  # The slow level: version 2 committed (settled before version 4 was written), version 4 not.
  [ "$(newest "$d")" = 2 ] || { ls -R "$d"; fail "rank $victim killed in the flush of version 4: the slow level's newest record is '$(newest "$d")', want 2"; }
  fastv=$(newest "$d/fast")
  [ -n "$fastv" ] && [ "$fastv" -ge 3 ] || { ls -R "$d"; fail "the fast level's newest record is '$fastv'"; }
  cp -a "$d" "$d.lost"; rm -rf "$d.lost/fast"
  resume "$d" "$fastv" "rank $victim killed mid-flush, fast level intact"
  resume "$d.lost" 2 "rank $victim killed mid-flush, fast level lost: the slow level alone"
done
