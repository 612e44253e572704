#!/usr/bin/env bash
# plot.sh <prefix>: PNG of <prefix>.csv written by bench_ewma_vs_rr (either mode): mean and p99 response
# time of each policy as a ratio to round_robin, one group per (load, in-flight cap).
set -euo pipefail
p=${1:-ewma_vs_rr}
awk -F, 'NR>1 {k=$1" cap "$2; if(!(k in seen)){seen[k]=1; order[++n]=k} v[k","$3]=$7; w[k","$3]=$8}
  END {print "case,rr_mean,ll_mean,fs_mean,ewma_mean,rr_p99,ll_p99,fs_p99,ewma_p99";
       for(i=1;i<=n;i++){k=order[i]; printf "load %s,%s,%s,%s,%s,%s,%s,%s,%s\n", k,
         v[k",round_robin"],v[k",least_loaded"],v[k",filter_score"],v[k",ewma_proportional"],
         w[k",round_robin"],w[k",least_loaded"],w[k",filter_score"],w[k",ewma_proportional"]}}' "${p}.csv" > "${p}.plot.csv"
gnuplot <<GP
set terminal pngcairo size 1100,500 noenhanced
set output '${p}.png'
set datafile separator ','
set multiplot layout 1,2 title 'ewma_vs_rr (${p}): response time / round_robin, lower is better'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key outside bottom center horizontal
set offsets 0,0,0.15,0
set bmargin 8
set yrange [0:*]
set xtics rotate by -30
set title 'mean response'
plot '${p}.plot.csv' using 2:xtic(1) title 'round_robin', '' using 3 title 'least_loaded', '' using 4 title 'filter_score', '' using 5 title 'ewma_proportional'
set title 'p99 response'
plot '${p}.plot.csv' using 6:xtic(1) title 'round_robin', '' using 7 title 'least_loaded', '' using 8 title 'filter_score', '' using 9 title 'ewma_proportional'
unset multiplot
GP
echo "wrote ${p}.png"
