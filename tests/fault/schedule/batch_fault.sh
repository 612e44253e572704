#!/usr/bin/env bash
# batch_fault.sh <batch_jobs> <case> <np> <workdir>
# Breaks a batch_jobs run on purpose, reruns the same command, and checks that the output holds
# exactly N lines with N distinct ids and the right values (batch_jobs --verify).
set -uo pipefail
exe=$1 case=$2 np=$3 work=$4
N=200 stale=0.6 select=least
# stop_resume: stopped for a while but never declared dead, and round robin keeps giving it work
[ "$case" = stop_resume ] && N=100 stale=30 select=rr
rm -rf "$work" && mkdir -p "$work"
args=(--items $N --out "$work/out.txt" --dir "$work/state" --priority weighted --select $select
      --heartbeat 0.05 --check-period 0.1 --stale-after $stale --pid-dir "$work/pids")
fail() { echo "FAIL ($case np=$np): $*"; for f in "$work"/run*.log; do echo "--- $f"; tail -25 "$f"; done; exit 1; }
start_job() {  # start_job <log> [extra args]: mpiexec in the background; $job is its pid (the timeout's)
  local log=$1; shift
  timeout -k 5 120 "$MPIEXEC" -n "$np" $MPIEXEC_FLAGS "$exe" "${args[@]}" "$@" >"$log" 2>&1 &
  job=$!
}
run() {  # run <log> [extra args]: returns the exit status of mpiexec
  start_job "$@"
  wait $job
}
wal="$work/state/completions.wal"
host=$(hostname)
wait_lines() {  # wait_lines <n> <job>: until the output has n lines (at most 30 s, while the job runs)
  for _ in $(seq 300); do
    [ "$(cat "$work/out.txt" 2>/dev/null | wc -l)" -ge "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || fail "the job ended before the output reached $1 lines"
    sleep 0.1
  done
  fail "the output never reached $1 lines"
}
pid_of() { cat "$work/pids/rank$1.pid"; }
kill_leftovers() {  # a stopped rank the job left behind
  for f in "$work"/pids/*.pid; do kill -0 "$(cat "$f")" 2>/dev/null && kill -KILL "$(cat "$f")"; done; true
}
check_apply_order() {  # every worker applied its requests as 1, 2, 3, ...; every item applied exactly once
  for f in "$work"/applied/rank*; do
    awk '$1 != NR { print FILENAME ": line " NR " applies sequence " $1; bad = 1 } END { exit bad }' "$f" ||
      fail "requests applied out of sequence order"
  done
  applied=$(cat "$work"/applied/rank* | wc -l)
  distinct=$(cat "$work"/applied/rank* | awk '{ print $2 }' | sort -u | wc -l)
  [ "$applied" -eq $N ] && [ "$distinct" -eq $N ] || fail "$applied items applied, $distinct distinct (expected $N)"
}
ranks_gone() {  # every rank of the job has exited (a zombie counts)
  local f st
  for f in "$work"/pids/*.pid; do
    st=$(awk '{ print $3 }' "/proc/$(cat "$f")/stat" 2>/dev/null)
    [ -z "$st" ] || [ "$st" = Z ] || return 1
  done
}
await_end() {  # await_end: waits at most 30 s for $job to end; sets $rc (124: it did not end).
  # Every rank gone and mpiexec still there 5 s later is Open MPI 4.1's launcher deadlocked in its own
  # PMIx_server_finalize (seen under load; it also crashes there at times), not the job: it is stopped,
  # noted, and rc is "hung".
  local gone=0
  for _ in $(seq 300); do
    if ! kill -0 $job 2>/dev/null; then wait $job; rc=$?; return; fi
    if ranks_gone; then gone=$((gone + 1)); else gone=0; fi
    if [ $gone -ge 50 ]; then
      echo "note ($case np=$np): every rank exited, but mpiexec hangs in its own teardown; stopping it"
      kill -TERM $job; wait $job; rc=hung; return
    fi
    sleep 0.1
  done
  rc=124
}
ended_by_lost_worker() {  # ended_by_lost_worker <log> <pattern>: the job ended with code 3, naming rank and host
  [ "$rc" != 124 ] || fail "the job did not end within 30 s"
  grep -q "ending the job: .*$2" "$1" || fail "no message naming the lost worker ($2)"
  [ "$rc" = 3 ] && return
  # mpiexec reported rank 0's exit code 3, then hung or crashed in its own teardown (see await_end)
  grep -q "Exit code: *3$" "$1" && { [ "$rc" = hung ] || grep -q "PMIx_server_finalize" "$1"; } ||
    fail "exit status $rc, expected 3 (a lost worker ended the job)"
  echo "note ($case np=$np): the job ended with code 3; mpiexec then failed in its teardown (status $rc)"
}

case $case in
  crash_rank0)
    extra=(--crash-at-item 70 --crash-rank 0 --checkpoint-every 32)
    run "$work/run1.log" "${extra[@]}" && fail "first run should have been killed"
    grep -q "fault injection: SIGKILL on rank 0" "$work/run1.log" || fail "no crash in run 1"
    lines=$(wc -l <"$work/out.txt")
    [ "$lines" -lt $N ] || fail "run 1 finished anyway ($lines lines)"
    run "$work/run2.log" "${extra[@]}" || fail "rerun failed"
    grep -q "replayed [1-9][0-9]* outcome(s) from the write-ahead log" "$work/run2.log" || fail "nothing replayed"
    grep -q "restored the queue from checkpoint" "$work/run2.log" || fail "no queue checkpoint restored"
    ;;
  crash_worker)
    extra=(--crash-at-item 15 --crash-rank 2 --checkpoint-every 32)
    run "$work/run1.log" "${extra[@]}" && fail "first run should have been killed"
    grep -q "fault injection: SIGKILL on worker rank 2" "$work/run1.log" || fail "no crash in run 1"
    run "$work/run2.log" "${extra[@]}" || fail "rerun failed"
    grep -q "resuming" "$work/run2.log" || fail "rerun did not resume"
    ;;
  torn_wal|bitflip_wal)
    # a long log: no queue checkpoint before the crash
    extra=(--crash-at-item 90 --crash-rank 0 --checkpoint-every 100000)
    run "$work/run1.log" "${extra[@]}" && fail "first run should have been killed"
    [ -s "$wal" ] || fail "no write-ahead log"
    size=$(stat -c %s "$wal")
    if [ "$case" = torn_wal ]; then
      truncate -s $((size - 7)) "$wal"   # a record cut in the middle, as a crash during write leaves it
      expect="incomplete record"
    else
      # flip one bit in the data of a record in the middle of the log
      python3 - "$wal" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
off = 32 + (len(b) - 32) // 2
b[off] ^= 0x04
open(p, 'wb').write(b)
PY
      expect="truncated"
    fi
    run "$work/run2.log" "${extra[@]}" || fail "rerun failed"
    grep -q "wal .*$expect" "$work/run2.log" || fail "no log line about the damaged log ($expect)"
    ;;
  hang_worker)
    # items wait a little (simulated I/O) so the healthy workers are still busy when rank 1 answers late
    run "$work/run1.log" --hang-at-item 5 --hang-rank 1 --hang-seconds 1.0 --item-sleep-ms $((10 * (np - 1))) ||
      fail "run failed"
    grep -q "rank 1 declared dead" "$work/run1.log" || fail "hung worker not declared dead"
    grep -q "which was declared dead; the task was taken back and reassigned" "$work/run1.log" ||
      fail "late answer not reported"
    grep -q "rank 1 is answering again" "$work/run1.log" || fail "revival not reported"
    ;;
  stop_resume)
    # rank 1 is stopped for 2.5 s, not long enough to be declared dead: what rank 0 issues to it meanwhile
    # is held, then resent in order; every worker applies its requests in sequence order, each item once
    start_job "$work/run1.log" --max-in-flight 4 --feed-per-sec 25 --apply-log "$work/applied"
    wait_lines 15 $job
    kill -STOP "$(pid_of 1)"
    sleep 2.5
    kill -CONT "$(pid_of 1)"
    wait $job || fail "run failed"
    grep -q "rank 1 (host $host) missed a health check" "$work/run1.log" || fail "stopped worker not suspected"
    grep -q "rank 1 (host $host) answers again; [1-9][0-9]* request(s) held for it resent in order" "$work/run1.log" ||
      fail "nothing was held for the stopped worker and resent"
    check_apply_order
    ;;
  stuck_task)
    # one item sleeps forever on a worker that keeps heartbeating: its attempt times out and runs elsewhere;
    # the stuck worker never confirms shutdown (with np 2 it is the only worker) and the job ends
    stuck=$((np == 2 ? 1 : 2))
    extra=(--stall-at-item 3 --stall-rank $stuck --task-timeout 1.5 --grace 2)
    start_job "$work/run1.log" "${extra[@]}"
    await_end
    ended_by_lost_worker "$work/run1.log" "rank $stuck (host $host: stuck in a task for"
    grep -q "attempt 1 on rank $stuck (host $host) not answered within task_timeout" "$work/run1.log" ||
      fail "stuck attempt not timed out"
    kill_leftovers
    run "$work/run2.log" "${extra[@]}" || fail "rerun failed"
    grep -q "resuming" "$work/run2.log" || fail "rerun did not resume"
    ;;
  stop_forever)
    # rank 1 is stopped and never resumed: the job must still end, keeping what the log holds
    start_job "$work/run1.log" --grace 1.5 --item-sleep-ms $((10 * (np - 1)))
    wait_lines 20 $job
    kill -STOP "$(pid_of 1)"
    await_end
    ended_by_lost_worker "$work/run1.log" "rank 1 (host $host: silent for [0-9.]* s, declared dead)"
    kill_leftovers
    lines=$(wc -l <"$work/out.txt")
    distinct=$(awk '{ print $2 }' "$work/out.txt" | sort -u | wc -l)
    [ "$lines" -ge 20 ] && [ "$lines" -eq "$distinct" ] || fail "output after the end: $lines lines, $distinct ids"
    run "$work/run2.log" || fail "rerun failed"
    grep -q "replayed [1-9][0-9]* outcome(s) from the write-ahead log\|restored the queue from checkpoint" \
      "$work/run2.log" || fail "rerun found nothing durable"
    ;;
  *) fail "unknown case" ;;
esac

"$exe" "${args[@]}" --verify >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "output check failed"; }
cat "$work/verify.log"
echo "fault.schedule.$case np=$np: OK"
