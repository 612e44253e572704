#!/usr/bin/env bash
# overhead.json -> PNG (gnuplot): run time with checkpoints over run time without, per configuration.
set -eu
json=$1; png=$2; dat=$(mktemp)
title=$(python3 - "$json" "$dat" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    for r in d["results"][1:]:
        f.write(f'{r["config"]} {r["overhead_percent"]}\n')
print(f'{d["ranks"]} ranks, {d["protected_mib_per_rank"]:.0f} MiB/rank, checkpoint every {d["interval_s"]:.0f} s of compute')
PY
)
gnuplot <<GP
set terminal pngcairo size 800,480 font ",10" noenhanced
set output "$png"
set title "heat2d: time with checkpoints vs without (%) — $title"
set style data histograms
set style fill solid 0.8 border -1
set ylabel "overhead %"
set grid ytics
set yrange [*:*]
set arrow from graph 0, first 2 to graph 1, first 2 nohead dt 2 lc rgb "red"
set label "goal 2 %" at graph 0.02, first 2.3 tc rgb "red"
plot "$dat" using 2:xtic(1) notitle lc rgb "#2a7fff"
GP
rm -f "$dat"
