#!/usr/bin/env bash
# script.gpu_prebuilt_dry_run: the GPU run's two steps (scripts/gpu-pack here, then
# STRATA_GPU_PREBUILT=... scripts/gpu on the GPU machine) on this host build, tiny sizes, so that a
# session lent a GPU does not spend its device time finding a broken script. Checks that the pack
# holds every program and runs from its own libraries, that the four unit-test programs pass from
# it (also through its own loader and C library), and that the benchmarks' JSON and the summary table
# have a row per size with positive figures.
#   dry_run.sh <build dir> <source dir>
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/strata_gpu_dry.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
STRATA_GPU_SYSTEM=OMP STRATA_GPU_PACK_BUILD=$build STRATA_GPU_PACK_NO_BUILD=1 "$src/scripts/gpu-pack" "$tmp/pack"
for t in unit_snapshot unit_state unit_checkpoint unit_dag bench_gpu_staging bench_incremental; do
  [ -x "$tmp/pack/bin/$t" ] || { echo "FAIL: the pack has no $t"; exit 1; }
done
# Every library a program loads resolves inside the pack (glibc and the CUDA driver excepted).
for f in "$tmp"/pack/bin/*; do
  LD_LIBRARY_PATH=$tmp/pack/lib ldd "$f" | awk -v p="$tmp/pack/lib/" '/=> \// && index($3, p) != 1 && $1 !~ /^(libc|libm|libpthread|libdl|librt|ld-linux)\./ {print; bad = 1} END {exit bad}' ||
    { echo "FAIL: $f loads a library from outside the pack"; exit 1; }
done
STRATA_GPU_PREBUILT=$tmp/pack STRATA_GPU_SYSTEM=OMP STRATA_GPU_SIZES=8,16 STRATA_GPU_REPS=2 \
  STRATA_GPU_INCREMENTAL_MIB=16 STRATA_GPU_DIR=$tmp/work STRATA_GPU_TEST_TIMEOUT=300 "$src/scripts/gpu" "$tmp/out"
passed=$(grep -c '^unit_[a-z_]*: passed$' "$tmp/out/ctest.log" || true)
[ "$passed" = 4 ] || { echo "FAIL: $passed of 4 unit-test programs passed from the pack"; cat "$tmp/out/ctest.log"; exit 1; }
python3 - "$tmp/out" <<'PY'
import json, sys
out = sys.argv[1]
d = json.load(open(f"{out}/gpu_staging.json"))
rows = d["results"]
assert [r["mib"] for r in rows] == [8, 16], f"sizes {[r['mib'] for r in rows]}"
for r in rows:
    bad = [k for k, v in r.items() if isinstance(v, float) and not v > 0]
    assert not bad, f"{r['mib']} MiB: not positive: {bad}"
inc = json.load(open(f"{out}/incremental.json"))
assert inc["bytes"] == 16 << 20, inc["bytes"]
summary = open(f"{out}/summary.md").read()
for m in (8, 16):
    assert f"\n| {m} |" in summary, f"summary has no row for {m} MiB:\n{summary}"
print("gpu dry run: pack, unit tests and figures ok")
PY
# The path for a GPU machine whose glibc is older than this one's: the pack's own loader and C library.
STRATA_GPU_PREBUILT=$tmp/pack STRATA_GPU_PACK_LOADER=1 STRATA_GPU_SYSTEM=OMP STRATA_GPU_SIZES=8 STRATA_GPU_REPS=2 \
  STRATA_GPU_INCREMENTAL_MIB=8 STRATA_GPU_DIR=$tmp/work STRATA_GPU_TEST_TIMEOUT=300 "$src/scripts/gpu" "$tmp/out2" > "$tmp/loader_run.log" 2>&1 ||
  { echo "FAIL: the run through the pack's loader failed"; tail -30 "$tmp/loader_run.log"; exit 1; }
grep -q "using the pack's loader" "$tmp/loader_run.log" || { echo "FAIL: the pack's loader was not used"; exit 1; }
passed=$(grep -c '^unit_[a-z_]*: passed$' "$tmp/out2/ctest.log" || true)
[ "$passed" = 4 ] || { echo "FAIL: $passed of 4 unit-test programs passed through the pack's loader"; exit 1; }
echo "gpu dry run: the pack's own loader and C library run it too"
