#!/usr/bin/env bash
# SPEC R12, one job per checkpoint directory: while job 1 runs on D, job 2 started on the same D
# must exit promptly and non-zero with a message that says D is in use and names job 1's host and
# pid (rank 0 of job 1 holds D/.strata.lock); job 1 must finish undisturbed, with the checksum of
# an uninterrupted run, and release the lock.
#
#   two_jobs.sh HEAT2D [WORK_DIR]      (MPIEXEC, MPIEXEC_FLAGS: the launcher and its flags)
set -u
exe=$1
work=${2:-$(mktemp -d "${TMPDIR:-/tmp}/strata-two-jobs.XXXXXX")}
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # two 2-rank jobs at once: no spinning OpenMP teams on top
args=(--n 64 --steps 4000 --every 200 --step-delay-ms 1 --quiet)  # a small grid: the lock is under test, not the stencil (ASan builds run it too)
d=$work/d
job1= ref=
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.out; do [ -s "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done
  [ -n "$job1" ] && kill "$job1" 2>/dev/null
  [ -n "$ref" ] && kill "$ref" 2>/dev/null
  exit 1
}
# All processes started under PID $1 (mpiexec and the ranks it launched).
descendants() {
  local all=" $1 " grew=1
  while [ $grew -eq 1 ]; do
    grew=0
    while read -r pid ppid; do
      if [[ $all == *" $ppid "* && $all != *" $pid "* ]]; then all+="$pid "; grew=1; fi
    done < <(ps -eo pid=,ppid=)
  done
  echo "$all"
}

# The reference (the same run in a fresh directory, which no other job touches) and job 1 start
# together, in the background; wait for job 1's first committed version.
$mpirun -n 2 $flags "$exe" "${args[@]}" --dir "$work/clean" > "$work/clean.out" 2>&1 &
ref=$!
$mpirun -n 2 $flags "$exe" "${args[@]}" --dir "$d" > "$work/job1.out" 2>&1 &
job1=$!
for ((i = 0; i < 1200; ++i)); do
  compgen -G "$d/v*.manifest.json" > /dev/null && break
  kill -0 "$job1" 2>/dev/null || break
  sleep 0.1
done
compgen -G "$d/v*.manifest.json" > /dev/null || fail "job 1 committed no version within 120 s"
kill -0 "$job1" 2>/dev/null || fail "job 1 ended before job 2 could start (make it run longer)"
[ -f "$d/.strata.lock" ] || fail "job 1 runs but $d/.strata.lock does not exist (is the lock wired into the checkpointer?)"
lock=$(cat "$d/.strata.lock")
host=$(sed -n 's/^host=//p' <<< "$lock")
pid=$(sed -n 's/^pid=//p' <<< "$lock")
[ "$host" = "$(hostname)" ] || fail "the lock names host '$host', this is $(hostname)"
[[ " $(descendants "$job1") " == *" $pid "* ]] || fail "the lock names pid $pid, which is not one of job 1's processes"

# Job 2 on the same directory: refused at start, so it ends while job 1 still runs (or, on a
# machine fast enough for job 1 to end first, within 30 s).
t0=$(date +%s)
timeout 300 $mpirun -n 2 $flags "$exe" "${args[@]}" --dir "$d" > "$work/job2.out" 2>&1
rc2=$?
t=$(($(date +%s) - t0))
kill -0 "$job1" 2>/dev/null && job1_running=1 || job1_running=0
[ $rc2 -ne 124 ] || fail "job 2 was still running after 300 s (it should be refused at start)"
[ $rc2 -ne 0 ] || fail "job 2 exited 0 on a directory in use"
[ $job1_running -eq 1 ] || [ $t -le 30 ] || fail "job 2 took $t s to fail and job 1 ended first: not refused at start"
grep -q "in use" "$work/job2.out" || fail "job 2's message does not say the directory is in use"
grep -q "pid $pid\b" "$work/job2.out" || fail "job 2's message does not name the holder's pid $pid"
grep -q "host $host\b" "$work/job2.out" || fail "job 2's message does not name the holder's host $host"
grep -q "remove $d/.strata.lock" "$work/job2.out" || fail "job 2's message does not say which file to remove"
grep -q "^checksum" "$work/job2.out" && fail "job 2 ran to the end"
echo "ok: job 2 refused in ${t} s (exit status $rc2): $(grep -m 1 -o "checkpoint directory .* is in use[^;]*" "$work/job2.out")"
if kill -0 "$job1" 2>/dev/null; then
  [ "$(cat "$d/.strata.lock")" = "$lock" ] || fail "job 2 changed job 1's lock file"
fi

# Job 1 ends normally, with the reference checksum, and releases the lock.
wait "$job1"
rc1=$?
job1=
wait "$ref" || { ref=; fail "reference run failed"; }
ref=
want=$(tail -n 1 "$work/clean.out")
[[ $want == checksum* ]] || fail "reference run printed no checksum last"
[ $rc1 -eq 0 ] || fail "job 1 exited with status $rc1"
got=$(tail -n 1 "$work/job1.out")
[ "$got" = "$want" ] || fail "job 1 ended with '$got', the uninterrupted run with '$want'"
[ ! -e "$d/.strata.lock" ] || fail "job 1 ended but left $d/.strata.lock behind"
echo "ok: job 1 finished undisturbed: $got"

# And a third job may use the directory now (it resumes from job 1's last version).
$mpirun -n 2 $flags "$exe" "${args[@]}" --dir "$d" > "$work/job3.out" 2>&1 || fail "job 3, after job 1 ended, failed"
[ "$(tail -n 1 "$work/job3.out")" = "$want" ] || fail "job 3 did not end with $want"
echo PASS
