#!/usr/bin/env bash
# Runs bench_levels on the simulated cluster (4 nodes, one rank each; scripts/cluster) and writes
# docs/figures/levels.json and levels.png (gnuplot). Needs root (namespaces).
#   benchmarks/levels/run.sh [build dir]        MIB="64 256" REPS=3 REDUNDANCY="partner xor rs"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build/default}
out=$here/results
mkdir -p "$out"
cluster=$root/scripts/cluster
exe=$build/benchmarks/levels/bench_levels
[ -x "$exe" ] || { echo "run.sh: build bench_levels first ($exe missing)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
"$cluster" up 4 > /dev/null
json=$out/levels.jsonl
rm -f "$json"
for mib in ${MIB:-64 256}; do
  for n in 1 2 3 4; do "$cluster" exec node$n -- rm -rf /strata/local/bench_levels; done
  rm -rf /strata/shared/bench_levels
  "$cluster" mpirun --hosts node1:1,node2:1,node3:1,node4:1 -- "$exe" --mib-per-rank "$mib" --reps "${REPS:-3}" \
    --redundancy ${REDUNDANCY:-partner xor rs} --json /strata/shared/levels.jsonl
done
mv /strata/shared/levels.jsonl "$json"
for n in 1 2 3 4; do "$cluster" exec node$n -- rm -rf /strata/local/bench_levels; done
rm -rf /strata/shared/bench_levels
python3 - "$json" "$out/levels.json" "$out/levels.dat" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = sorted({k for r in rows for k in r["ratios"]})
summary = {}
for mib in sorted({r["mib_per_rank"] for r in rows}):
    rs = [r for r in rows if r["mib_per_rank"] == mib]
    summary[str(mib)] = {k: statistics.median(r["ratios"][k] for r in rs if k in r["ratios"]) for k in keys}
json.dump({"machine": __import__("platform").node(), "median_ratios": summary, "results": rows},
          open(sys.argv[2], "w"), indent=1)
with open(sys.argv[3], "w") as f:
    f.write("ratio " + " ".join(summary) + "\n")
    for k in keys:
        f.write(k + " " + " ".join(f"{summary[m][k]:.3f}" for m in summary) + "\n")
print(json.dumps(summary, indent=1))
PY
ncols=$(head -n 1 "$out/levels.dat" | wc -w)
gnuplot <<GP
set terminal pngcairo size 1100,480 font ",10"
set output "$out/levels.png"
set title "strata node-local levels on 4 simulated nodes: ratios measured side by side (medians)"
set style data histogram; set style histogram clustered gap 1; set style fill solid 0.8
set xtics rotate by -25 noenhanced; set grid ytics; set ylabel "time ratio"; set key top left
plot for [c=2:$ncols] "$out/levels.dat" using c:xtic(1) title columnhead(c) . " MiB/rank"
GP
mkdir -p "$root/docs/figures"
cp "$out/levels.json" "$out/levels.png" "$root/docs/figures/"
echo "wrote docs/figures/levels.json and docs/figures/levels.png"
