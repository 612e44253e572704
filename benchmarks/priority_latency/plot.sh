#!/usr/bin/env bash
# plot.sh <prefix>: PNG of <prefix>.csv written by bench_priority_latency.
set -euo pipefail
p=${1:-priority_latency}
gnuplot <<GP
set terminal pngcairo size 900,450 noenhanced
set output '${p}.png'
set datafile separator ','
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set ylabel 'latency (ms)'
set y2label 'high-priority on time (%)'
set y2range [0:105]
set ytics nomirror
set y2tics
set title 'priority_latency: bursty workload, 8 workers (simulated clock)'
plot '${p}.csv' using 2:xtic(1) title 'avg', '' using 4 title 'p99', '' using 5 title 'high-priority avg', \
     '' using 0:6 axes x1y2 with linespoints lw 2 pt 7 title 'high on time %'
GP
echo "wrote ${p}.png"
