#!/usr/bin/env bash
# cholesky's resumable task flow (SPEC S9): an uninterrupted run, then seeded trials that each SIGKILL a
# random rank in a random task and run the flow again on the same directory. The resumed run must print
# the uninterrupted factor checksum, resume from a cut no older than the last one committed before the
# kill (so > 0 when one was), not past the killed task's segment, and run exactly total - cut tasks.
set -u
exe=$1; np=$2; work=$3; seed=${4:-13}; trials=${5:-3}
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
every=8
args=(--tiles 6 --tile-size 24 --runtime dynamic --workers 2 --placement heft)
rm -rf "$work"; mkdir -p "$work"
RANDOM=$seed
fail() { echo "FAIL: $*"; exit 1; }
field() { grep -o "$1" "$2" | tail -n 1 | awk '{print $NF}'; }

$mpirun -n "$np" $flags "$exe" "${args[@]}" > "$work/plain.out" 2>&1 || { cat "$work/plain.out"; fail "plain run failed"; }
want=$(field "^factor checksum [0-9a-f]*" "$work/plain.out")
total=$(grep -o "^tasks run [0-9]* of [0-9]*" "$work/plain.out" | awk '{print $5}')
[ -n "$want" ] && [ -n "$total" ] || { cat "$work/plain.out"; fail "no checksum or task count"; }

# Cut but never killed: the same factor, every task run once.
$mpirun -n "$np" $flags "$exe" "${args[@]}" --dir "$work/clean" --checkpoint-every $every > "$work/clean.out" 2>&1 ||
  { cat "$work/clean.out"; fail "uninterrupted resumable run failed"; }
grep -q "^tasks run $total of $total (0 restored)$" "$work/clean.out" || { cat "$work/clean.out"; fail "uninterrupted run: not every task once"; }
[ "$(field "^factor checksum [0-9a-f]*" "$work/clean.out")" = "$want" ] || { cat "$work/clean.out"; fail "cut run: other factor"; }

for trial in $(seq 1 "$trials"); do
  task=$(( every + RANDOM % (total - every) )); rank=$(( RANDOM % np ))
  dir="$work/trial$trial"
  if $mpirun -n "$np" $flags "$exe" "${args[@]}" --dir "$dir" --checkpoint-every $every --crash-at-task $task --crash-rank $rank \
      > "$dir.killed.out" 2>&1; then cat "$dir.killed.out"; fail "trial $trial: the run that should die succeeded"; fi
  line=$(grep -o "rank $rank killing itself with SIGKILL .*" "$dir.killed.out" | head -n 1)
  [ -n "$line" ] || { cat "$dir.killed.out"; fail "trial $trial: no kill"; }
  if [[ $line =~ in\ task\ ([0-9]+) ]]; then bound=$(( BASH_REMATCH[1] / every * every ))
  elif [[ $line =~ after\ cut\ ([0-9]+) ]]; then bound=${BASH_REMATCH[1]}
  else cat "$dir.killed.out"; fail "trial $trial: kill line not understood: $line"; fi
  committed=$(field "^checkpointed at task cut [0-9]*" "$dir.killed.out"); committed=${committed:-0}

  $mpirun -n "$np" $flags "$exe" "${args[@]}" --dir "$dir" --checkpoint-every $every > "$dir.resumed.out" 2>&1 ||
    { cat "$dir.resumed.out"; fail "trial $trial: resumed run failed"; }
  cut=$(field "^resumed from task cut [0-9]*" "$dir.resumed.out"); cut=${cut:-0}
  ran=$(grep -o "^tasks run [0-9]*" "$dir.resumed.out" | awk '{print $3}')
  got=$(field "^factor checksum [0-9a-f]*" "$dir.resumed.out")
  echo "trial $trial: killed rank $rank ($line), last commit seen $committed, resumed from cut $cut, ran $ran of $total"
  grep -q "^factor ok$" "$dir.resumed.out" || { cat "$dir.resumed.out"; fail "trial $trial: factor not ok"; }
  [ "$got" = "$want" ] || fail "trial $trial: checksum $got, uninterrupted $want"
  (( cut >= committed )) || fail "trial $trial: resumed from cut $cut, but cut $committed was committed before the kill"
  (( committed == 0 || cut > 0 )) || fail "trial $trial: a checkpoint was committed but the run restarted from 0"
  (( cut <= bound )) || fail "trial $trial: resumed from cut $cut, past the killed task's segment (<= $bound)"
  (( ran == total - cut )) || fail "trial $trial: ran $ran tasks, expected $total - $cut (finished work redone or lost)"
done
echo "PASS"
