#!/usr/bin/env bash
# async_stall.json -> PNG (gnuplot): blocked time per checkpoint / one memcpy, sync and async.
set -eu
json=$1; png=$2; dat=$(mktemp)
python3 - "$json" > "$dat" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for run in d["runs"]:
    for r in run["results"]:
        print(f'"{r["mib_per_rank"]} MiB x{run["ranks"]}" {r["sync_over_memcpy"]} {r["async_over_memcpy"]}')
PY
gnuplot <<GP
set terminal pngcairo size 1000,520 font ",10"
set output "$png"
set title "Application blocked per checkpoint / one memcpy of the protected bytes (2-core shared VM)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [0.5:*]
set ylabel "ratio (log scale)"
set xtics rotate by -35
set grid ytics
set arrow from graph 0, first 1.25 to graph 1, first 1.25 nohead dt 2 lc rgb "red"
set label "goal 1.25 (async)" at graph 0.80, first 1.6 tc rgb "red"
plot "$dat" using 2:xtic(1) title "synchronous" lc rgb "#888888", "" using 3 title "asynchronous" lc rgb "#2a7fff"
GP
rm -f "$dat"
