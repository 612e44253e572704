#!/usr/bin/env bash
# heat2d on the simulated cluster (scripts/cluster up 4): node-local checkpoints (L1), partner
# copies on another node (L2), XOR and Reed-Solomon parity across groups of nodes (L3), the shared
# level (L4), loss of nodes, spares, damaged copies, another rank count.
# Every resumed run must print the checksum of an uninterrupted run.
#   heat2d_levels.sh HEAT2D WORKDIR
set -u
exe=$1; work=$2
source "$(dirname "$0")/common.sh"
args=(--n 96 --steps 60 --every 10 --quiet)
shared_glob='h2d_*'

require_cluster
wipe_all
mpiexec -n 4 --oversubscribe "$exe" "${args[@]}" --dir "$work/clean" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; fail "uninterrupted run"; }
want=$(tail -n 1 "$work/clean.out")
mpiexec -n 3 --oversubscribe "$exe" "${args[@]}" --dir "$work/clean3" > "$work/clean3.out" 2>&1 || { cat "$work/clean3.out"; fail "uninterrupted run (3 ranks)"; }
want3=$(tail -n 1 "$work/clean3.out")
[ "$want" = "$want3" ] || fail "the checksum depends on the rank count ($want vs $want3)"
echo "uninterrupted: $want"

# The shared level is written in the background: a version's copy there may be complete before the
# job dies although its commit record there comes only at the next checkpoint; restore may use it
# (each shard checked against the record the nodes keep). shared_newest DIR RANKS: the newest of
# versions 4 and 2 (the flushed ones before a kill at step 45) whose shards are all in DIR.
shared_newest() {
  local v r
  for v in 4 2; do
    for ((r = 0; r < $2; ++r)); do [ -f "$1/v0000000$v/r0000$r.shard" ] || continue 2; done
    echo "$v at step $((v * 10))"; return
  done
  echo "none"
}

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
copy=$(on node1 'ls /strata/local/h2d_e/v00000003/r00002.partner')
"$cluster" exec node1 -- python3 -c "
import sys; p='$copy'; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=0xff; open(p,'wb').write(b)"
"$cluster" wipe node3 > /dev/null
run node1:1,node2:1,node4:1 "$work/e_resume.out" --local /strata/local/h2d_e --shared /strata/shared/h2d_e --redundancy partner --crash-at-step 35 --crash-rank 2 ||
  { cat "$work/e_resume.out"; fail "(e) resumed run failed"; }
grep -q "version 3 cannot be rebuilt" "$work/e_resume.out" || { cat "$work/e_resume.out"; fail "(e) the damaged copy was not rejected"; }
check_resume "$work/e_resume.out" "2 at step 20" "(e) damaged partner copy of version 3 rejected, version 2 restored"

# (c) two nodes lost at once with partner copies: versions 2-4 cannot be rebuilt from node-local
# copies; the newest version the shared level holds whole is restored, with a warning: 4 if its
# background copy was complete before the kill, else 2 (settled before version 4 was written).
wipe_all
run node1:1,node2:1,node3:1 "$work/c_kill.out" --local /strata/local/h2d_c --shared /strata/shared/h2d_c --redundancy partner --crash-at-step 45 --crash-rank 1 &&
  fail "(c) the run that should die succeeded"
"$cluster" wipe node2 > /dev/null; "$cluster" wipe node3 > /dev/null
want_c=$(shared_newest /strata/shared/h2d_c 3)
run node1:1,node2:1,node3:1 "$work/c_resume.out" --local /strata/local/h2d_c --shared /strata/shared/h2d_c --redundancy partner --crash-at-step 45 --crash-rank 1 ||
  { cat "$work/c_resume.out"; fail "(c) resumed run failed"; }
grep -q "warning: version 3 cannot be rebuilt on every rank from node-local copies" "$work/c_resume.out" ||
  { cat "$work/c_resume.out"; fail "(c) no warning about the version lost from node-local copies"; }
check_resume "$work/c_resume.out" "$want_c" "(c) two nodes lost: fell back to the shared level (version $want_c)"

# (d) killed on 3 nodes, restarted on 2 nodes with 2 ranks: N->M restore from the shared level
# (its newest whole version, see (c)).
wipe_all
# Rank 0 moves from node1 to node2: node2 cannot check node1's pid, so the killed job's directory
# lock is judged by its lease (renewed every third of it while the job lived): short here.
run node1:1,node2:1,node3:1 "$work/d_kill.out" --local /strata/local/h2d_d --shared /strata/shared/h2d_d --crash-at-step 45 --crash-rank 0 --lock-lease 1 &&
  fail "(d) the run that should die succeeded"
want_d=$(shared_newest /strata/shared/h2d_d 3)
run node2:1,node4:1 "$work/d_resume.out" --local /strata/local/h2d_d --shared /strata/shared/h2d_d --crash-at-step 45 --crash-rank 0 --lock-lease 1 ||
  { cat "$work/d_resume.out"; fail "(d) resumed run failed"; }
