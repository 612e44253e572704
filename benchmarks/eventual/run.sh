#!/usr/bin/env bash
# Runs bench_eventual on 2 and 4 ranks and writes docs/figures/eventual.{json,png}.
#   benchmarks/eventual/run.sh [build dir] [scratch dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/default}
dir=${2:-/tmp/strata-bench-eventual}
out=$here/results
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
jsonl=$out/eventual.jsonl
rm -f "$jsonl"
for np in 2 4; do
  mpiexec -n $np --oversubscribe "$build/benchmarks/eventual/bench_eventual" --dir "$dir" --mib ${MIB:-16} \
    --checkpoints ${CHECKPOINTS:-8} --rounds ${ROUNDS:-2} --compute-ms ${COMPUTE_MS:-20} --json "$jsonl"
done
python3 - "$jsonl" "$out/eventual.json" "$out/eventual.dat" <<'PY'
import json, platform, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
json.dump({"machine": platform.node(), "results": rows}, open(sys.argv[2], "w"), indent=1)
with open(sys.argv[3], "w") as f:
    for i, r in enumerate(rows):
        t = r["seconds_per_checkpoint"]
        f.write(f'{i} "{r["ranks"]} ranks" {t["fast_coordinated"]*1e3:.2f} {t["fast_eventual"]*1e3:.2f} {t["fast_raw_write_fsync"]*1e3:.2f}\n')
PY
gnuplot <<GP
set terminal pngcairo size 800,420 font ",10"
set output "$out/eventual.png"
set title "blocked per checkpoint on the fast ranks, one rank 3x slower (same run)"
set style data histograms; set style histogram clustered gap 1; set style fill solid 0.8 border -1
set ylabel "ms per checkpoint"; set grid ytics; set key top left
plot "$out/eventual.dat" using 3:xtic(2) title "coordinated", '' using 4 title "eventual", '' using 5 title "raw write+fsync"
GP
figures=$here/../../docs/figures
mkdir -p "$figures"
cp "$out/eventual.json" "$out/eventual.png" "$figures/"
echo "wrote $figures/eventual.json and $figures/eventual.png"
