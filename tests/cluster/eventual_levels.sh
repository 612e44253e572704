#!/usr/bin/env bash
# consistency::eventual across nodes (scripts/cluster up 4), SPEC R4 and R5:
#  (a) node-local shards (L1) with partner copies (L2), one rank 3x slower: each rank's record goes to
#      rank 0 in a message and its partner copy to another node without any collective. A rank is
#      killed and its node wiped; the restart on a spare node resumes from the newest version every
#      rank recorded and whose lost shard a partner copy holds; only the lost rank is repaired (from
#      L2), the other ranks' shards are left untouched (same inode and mtime).
#  (b) the shared level beside L1 (multilevel, every 2nd version), async writes: records on the
#      shared directory, manifests sent to every node; killed, resumed from the newest version
#      every rank recorded.
#  (c) erasure groups are refused with the reason (their parity is a collective).
# Every resumed run must print the checksum of an uninterrupted run.
#   eventual_levels.sh HEAT2D WORKDIR
set -u
exe=$1; work=$2
source "$(dirname "$0")/common.sh"
args=(--n 96 --steps 60 --quiet --consistency eventual --preemption off --step-delay-ms 4)
every=5
shared_glob='ev_*'
# versions NODE DIR RANK: the versions whose record of RANK is in DIR/.strata.ranks on NODE.
versions() { on "$1" "ls $2/.strata.ranks 2>/dev/null" | sed -n "s/^v0*\([0-9][0-9]*\)\.r$3\$/\1/p"; }

require_cluster
wipe_all
mpiexec -n 3 --oversubscribe "$exe" "${args[@]}" --every 5 --dir "$work/clean" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; fail "uninterrupted run"; }
want=$(tail -n 1 "$work/clean.out")
echo "uninterrupted: $want"

# (a) node1 (rank 0), node2 (rank 1, killed, then lost), node3 (rank 2, the slow one, rank 1's partner).
L=/strata/local/ev_a
run node1:1,node2:1,node3:1 "$work/a_kill.out" --local $L --redundancy partner --slow-rank 2 --crash-at-step 33 --crash-rank 1 &&
  fail "(a) the run that should die succeeded"
grep -q "killing itself with SIGKILL at step 33" "$work/a_kill.out" || { cat "$work/a_kill.out"; fail "(a) no kill"; }
"$cluster" wipe node2 > /dev/null
# What survives: rank 0's folder holds the records the others sent; each rank's own node its own.
r0=$(versions node1 $L 0); r1=$(versions node1 $L 1); r2=$( (versions node1 $L 2; versions node3 $L 2) | sort -nu)
exp=0
for v in $(echo "$r0" | sort -n); do
  echo "$r1" | grep -qx "$v" && echo "$r2" | grep -qx "$v" || continue
  on node3 "test -f $L/v$(printf %08d "$v")/r00001.partner" && exp=$v  # rank 1's shard: only its partner copy is left
done
[ "$exp" -gt 0 ] || { on node1 "ls $L/.strata.ranks"; fail "(a) no version recorded by every rank before the kill"; }
vdir=$L/v$(printf %08d "$exp")
before=$(on node1 "stat -c '%i %Y' $vdir/r00000.shard"; on node3 "stat -c '%i %Y' $vdir/r00002.shard")
# No checkpoint after the restore (--every 1000): retention keeps the restored version's files to look at.
every=1000 run node1:1,node4:1,node3:1 "$work/a_resume.out" --local $L --redundancy partner --slow-rank 2 ||
  { cat "$work/a_resume.out"; fail "(a) resumed run failed"; }
grep -q "^resumed from version $exp at step" "$work/a_resume.out" ||
  { cat "$work/a_resume.out"; fail "(a) expected a resume from version $exp (newest every rank recorded, rank 1's copy on node3)"; }
grep -q "version $exp: shards served by r0=L1 r1=L2 partner on rank 2 r2=L1" "$work/a_resume.out" ||
  { cat "$work/a_resume.out"; fail "(a) rank 1 alone should have been rebuilt, from its partner copy"; }
after=$(on node1 "stat -c '%i %Y' $vdir/r00000.shard"; on node3 "stat -c '%i %Y' $vdir/r00002.shard")
[ "$before" = "$after" ] || fail "(a) the shards of ranks 0 and 2 were rewritten by the repair ($before / $after)"
got=$(tail -n 1 "$work/a_resume.out")
[ "$got" = "$want" ] || { cat "$work/a_resume.out"; fail "(a) checksum $got, want $want"; }
echo "PASS: (a) eventual + partner copies: node2 lost, resumed from version $exp, only rank 1 rebuilt (from L2 on node3)"

# (b) 2 nodes x 2 ranks, L1 + shared level, async, the last rank slow and killed.
wipe_all
S=/strata/shared/ev_b
run node1:2,node2:2 "$work/b_kill.out" --local /strata/local/ev_b --shared $S --async on --slow-rank 3 --crash-at-step 41 --crash-rank 3 &&
  fail "(b) the run that should die succeeded"
grep -q "killing itself with SIGKILL at step 41" "$work/b_kill.out" || { cat "$work/b_kill.out"; fail "(b) no kill"; }
exp=0
for v in $(ls $S/.strata.ranks | sed -n 's/^v0*\([0-9][0-9]*\)\.r[0-9]*$/\1/p' | sort -n | uniq); do
  [ "$(ls $S/.strata.ranks | grep -c "^v$(printf %08d "$v")\.r[0-9]*$")" -eq 4 ] && exp=$v
done
[ "$exp" -gt 0 ] || fail "(b) no version recorded by every rank before the kill"
# Manifests travelled during the run (node2's first rank writes its node's copy): some are there already.
on node2 "ls /strata/local/ev_b/" | grep -q 'manifest.json$' || fail "(b) node2 holds no manifest: they did not travel"
run node1:2,node2:2 "$work/b_resume.out" --local /strata/local/ev_b --shared $S --async on --slow-rank 3 ||
  { cat "$work/b_resume.out"; fail "(b) resumed run failed"; }
grep -q "^resumed from version $exp at step" "$work/b_resume.out" || { cat "$work/b_resume.out"; ls $S/.strata.ranks; fail "(b) expected a resume from version $exp"; }
got=$(tail -n 1 "$work/b_resume.out")
[ "$got" = "$want" ] || { cat "$work/b_resume.out"; fail "(b) checksum $got, want $want"; }
echo "PASS: (b) eventual + shared level, async: resumed from version $exp, the newest every rank recorded"

# (c) parity groups need every member at once: refused, naming the reason.
wipe_all
if run node1:1,node2:1,node3:1 "$work/c.out" --local /strata/local/ev_c --redundancy xor; then cat "$work/c.out"; fail "(c) eventual + xor accepted"; fi
grep -q "encodes parity across a group of ranks at the same version" "$work/c.out" || { cat "$work/c.out"; fail "(c) no clear reason"; }
echo "PASS: (c) eventual + XOR parity refused with the reason"
wipe_all
echo "PASS: all"