check_resume "$work/d_resume.out" "$want_d" "(d) 3 ranks on 3 nodes -> 2 ranks on 2 other nodes, from the shared level (version $want_d)"

# Bad input: partner copies with every rank on one node.
if run node1:2 "$work/one_node.out" --local /strata/local/h2d_f --redundancy partner; then cat "$work/one_node.out"; fail "partner copies on one node accepted"; fi
grep -q "partner copies need ranks on at least two nodes" "$work/one_node.out" || { cat "$work/one_node.out"; fail "no clear message for partner copies on one node"; }
echo "PASS: partner copies on one node refused"
# Erasure groups (L3). The ranks, ordered by (index on their node, node), are cut into groups on
# distinct nodes; a group's parity is spread over its members (storage/node_local.hpp).
# flip_parity NODE DIR RANK CHUNK: flip a byte inside parity chunk CHUNK of RANK's parity file of
# version 3 on NODE (header: 64-bit words; word 5 = g, 6 = m, 8 = chunk size; 11 + 3g + 2m words).
flip_parity() {
  "$cluster" exec "$1" -- python3 -c "
import struct; p='$2/v00000003/r0000$3.parity'; b=bytearray(open(p,'rb').read())
g, m, c = (struct.unpack_from('<Q', b, 8 * i)[0] for i in (5, 6, 8))
b[8 * (11 + 3 * g + 2 * m) + $4 * c + c // 2] ^= 0xff; open(p,'wb').write(b)"
}

# (b3) 3 nodes x 2 ranks, XOR groups {0,2,4} and {1,3,5}: node3 lost (ranks 4 and 5, one in each
# group), node4 takes its place: both rebuilt from their groups' parity, shared level moved away.
wipe_all
run node1:2,node2:2,node3:2 "$work/b3_kill.out" --local /strata/local/h2d_b3 --shared /strata/shared/h2d_b3 --redundancy xor --crash-at-step 35 --crash-rank 5 &&
  fail "(b3) the run that should die succeeded"
"$cluster" wipe node3 > /dev/null
mv /strata/shared/h2d_b3 /strata/shared/h2d_b3.away
run node1:2,node2:2,node4:2 "$work/b3_resume.out" --local /strata/local/h2d_b3 --shared /strata/shared/h2d_b3 --redundancy xor --crash-at-step 35 --crash-rank 5 ||
  { cat "$work/b3_resume.out"; fail "(b3) resumed run failed"; }
grep -q "r4=L3 xor group 0 r5=L3 xor group 1" "$work/b3_resume.out" || { cat "$work/b3_resume.out"; fail "(b3) ranks 4 and 5 not rebuilt from L3"; }
check_resume "$work/b3_resume.out" "3 at step 30" "(b3) node3 lost, spare node4: ranks 4 and 5 rebuilt from L3 XOR parity, without the shared level"

# (c3) two nodes of one XOR group lost: its parity cannot rebuild them; the shared level's
# newest whole version is restored, with a warning (see (c)).
wipe_all
run node1:1,node2:1,node3:1 "$work/c3_kill.out" --local /strata/local/h2d_c3 --shared /strata/shared/h2d_c3 --redundancy xor --crash-at-step 45 --crash-rank 1 &&
  fail "(c3) the run that should die succeeded"
"$cluster" wipe node2 > /dev/null; "$cluster" wipe node3 > /dev/null
want_c3=$(shared_newest /strata/shared/h2d_c3 3)
run node1:1,node2:1,node3:1 "$work/c3_resume.out" --local /strata/local/h2d_c3 --shared /strata/shared/h2d_c3 --redundancy xor --crash-at-step 45 --crash-rank 1 ||
  { cat "$work/c3_resume.out"; fail "(c3) resumed run failed"; }
grep -q "version 3: xor group 0 lost 2 of its 3 members (ranks 1, 2), more than the 1" "$work/c3_resume.out" &&
  grep -q "warning: version 3 cannot be rebuilt on every rank from node-local copies" "$work/c3_resume.out" || { cat "$work/c3_resume.out"; fail "(c3) no warning about the group beyond repair"; }
check_resume "$work/c3_resume.out" "$want_c3" "(c3) two nodes of an XOR group lost: fell back to the shared level (version $want_c3)"

# (c-rs) Reed-Solomon, 4 nodes, parity 2: two nodes lost, both ranks rebuilt from L3 (no shared level).
wipe_all
run node1:1,node2:1,node3:1,node4:1 "$work/crs_kill.out" --local /strata/local/h2d_crs --redundancy rs --parity 2 --crash-at-step 35 --crash-rank 1 &&
  fail "(c-rs) the run that should die succeeded"
"$cluster" wipe node2 > /dev/null; "$cluster" wipe node3 > /dev/null
run node1:1,node2:1,node3:1,node4:1 "$work/crs_resume.out" --local /strata/local/h2d_crs --redundancy rs --parity 2 --crash-at-step 35 --crash-rank 1 ||
  { cat "$work/crs_resume.out"; fail "(c-rs) resumed run failed"; }
grep -q "r0=L1 r1=L3 rs group 0 r2=L3 rs group 0 r3=L1" "$work/crs_resume.out" || { cat "$work/crs_resume.out"; fail "(c-rs) ranks 1 and 2 not rebuilt from L3"; }
check_resume "$work/crs_resume.out" "3 at step 30" "(c-rs) Reed-Solomon parity 2: two nodes lost, both ranks rebuilt from L3"

# (e3) a damaged parity chunk is never used. Rank 2 (member 2 of 4, k = 2) needs stripes 0 and 3;
# stripe 3 would take rank 1's data chunk and parity 0, which rank 3 holds (its chunk 0): flipped
# here, so parity 1 (rank 0's chunk 1) must serve instead. Without a shared level, using the
# damaged chunk (or giving up) could not resume from version 3.
wipe_all
run node1:1,node2:1,node3:1,node4:1 "$work/e3_kill.out" --local /strata/local/h2d_e3 --redundancy rs --crash-at-step 35 --crash-rank 2 &&
  fail "(e3) the run that should die succeeded"
flip_parity node4 /strata/local/h2d_e3 3 0
"$cluster" wipe node3 > /dev/null
run node1:1,node2:1,node3:1,node4:1 "$work/e3_resume.out" --local /strata/local/h2d_e3 --redundancy rs --crash-at-step 35 --crash-rank 2 ||
  { cat "$work/e3_resume.out"; fail "(e3) resumed run failed"; }
grep -q "version 3: damaged parity (L3), not used: node4:/strata/local/h2d_e3/v00000003/r00003.parity: parity chunk 0 (stripe 3) fails its checksum" "$work/e3_resume.out" ||
  { cat "$work/e3_resume.out"; fail "(e3) the damaged parity chunk was not reported"; }
grep -q "r2=L3 rs group 0" "$work/e3_resume.out" || { cat "$work/e3_resume.out"; fail "(e3) rank 2 not rebuilt from L3"; }
check_resume "$work/e3_resume.out" "3 at step 30" "(e3) damaged parity chunk on node4 rejected, rank 2 rebuilt from the other parity"

# (e3x) with XOR there is no other source: a damaged parity chunk of the stripe rank 2 needs makes
# version 3 unusable; version 2 is restored.
wipe_all
run node1:1,node2:1,node3:1 "$work/e3x_kill.out" --local /strata/local/h2d_e3x --shared /strata/shared/h2d_e3x --redundancy xor --crash-at-step 35 --crash-rank 2 &&
  fail "(e3x) the run that should die succeeded"
flip_parity node1 /strata/local/h2d_e3x 0 0
"$cluster" wipe node3 > /dev/null
run node1:1,node2:1,node4:1 "$work/e3x_resume.out" --local /strata/local/h2d_e3x --shared /strata/shared/h2d_e3x --redundancy xor --crash-at-step 35 --crash-rank 2 ||
  { cat "$work/e3x_resume.out"; fail "(e3x) resumed run failed"; }
grep -q "version 3: damaged parity (L3), not used: node1:.*r00000.parity: parity chunk 0 (stripe 0) fails its checksum" "$work/e3x_resume.out" &&
  grep -q "version 3: xor group 0 cannot rebuild rank 2: stripe 0 has 1 of the 2 chunks it needs" "$work/e3x_resume.out" ||
  { cat "$work/e3x_resume.out"; fail "(e3x) the damaged parity chunk was not reported"; }
check_resume "$work/e3x_resume.out" "2 at step 20" "(e3x) damaged XOR parity of version 3 rejected, version 2 restored"

# Bad input: XOR groups with every rank on one node; Reed-Solomon groups too small for their parity.
if run node1:2 "$work/xor_one_node.out" --local /strata/local/h2d_g --redundancy xor; then cat "$work/xor_one_node.out"; fail "XOR groups on one node accepted"; fi
grep -q "xor_group redundancy needs ranks on at least 2 nodes.*all 2 ranks run on node1" "$work/xor_one_node.out" ||
  { cat "$work/xor_one_node.out"; fail "no clear message for XOR groups on one node"; }
if run node1:1,node2:1,node3:1 "$work/rs_small.out" --local /strata/local/h2d_g --redundancy rs --parity 2 --group-size 2; then
  cat "$work/rs_small.out"; fail "Reed-Solomon groups of 2 with parity 2 accepted"; fi
grep -q "rank 0 on node1: node_local reed_solomon redundancy: group_size 2 leaves no data chunk beside 2 parity chunk(s)" "$work/rs_small.out" ||
  { cat "$work/rs_small.out"; fail "no clear message for Reed-Solomon groups too small"; }
echo "PASS: XOR groups on one node and too small Reed-Solomon groups refused, naming rank and host"
wipe_all
echo "PASS: all"
