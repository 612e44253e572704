#!/usr/bin/env bash
# batch_fault.sh <batch_jobs> <case> <np> <workdir>
# Breaks a batch_jobs run on purpose, reruns the same command, and checks that the output holds
# exactly N lines with N distinct ids and the right values (batch_jobs --verify).
set -uo pipefail
exe=$1 case=$2 np=$3 work=$4
N=200
rm -rf "$work" && mkdir -p "$work"
args=(--items $N --out "$work/out.txt" --dir "$work/state" --priority weighted --select least
      --heartbeat 0.05 --check-period 0.1 --stale-after 0.6)
fail() { echo "FAIL ($case np=$np): $*"; for f in "$work"/run*.log; do echo "--- $f"; tail -25 "$f"; done; exit 1; }
run() {  # run <log> [extra args]: returns the exit status of mpiexec
  local log=$1; shift
  timeout 120 "$MPIEXEC" -n "$np" $MPIEXEC_FLAGS "$exe" "${args[@]}" "$@" >"$log" 2>&1
}
wal="$work/state/completions.wal"

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
  *) fail "unknown case" ;;
esac

"$exe" "${args[@]}" --verify >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "output check failed"; }
cat "$work/verify.log"
echo "fault.schedule.$case np=$np: OK"
