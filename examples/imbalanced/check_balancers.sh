#!/usr/bin/env bash
# Runs imbalanced with each balancer at 2 and 4 ranks (ranks 1 and 2 slowed 3x) and checks that
#  - the result checksum is identical for none, greedy and refine;
#  - greedy and refine end with a lower max/avg than none (at 4 ranks, where 2 of 4 are slowed).
set -euo pipefail
exe=$1
: "${MPIEXEC:=mpiexec}"
export OMP_NUM_THREADS=1
fail=0
for np in 2 4; do
  slow=1; [ "$np" -ge 4 ] && slow=1,2
  declare -A sum ratio
  for b in none greedy refine; do
    out=$("$MPIEXEC" -n "$np" ${MPIEXEC_FLAGS:-} "$exe" --units 32 --particles 800 --steps 20 --lb-every 4 \
          --slow-ranks "$slow" --slowdown 3 --balancer "$b")
    echo "$out" | grep -E '^(lb|final|checksum)' | sed "s/^/np=$np $b: /"
    sum[$b]=$(echo "$out" | sed -n 's/^checksum = //p')
    ratio[$b]=$(echo "$out" | sed -n 's/^final max\/avg (mean of last [0-9]* steps) = //p')
    [ -n "${sum[$b]}" ] || { echo "FAIL: no checksum for $b at np=$np"; fail=1; }
  done
  for b in greedy refine; do
    if [ "${sum[$b]}" != "${sum[none]}" ]; then
      echo "FAIL: np=$np checksum with $b (${sum[$b]}) differs from none (${sum[none]})"; fail=1
    fi
    # Balanced runs must remove at least half of the excess max/avg of the unbalanced one.
    if ! awk -v b="${ratio[$b]}" -v n="${ratio[none]}" 'BEGIN { exit !(b - 1 < 0.5 * (n - 1)) }'; then
      echo "FAIL: np=$np $b final max/avg ${ratio[$b]} not well below none's ${ratio[none]}"; fail=1
    fi
  done
  unset sum ratio
done
[ $fail -eq 0 ] && echo "imbalanced: checksums identical, balancing effective"
exit $fail
