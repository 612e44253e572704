#!/usr/bin/env bash
# Runs bench_log_replay on 1 and 2 ranks and writes docs/figures/log_replay.{json,png}.
#   benchmarks/log_replay/run.sh [build dir] [scratch dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/default}
dir=${2:-/tmp/strata-bench-log}
out=$here/results
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
jsonl=$out/log_replay.jsonl
rm -f "$jsonl"
for np in 1 2; do
  mpiexec -n $np --oversubscribe "$build/benchmarks/log_replay/bench_log_replay" --dir "$dir" \
    --entries ${ENTRIES:-400} --rounds ${ROUNDS:-3} --json "$jsonl"
done
python3 - "$jsonl" "$out/log_replay.json" "$out/log_replay.dat" <<'PY'
import json, platform, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
json.dump({"machine": platform.node(), "results": rows}, open(sys.argv[2], "w"), indent=1)
with open(sys.argv[3], "w") as f:
    for np in (1, 2):
        for r in rows:
            if r["ranks"] == np:
                x = r["ratios"]
                f.write(f'{np} {r["entry_bytes"]} {x["append_every_record_over_raw_write_fsync"]:.3f} '
                        f'{x["append_never_over_raw_write"]:.3f} {x["replay_over_restore_plus_raw_read"]:.3f}\n')
        f.write("\n\n")
PY
gnuplot <<GP
set terminal pngcairo size 1100,420 font ",10"
set output "$out/log_replay.png"
set multiplot layout 1,2 title "strata application log vs raw appends (same bytes, same run, medians)"
set logscale x 2; set xlabel "entry size (bytes)"; set grid; set key top left
set ylabel "time ratio"; set title "append_log / raw write (+fsync)"
plot for [i=0:1] "$out/log_replay.dat" index i using 2:3 with linespoints title sprintf("every_record / write+fsync, %d rank(s)", i+1), \
     for [i=0:1] "$out/log_replay.dat" index i using 2:4 with linespoints dt 2 title sprintf("never / write, %d rank(s)", i+1)
set title "restore + replay / (restore + raw read of the entries)"
plot for [i=0:1] "$out/log_replay.dat" index i using 2:5 with linespoints title sprintf("%d rank(s)", i+1)
unset multiplot
GP
figures=$here/../../docs/figures
mkdir -p "$figures"
cp "$out/log_replay.json" "$out/log_replay.png" "$figures/"
echo "wrote $figures/log_replay.json and $figures/log_replay.png"
