#!/usr/bin/env bash
# incremental.json -> PNG (gnuplot): bytes written / dirty bytes per dirty fraction, hash/memcpy throughput.
set -eu
json=$1; png=$2; dat=$(mktemp)
title=$(python3 - "$json" "$dat" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    for r in d["dirty"]:
        f.write(f'"{r["dirty_percent"]:.0f} % dirty" {r["ratio"]}\n')
print(f'hash {d["hash_gib_s"]} GiB/s vs memcpy {d["memcpy_gib_s"]} GiB/s = {d["hash_over_memcpy"]:.2f}x ({d["machine_device_system"]})')
PY
)
gnuplot <<GP
set terminal pngcairo size 800,480 font ",10"
set output "$png"
set title "snapshot::incremental: bytes written / dirty bytes\n$title"
set style data histograms
set style fill solid 0.8 border -1
set yrange [0:1.3]
set ylabel "written / dirty"
set grid ytics
set arrow from graph 0, first 1.1 to graph 1, first 1.1 nohead dt 2 lc rgb "red"
set label "goal 1.1 (at 5 %)" at graph 0.02, first 1.14 tc rgb "red"
plot "$dat" using 2:xtic(1) notitle lc rgb "#2a7fff"
GP
rm -f "$dat"
