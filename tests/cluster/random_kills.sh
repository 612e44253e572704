#!/usr/bin/env bash
# Issue 9 (f): asynchronous + incremental checkpoints through every level (node-local L1, partner
# copies L2, the shared level L4 every 2nd version), a random rank SIGKILLed at a random step,
# sometimes with its node lost too (local directory wiped, a spare takes its place); the same
# command runs again until the job completes. Every completed run must end with the checksum of an
# uninterrupted run, and every restart must resume from a version that was committed before the
# kill (never from scratch once one was committed).
#   random_kills.sh HEAT2D WORKDIR [ROUNDS] [SEED]
set -u
export OMP_NUM_THREADS=1
exe=$1; work=$2; rounds=${3:-4}; seed=${4:-$(date +%s)}
source "$(dirname "$0")/common.sh"
fail_context="seed $seed" run_timeout=180 shared_glob=h2d_rk
RANDOM=$seed
steps=80
args=(--n 96 --steps $steps --every 5 --quiet --async on --snapshot incremental --step-delay-ms 5
      --local /strata/local/h2d_rk --shared /strata/shared/h2d_rk --redundancy partner --lock-lease 1)
require_cluster

mpiexec -n 3 --oversubscribe "$exe" --n 96 --steps $steps --every 5 --quiet --dir "$work/clean" > "$work/clean.out" 2>&1 ||
  { cat "$work/clean.out"; fail "uninterrupted run"; }
want=$(tail -n 1 "$work/clean.out")
echo "uninterrupted: $want (seed $seed)"

for ((round = 1; round <= rounds; ++round)); do
  wipe_all
  nodes=(node1 node2 node3); spare=node4
  kills=0 committed=0
  for ((attempt = 1; attempt <= 4; ++attempt)); do
    hosts="${nodes[0]}:1,${nodes[1]}:1,${nodes[2]}:1"
    out="$work/r$round.a$attempt.out"
    if ((attempt < 4)); then
      victim=$((RANDOM % 3)); at=$((5 + RANDOM % (steps - 10)))
      lose=$((RANDOM % 2))
      run "$hosts" "$out" --crash-at-step $at --crash-rank $victim
    else
      victim=-; at=-; lose=0
      run "$hosts" "$out"
    fi
    rc=$?
    # A run after a kill that left a committed version somewhere must resume, never start afresh.
    if ((attempt > 1)) && ((committed)) && ! grep -q "^resumed from version" "$out"; then
      cat "$out"; fail "round $round attempt $attempt ($hosts): did not resume although versions were committed"
    fi
    if [ $rc -eq 0 ]; then
      got=$(tail -n 1 "$out")
      [ "$got" = "$want" ] || { cat "$out"; fail "round $round attempt $attempt: checksum $got, want $want"; }
      echo "PASS: round $round: completed after $kills kill(s); $(grep -m1 -o '^resumed from version [0-9]* at step [0-9]*' "$out" || echo 'no resume')"
      break
    fi
    kills=$((kills + 1))
    if ((lose)); then
      lost=${nodes[$victim]}
      "$cluster" wipe "$lost" > /dev/null
      nodes[$victim]=$spare; spare=$lost
      echo "  round $round attempt $attempt: rank $victim killed at step $at, node $lost lost, ${nodes[$victim]} replaces it"
    else
      echo "  round $round attempt $attempt: rank $victim killed at step $at"
    fi
    if ((attempt == 4)); then cat "$out"; fail "round $round: the uninterrupted last attempt failed (rc $rc)"; fi
    # Commit records that survive (on the nodes of the next run, or the shared level).
    committed=0
    for n in "${nodes[@]}"; do
      on "$n" 'ls /strata/local/h2d_rk/*.manifest.json' > /dev/null 2>&1 && committed=1
    done
    ls /strata/shared/h2d_rk/*.manifest.json > /dev/null 2>&1 && committed=1
  done
done
wipe_all
echo "PASS: all $rounds rounds (seed $seed)"
