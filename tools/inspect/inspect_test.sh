#!/usr/bin/env bash
# strata_inspect reports a healthy directory as ok, then names a flipped bit and a missing shard.
set -u
inspect=$1; victim=$2; work=$3
mpirun=${MPIEXEC:-mpiexec}; flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
$mpirun -n 2 $flags "$victim" --dir "$work/ck" --versions 3 --mib 0.1 > /dev/null 2>&1 || { echo "FAIL: could not write versions"; exit 1; }
out=$("$inspect" "$work/ck"); rc=$?
echo "$out"
[ $rc -eq 0 ] && echo "$out" | grep -q "3 committed version(s), 0 damaged" || { echo "FAIL: healthy directory not reported ok"; exit 1; }
printf '\x01' | dd of="$work/ck/v00000002/r00001.shard" bs=1 seek=200 conv=notrunc 2>/dev/null
rm "$work/ck/v00000003/r00000.shard"
out=$("$inspect" "$work/ck"); rc=$?
echo "$out"
[ $rc -eq 1 ] || { echo "FAIL: damage not reflected in the exit status"; exit 1; }
echo "$out" | grep -q "v00000002/r00001.shard: checksum mismatch" || { echo "FAIL: bit flip not named"; exit 1; }
echo "$out" | grep -q "v00000003/r00000.shard: missing" || { echo "FAIL: missing shard not named"; exit 1; }
"$inspect" --json "$work/ck" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [v["status"] for v in d["versions"]]==["ok","DAMAGED","DAMAGED"], d' || { echo "FAIL: json"; exit 1; }
echo PASS
