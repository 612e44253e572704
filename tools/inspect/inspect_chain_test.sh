#!/usr/bin/env bash
# strata_inspect judges an incremental version by its whole chain: with a base shard damaged (or a
# base's commit record gone) the versions that depend on it are reported unusable, naming the broken
# link, and the exit status is 1; restore agrees (it falls back to the newest version the inspector
# calls usable). With several directories (storage::multilevel's levels) each version is listed with
# the levels that hold it.
#
#   inspect_chain_test.sh STRATA_INSPECT HEAT2D WORK_DIR   (MPIEXEC, MPIEXEC_FLAGS: the launcher)
set -u
inspect=$1; heat=$2; work=$3
mpirun=${MPIEXEC:-mpiexec}; flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # small runs: no spinning OpenMP teams on a busy machine
# heat2d updates every block at every step: incremental would write each version as a base
# (.rebase_fraction); this test needs a chain of deltas, so the early base is turned off.
export STRATA_SNAPSHOT_INCREMENTAL_REBASE_FRACTION=2
run=(--n 64 --steps 40 --every 10 --quiet --snapshot incremental)
fail() { echo "FAIL: $*"; exit 1; }
statuses() { python3 -c 'import json,sys; print(" ".join(v["status"] for v in json.load(sys.stdin)["versions"]))'; }

# Versions 1..4: 1 is the base, 4 depends on 1, 2, 3.
$mpirun -n 2 $flags "$heat" "${run[@]}" --dir "$work/ck" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; fail "could not write the chain"; }
want=$(tail -n 1 "$work/clean.out")
out=$("$inspect" "$work/ck"); rc=$?
echo "$out"
[ $rc -eq 0 ] && grep -q "4 committed version(s), 0 damaged, 0 unusable; newest usable: version 4" <<< "$out" ||
  fail "healthy chain not reported ok (rc $rc)"
"$inspect" --json "$work/ck" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["versions"][3]["depends_on"]==[1,2,3], d' ||
  fail "version 4 does not depend on 1, 2, 3 (the test needs an incremental chain)"

# A flipped bit in version 2's shard of rank 1: 2 is damaged, 3 and 4 unusable, 1 still usable.
cp -r "$work/ck" "$work/mid"
printf '\x01' | dd of="$work/mid/v00000002/r00001.shard" bs=1 seek=200 conv=notrunc 2>/dev/null
out=$("$inspect" "$work/mid"); rc=$?
echo "$out"
[ $rc -eq 1 ] || fail "a broken chain is not reflected in the exit status (rc $rc)"
for v in 3 4; do
  grep -q "version $v: unusable, depends on version 2, whose shard r00001 is corrupt (.*v00000002/r00001.shard: checksum mismatch)" <<< "$out" ||
    fail "version $v not reported unusable because of version 2's shard r00001"
done
grep -q "1 damaged, 2 unusable; newest usable: version 1" <<< "$out" || fail "wrong summary"
[ "$("$inspect" --json "$work/mid" | statuses)" = "ok DAMAGED UNUSABLE UNUSABLE" ] || fail "json statuses"
# Restore agrees: it falls back to version 1 and the run still ends with the clean checksum.
out=$($mpirun -n 2 $flags "$heat" "${run[@]}" --dir "$work/mid" 2>&1) || { echo "$out"; fail "restart on the damaged chain failed"; }
grep -q "^resumed from version 1 at step 10$" <<< "$out" || { echo "$out"; fail "restore did not fall back to version 1"; }
[ "$(tail -n 1 <<< "$out")" = "$want" ] || fail "restart ended with $(tail -n 1 <<< "$out"), want $want"

# The base's shard damaged: nothing is usable.
cp -r "$work/ck" "$work/base"
printf '\x01' | dd of="$work/base/v00000001/r00000.shard" bs=1 seek=200 conv=notrunc 2>/dev/null
out=$("$inspect" "$work/base"); rc=$?
echo "$out"
[ $rc -eq 1 ] || fail "damaged base: rc $rc"
grep -q "version 4: unusable, depends on version 1, whose shard r00000 is corrupt" <<< "$out" || fail "damaged base not named"
grep -q "1 damaged, 3 unusable; no usable version" <<< "$out" || fail "damaged base: wrong summary"

# The base's commit record gone (its shards stay): the dependents are unusable.
cp -r "$work/ck" "$work/gone"
rm "$work/gone/v00000001.manifest.json"
out=$("$inspect" "$work/gone"); rc=$?
echo "$out"
[ $rc -eq 1 ] || fail "missing base manifest: rc $rc"
grep -q "version 2: unusable, depends on version 1, whose commit record is missing" <<< "$out" || fail "missing base manifest not named"

# Two levels (storage::multilevel: every version in DIR/fast, every 2nd also in DIR).
$mpirun -n 2 $flags "$heat" "${run[@]}" --storage multilevel --dir "$work/ml" > /dev/null 2>&1 || fail "multilevel run"
out=$("$inspect" --levels L1,L4 "$work/ml/fast" "$work/ml"); rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "two healthy levels: rc $rc"
grep -Eq "^2 +ok .* L1,L4$" <<< "$out" && grep -Eq "^3 +ok .* L1$" <<< "$out" || fail "levels column"
"$inspect" --json --levels L1,L4 "$work/ml/fast" "$work/ml" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); assert [v["levels"] for v in d["versions"]]==[["L1","L4"],["L1"],["L1","L4"]], d' ||
  fail "json levels"
# A version that goes to the slow level starts a new chain (issue 9, item 5): versions 2 and 4 are
# bases, 3 builds on 2, and version 1 (which nothing needs any more) was retired.
"$inspect" --json --levels L1,L4 "$work/ml/fast" "$work/ml" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); assert [(v["version"], v["depends_on"]) for v in d["versions"]]==[(2, []), (3, [2]), (4, [])], d' ||
  fail "flushed versions are not bases"
# So the slow level alone restores: both of its versions are usable.
out=$("$inspect" "$work/ml"); rc=$?
echo "$out"
[ $rc -eq 0 ] && grep -q "newest usable: version 4" <<< "$out" || fail "the slow level alone should be usable"
"$inspect" --levels L1 "$work/ml/fast" "$work/ml" > /dev/null 2>&1; [ $? -eq 2 ] || fail "--levels with the wrong count is not bad usage"
# A lock file (SPEC R12: a job holds the directory) is described, not listed as a foreign entry.
printf 'strata-dir-lock 1\nhost=%s\npid=%s\npid_start_ticks=0\nboot_id=\nstarted=2024-01-01T00:00:00Z\nlocked=2024-01-01T00:00:00Z\nwho=rank 0\nprogram=heat2d\ntoken=feed\nend\n' \
  "$(hostname)" $$ > "$work/ck/.strata.lock"
out=$("$inspect" "$work/ck"); rc=$?
echo "$out"
grep -q "^lock: in use by rank 0 of heat2d, pid $$ on host $(hostname)" <<< "$out" || fail "lock holder not shown"
grep -q "foreign entry" <<< "$out" && fail "the lock file is listed as a foreign entry"
[ $rc -eq 0 ] || fail "a lock is not damage (rc $rc)"
echo PASS
