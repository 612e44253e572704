#!/usr/bin/env bash
# heat2d on the simulated cluster (scripts/cluster up 4): node-local checkpoints (L1), partner
# copies on another node (L2), the shared level (L4), loss of nodes, spares, another rank count.
# Every resumed run must print the checksum of an uninterrupted run.
#   heat2d_levels.sh HEAT2D WORKDIR
set -u
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exe=$1; work=$2
cluster=${STRATA_CLUSTER:-$(dirname "$0")/../../scripts/cluster}
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
args=(--n 96 --steps 60 --every 10 --quiet)
run() {  # run HOSTS OUT ARGS...
  local hosts=$1 out=$2; shift 2
  timeout 120 "$cluster" mpirun --hosts "$hosts" -- "$exe" "${args[@]}" "$@" > "$out" 2>&1
}
wipe_all() { for n in node1 node2 node3 node4; do "$cluster" wipe $n > /dev/null; done; rm -rf /strata/shared/h2d_*; }

"$cluster" status > /dev/null || fail "the simulated cluster is not up (scripts/cluster up 4)"
wipe_all
mpiexec -n 4 --oversubscribe "$exe" "${args[@]}" --dir "$work/clean" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; fail "uninterrupted run"; }
want=$(tail -n 1 "$work/clean.out")
mpiexec -n 3 --oversubscribe "$exe" "${args[@]}" --dir "$work/clean3" > "$work/clean3.out" 2>&1 || { cat "$work/clean3.out"; fail "uninterrupted run (3 ranks)"; }
want3=$(tail -n 1 "$work/clean3.out")
[ "$want" = "$want3" ] || fail "the checksum depends on the rank count ($want vs $want3)"
echo "uninterrupted: $want"

check_resume() {  # check_resume OUT VERSION_STEP_LINE WHAT
  grep -q "^resumed from version $2" "$1" || { cat "$1"; fail "$3: did not resume from version $2"; }
  local got; got=$(tail -n 1 "$1")
  [ "$got" = "$want" ] || { cat "$1"; fail "$3: checksum $got, want $want"; }
  echo "PASS: $3"
}

# (0) posix_dir on node-local storage is refused with a clear message (it needs a shared directory).
if run node1:1,node2:1 "$work/posix.out" --dir /strata/local/h2d_posix; then cat "$work/posix.out"; fail "posix_dir on node-local storage accepted"; fi
grep -q "is not the one rank 0 uses" "$work/posix.out" && grep -q "node2" "$work/posix.out" ||
  { cat "$work/posix.out"; fail "posix_dir on node-local storage: no clear message naming the host"; }
echo "PASS: posix_dir on node-local storage refused, naming host node2"

# (a) 2 nodes x 2 ranks, L1 + L4: a rank killed, restart on the same nodes: restored from L1 with
# the shared level moved away (so it cannot have been read), commit records found on every node.
wipe_all
run node1:2,node2:2 "$work/a_kill.out" --local /strata/local/h2d_a --shared /strata/shared/h2d_a --crash-at-step 35 --crash-rank 3 &&
  fail "(a) the run that should die succeeded"
mv /strata/shared/h2d_a /strata/shared/h2d_a.away
run node1:2,node2:2 "$work/a_resume.out" --local /strata/local/h2d_a --shared /strata/shared/h2d_a --crash-at-step 35 --crash-rank 3 ||
  { cat "$work/a_resume.out"; fail "(a) resumed run failed"; }
check_resume "$work/a_resume.out" "3 at step 30" "(a) rank 3 killed, restored from L1 on both nodes without the shared level"

# (b) 3 nodes x 1 rank, partner copies: node3 lost (disk wiped), node4 takes its place: rank 2
# rebuilt from its partner copy on node1, shared level absent.
wipe_all
run node1:1,node2:1,node3:1 "$work/b_kill.out" --local /strata/local/h2d_b --redundancy partner --crash-at-step 35 --crash-rank 2 &&
  fail "(b) the run that should die succeeded"
"$cluster" wipe node3 > /dev/null
run node1:1,node2:1,node4:1 "$work/b_resume.out" --local /strata/local/h2d_b --redundancy partner --crash-at-step 35 --crash-rank 2 ||
  { cat "$work/b_resume.out"; fail "(b) resumed run failed"; }
