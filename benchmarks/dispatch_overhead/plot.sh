#!/usr/bin/env bash
# plot.sh <prefix>: PNG of <prefix>.csv written by bench_dispatch_overhead (n = 1).
set -euo pipefail
p=${1:-dispatch_overhead}
gnuplot <<GP
set terminal pngcairo size 800,450 noenhanced
set output '${p}.png'
set datafile separator ','
set logscale xy
set xlabel 'workers'
set ylabel 'ns per decision (select + update)'
set key top left
set grid
set title 'dispatch_overhead: selection decision cost'
plot for [c=2:5] '${p}.csv' using 1:c with linespoints lw 2 title columnhead(c), 1000 with lines dt 2 title 'goal at 64 workers (1 us)'
GP
echo "wrote ${p}.png"
