#!/usr/bin/env bash
# Runs checkpoint_bandwidth on 1, 2 and 4 ranks and writes
# docs/figures/checkpoint_bandwidth.json and .png (gnuplot).
#   benchmarks/checkpoint_bandwidth/run.sh [build dir] [checkpoint dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/default}
dir=${2:-/tmp/strata-bench}
out=$here/results
mkdir -p "$out" "$dir"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
json=$out/checkpoint_bandwidth.jsonl
rm -f "$json"
for np in 1 2 4; do
  mpiexec -n $np --oversubscribe "$build/benchmarks/checkpoint_bandwidth/checkpoint_bandwidth" \
    --sizes ${SIZES:-64 256 1024} --reps ${REPS:-3} --dir "$dir" --json "$json"
done
python3 - "$json" "$out/checkpoint_bandwidth.json" "$out/checkpoint_bandwidth.dat" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
json.dump({"machine": __import__("platform").node(), "results": rows}, open(sys.argv[2], "w"), indent=1)
with open(sys.argv[3], "w") as f:
    for np in (1, 2, 4):
        for r in rows:
            if r["ranks"] == np:
                x = r["ratios"]
                f.write(f'{np} {r["total_mib"]} {x["checkpoint_over_raw_write"]:.3f} {x["restore_over_raw_read"]:.3f} {x["blocked_over_memcpy"]:.2f} {x["checkpoint_over_raw_overwrite"]:.3f}\n')
        f.write("\n\n")
PY
gnuplot <<GP
set terminal pngcairo size 1100,420 font ",10"
set output "$out/checkpoint_bandwidth.png"
set multiplot layout 1,2 title "strata full coordinated checkpoint vs raw I/O (same bytes, same run)"
set logscale x 2; set xlabel "protected state (MiB, all ranks)"; set grid
set key top left
set ylabel "time ratio"; set title "checkpoint / raw write+fsync of a new file,  restore / raw read"
plot for [i=0:2] "$out/checkpoint_bandwidth.dat" index i using 2:3 with linespoints title sprintf("ckpt/raw write, %d rank(s)", 2**i), \
     for [i=0:2] "$out/checkpoint_bandwidth.dat" index i using 2:4 with linespoints dt 2 title sprintf("restore/raw read, %d rank(s)", 2**i)
set title "blocked time / one memcpy (synchronous mode)"
set ylabel "ratio"
plot for [i=0:2] "$out/checkpoint_bandwidth.dat" index i using 2:5 with linespoints title sprintf("%d rank(s)", 2**i)
unset multiplot
GP
figures=$here/../../docs/figures
mkdir -p "$figures"
cp "$out/checkpoint_bandwidth.json" "$out/checkpoint_bandwidth.png" "$figures/"
echo "wrote $figures/checkpoint_bandwidth.json and $figures/checkpoint_bandwidth.png"