grep -q "r2=L2 partner on rank 0" "$work/b_resume.out" || { cat "$work/b_resume.out"; fail "(b) rank 2 not served by its partner copy"; }
check_resume "$work/b_resume.out" "3 at step 30" "(b) node3 lost, spare node4: rank 2 rebuilt from L2 on node1"

# (b') a damaged partner copy is never used: flip a byte of it and lose the node again: no
# node-local source is left, so the shared level (every 2nd version) serves version 2.
wipe_all
run node1:1,node2:1,node3:1 "$work/e_kill.out" --local /strata/local/h2d_e --shared /strata/shared/h2d_e --redundancy partner --crash-at-step 35 --crash-rank 2 &&
  fail "(e) the run that should die succeeded"
copy=$("$cluster" exec node1 -- sh -c 'ls /strata/local/h2d_e/v00000003/r00002.partner')
"$cluster" exec node1 -- python3 -c "
import sys; p='$copy'; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=0xff; open(p,'wb').write(b)"
"$cluster" wipe node3 > /dev/null
run node1:1,node2:1,node4:1 "$work/e_resume.out" --local /strata/local/h2d_e --shared /strata/shared/h2d_e --redundancy partner --crash-at-step 35 --crash-rank 2 ||
  { cat "$work/e_resume.out"; fail "(e) resumed run failed"; }
grep -q "version 3 cannot be rebuilt" "$work/e_resume.out" || { cat "$work/e_resume.out"; fail "(e) the damaged copy was not rejected"; }
check_resume "$work/e_resume.out" "2 at step 20" "(e) damaged partner copy of version 3 rejected, version 2 restored"

# (c) two nodes lost at once with partner copies: version 3 cannot be rebuilt from node-local
# copies; the newest shared version (2) is restored, with a warning.
wipe_all
run node1:1,node2:1,node3:1 "$work/c_kill.out" --local /strata/local/h2d_c --shared /strata/shared/h2d_c --redundancy partner --crash-at-step 35 --crash-rank 1 &&
  fail "(c) the run that should die succeeded"
"$cluster" wipe node2 > /dev/null; "$cluster" wipe node3 > /dev/null
run node1:1,node2:1,node3:1 "$work/c_resume.out" --local /strata/local/h2d_c --shared /strata/shared/h2d_c --redundancy partner --crash-at-step 35 --crash-rank 1 ||
  { cat "$work/c_resume.out"; fail "(c) resumed run failed"; }
grep -q "is not usable" "$work/c_resume.out" || { cat "$work/c_resume.out"; fail "(c) no warning about the lost version"; }
check_resume "$work/c_resume.out" "2 at step 20" "(c) two nodes lost: fell back to version 2 on the shared level"

# (d) killed on 3 nodes, restarted on 2 nodes with 2 ranks: N->M restore from the shared level.
wipe_all
# Rank 0 moves from node1 to node2: node2 cannot check node1's pid, so the killed job's directory
# lock is judged by its lease (renewed every third of it while the job lived): short here.
run node1:1,node2:1,node3:1 "$work/d_kill.out" --local /strata/local/h2d_d --shared /strata/shared/h2d_d --crash-at-step 35 --crash-rank 0 --lock-lease 1 &&
  fail "(d) the run that should die succeeded"
run node2:1,node4:1 "$work/d_resume.out" --local /strata/local/h2d_d --shared /strata/shared/h2d_d --crash-at-step 35 --crash-rank 0 --lock-lease 1 ||
  { cat "$work/d_resume.out"; fail "(d) resumed run failed"; }
check_resume "$work/d_resume.out" "2 at step 20" "(d) 3 ranks on 3 nodes -> 2 ranks on 2 other nodes, from the shared level"

# Bad input: partner copies with every rank on one node.
if run node1:2 "$work/one_node.out" --local /strata/local/h2d_f --redundancy partner; then cat "$work/one_node.out"; fail "partner copies on one node accepted"; fi
grep -q "partner copies need ranks on at least two nodes" "$work/one_node.out" || { cat "$work/one_node.out"; fail "no clear message for partner copies on one node"; }
echo "PASS: partner copies on one node refused"
wipe_all
echo "PASS: all"
