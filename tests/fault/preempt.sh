#!/usr/bin/env bash
# SPEC O1, pre-emption: heat2d with periodic checkpoints off (--every 0) gets a pre-emption signal
# mid-run. It must checkpoint at the next step on every rank and stop: exit status 0 and a line
# saying so, one committed version at the step it stopped; the same command run again must resume
# from that version and end with the checksum of an uninterrupted run. The signal goes
#   term_ranks   SIGTERM to every rank (what Slurm does at pre-emption, walltime or scancel)
#   usr1_rank    SIGUSR1 to one rank only (the last): its flag reaches the others through the agreement
#   usr1_mpiexec SIGUSR1 to mpiexec, which forwards it to the ranks; with --preemption exit strata
#                itself ends the processes with status 0
#   term_mpiexec SIGTERM to mpiexec: Open MPI's mpiexec (4.1) does not forward SIGTERM, it ends the
#                job: SIGCONT to the ranks at once, SIGTERM odls_base_sigkill_timeout seconds later
#                (default 1; 2 here), SIGKILL as long again after that, and it exits non-zero itself
#                whatever the ranks do; the checkpoint must be committed all the same
#
#   preempt.sh HEAT2D NP WORK_DIR      (MPIEXEC, MPIEXEC_FLAGS: the launcher and its flags)
set -u
exe=$1; np=$2; work=$3
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
args=(-n "$np" $flags "$exe" --n 64 --steps 300 --every 0)
delay=15  # ms of sleep per step (changes the run time, not the result)
job=
fail() {
  echo "FAIL [$case]: $*"
  for f in "$work"/*.out; do [ -s "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
  [ -n "$job" ] && kill -KILL "$job" 2>/dev/null
  exit 1
}
# The PID of rank $2 of the job whose mpiexec is PID $1 (Open MPI starts local ranks as its children).
rank_pid() {
  local p
  for p in $(pgrep -P "$1"); do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
  done
}

case=reference
$mpirun "${args[@]}" --quiet --dir "$work/clean" > "$work/clean.out" 2>&1 || fail "uninterrupted run failed"
want=$(tail -n 1 "$work/clean.out")
[[ $want =~ ^checksum\ [0-9a-f]{16}$ ]] || fail "the uninterrupted run's last line is not a checksum"

# run CASE SIGNAL TARGET [heat2d options...]: start heat2d, signal it once it has computed some steps.
run() {
  case=$1; local sig=$2 target=$3; shift 3
  local d=$work/$case out=$work/$case.out
  $mpirun "${args[@]}" --step-delay-ms "$delay" --dir "$d" "$@" > "$out" 2>&1 &
  job=$!
  for ((i = 0; i < 600; ++i)); do  # its first progress line comes after 2 s of steps
    grep -q "^progress: step" "$out" && break
    kill -0 "$job" 2>/dev/null || fail "heat2d ended before it was signalled"
    sleep 0.1
  done
  grep -q "^progress: step" "$out" || fail "no progress line within 60 s"
  local pids=() r
  case $target in
    mpiexec) pids=("$job") ;;
    ranks) for ((r = 0; r < np; ++r)); do pids+=("$(rank_pid "$job" "$r")"); done ;;
    last_rank) pids=("$(rank_pid "$job" $((np - 1)))") ;;
  esac
  [[ " ${pids[*]} " != *"  "* && -n ${pids[0]} ]] || fail "cannot find the PIDs of the ranks (children of $job)"
  kill -"$sig" "${pids[@]}"
  wait "$job"
  rc=$?
  job=
  grep -q "^checksum" "$out" && fail "heat2d ran to the end: the signal did not stop it"
}

# check CASE SIGNAL RANK: one version committed, at the step the log names; the rerun resumes there.
check() {
  local sig=$2 rank=$3 d=$work/$1 out=$work/$1.out
  local line
  line=$(grep -o "pre-emption signal $sig received on rank $rank; checkpointing version [0-9]* at step [0-9]* and [a-z ]*[0-9]*" "$out")
  local v s
  if [ -n "$line" ]; then
    v=$(sed 's/.*checkpointing version \([0-9]*\) at step.*/\1/' <<< "$line")
    s=$(sed 's/.* at step \([0-9]*\) and.*/\1/' <<< "$line")
  fi
  local manifests=("$d"/v*.manifest.json)
  [ ${#manifests[@]} -eq 1 ] && [ -f "${manifests[0]}" ] || fail "expected exactly one committed version, found: ${manifests[*]}"
  local saved
  saved=$(grep -o '"step": *[0-9]*' "${manifests[0]}" | grep -o '[0-9]*$')
  if [ -n "$line" ]; then
    [ "${manifests[0]}" = "$d/$(printf 'v%08d' "$v").manifest.json" ] || fail "the log names version $v, committed is ${manifests[0]}"
    [ "$saved" = "$s" ] || fail "version $v was saved at step $saved, the log says step $s"
  else
    v=1; s=$saved  # term_mpiexec: mpiexec may drop the ranks' last lines while it ends the job
  fi
  [ "$s" -gt 0 ] && [ "$s" -lt 300 ] || fail "stopped at step $s"
  $mpirun "${args[@]}" --quiet --dir "$d" > "$work/$1.rerun.out" 2>&1 || fail "the rerun failed"
  grep -q "^resumed from version $v at step $s$" "$work/$1.rerun.out" || fail "the rerun did not resume from version $v at step $s"
  [ "$(tail -n 1 "$work/$1.rerun.out")" = "$want" ] || fail "the rerun ended with '$(tail -n 1 "$work/$1.rerun.out")', the uninterrupted run with '$want'"
  echo "ok [$1, np $np]: $sig, stopped at step $s with version $v (exit status $rc); resumed, $want"
}

run term_ranks TERM ranks
[ $rc -eq 0 ] || fail "exit status $rc"
grep -q "^heat2d: stopped for pre-emption (SIGTERM on rank [0-9]*) at step [0-9]*, checkpoint version 1;" "$work/$case.out" ||
  fail "no line saying heat2d stopped for pre-emption"
check term_ranks SIGTERM '[0-9]*'

if [ "$np" -gt 1 ]; then
  run usr1_rank USR1 last_rank
  [ $rc -eq 0 ] || fail "exit status $rc"
  grep -q "^heat2d: stopped for pre-emption (SIGUSR1 on rank $((np - 1))) at step" "$work/$case.out" ||
    fail "no line saying heat2d stopped for pre-emption by rank $((np - 1))'s SIGUSR1"
  check usr1_rank SIGUSR1 $((np - 1))
fi

run usr1_mpiexec USR1 mpiexec --preemption exit
[ $rc -eq 0 ] || fail "exit status $rc"
grep -q "checkpointing version 1 at step [0-9]* and exiting with status 0$" "$work/$case.out" ||
  fail "strata did not say it exits with status 0"
grep -q "^heat2d: stopped" "$work/$case.out" && fail "heat2d went on after strata should have ended it"
check usr1_mpiexec SIGUSR1 '[0-9]*'

export OMPI_MCA_odls_base_sigkill_timeout=2
delay=40  # the ranks' SIGTERM comes 2 s after mpiexec's: still mid-run
run term_mpiexec TERM mpiexec
unset OMPI_MCA_odls_base_sigkill_timeout
check term_mpiexec SIGTERM '[0-9]*'
echo PASS
