#!/usr/bin/env bash
# async_stall.json -> PNG (gnuplot): blocked time per checkpoint / one memcpy, sync and async.
set -eu
json=$1; png=$2; dat=$(mktemp)
python3 - "$json" > "$dat" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for run in d["runs"]:
    for r in run["results"]:
        print(f'"{r["mib_per_rank"]} MiB x{run["ranks"]}" {r["sync_over_memcpy"]} {r["async_over_memcpy"]} {r.get("incremental_async_over_memcpy", 0)}')
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
set arrow from graph 0, first 1.1 to graph 1, first 1.1 nohead dt 2 lc rgb "red"
set label "goal 1.1 (async)" at graph 0.80, first 1.4 tc rgb "red"
plot "$dat" using 2:xtic(1) title "full, synchronous" lc rgb "#888888", "" using 3 title "full, asynchronous" lc rgb "#2a7fff", "" using 4 title "incremental (5 % dirty), asynchronous" lc rgb "#ff9f2a"
GP
rm -f "$dat"
