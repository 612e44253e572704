#!/usr/bin/env bash
# plot.sh <prefix>: PNG of <prefix>.csv written by bench_ewma_vs_rr.
set -euo pipefail
p=${1:-ewma_vs_rr}
gnuplot <<GP
set terminal pngcairo size 800,450 noenhanced
set output '${p}.png'
set datafile separator ','
set style data histograms
set style fill solid 0.8 border -1
set ylabel 'makespan (s)'
set y2label 'share of tasks on the slow rank (%)'
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:100]
set title 'ewma_vs_rr: 3 workers, rank 1 four times slower'
plot '${p}.csv' using 2:xtic(1) title 'makespan', '' using 0:4 axes x1y2 with linespoints lw 2 pt 7 title 'slow-rank share %'
GP
echo "wrote ${p}.png"
