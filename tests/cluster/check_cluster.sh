#!/usr/bin/env bash
# Checks the simulated cluster (scripts/cluster, docs/cluster.md) with cluster_hello.
#
#   check_cluster.sh [PROG]           up 4, the checks, down, nothing left behind
#   check_cluster.sh --up             up 4, twice (CTest fixture setup: cluster.up)
#   check_cluster.sh --checks [PROG]  the checks on a cluster that is up, left up (cluster.check)
#   check_cluster.sh --down           down, and nothing left behind (fixture cleanup: cluster.down)
#
# PROG is the built cluster_hello; without it, cluster_hello.c is compiled with
# ${MPICC:-mpicc} into a temporary directory. One PASS/FAIL line per check;
# exit 0 only when all pass, 77 (skipped) when not root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cluster=$here/../../scripts/cluster
failures=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { printf '%d.%02d' $(( $1 / 1000 )) $(( $1 % 1000 / 10 )); }   # milliseconds as seconds
netns_id() { echo "net:[$(stat -L -c %i "/run/netns/strata-$1")]"; }

if [[ $EUID -ne 0 ]]; then echo "SKIP: the simulated cluster needs root"; exit 77; fi

do_up() {
  "$cluster" up 4
  local before after
  before=$(stat -L -c %i /run/netns/strata-node{1..4} /run/strata-cluster/node{1..4}/mnt)
  "$cluster" up 4 > /dev/null
  after=$(stat -L -c %i /run/netns/strata-node{1..4} /run/strata-cluster/node{1..4}/mnt)
  if [[ $before == "$after" && $(grep -c '# strata-cluster' /etc/hosts) == 4 ]] && "$cluster" status > /dev/null; then
    pass "up 4 twice: the same 4 nodes, 4 /etc/hosts lines, status clean"
  else
    fail "up 4 twice: nodes re-made, /etc/hosts lines duplicated or status unhappy"
  fi
}

do_down() {
  "$cluster" down > /dev/null
  "$cluster" down > /dev/null   # idempotent
  local left=()
  if [[ $(ip netns list) == *strata-* ]]; then left+=("network namespaces"); fi
  if [[ $(ip -o link show) == *": strata-"* ]]; then left+=("bridge or veths"); fi
  if grep -q '# strata-cluster' /etc/hosts; then left+=("/etc/hosts lines"); fi
  if grep -qE ' (/strata|/run/strata-cluster)[/ ]' /proc/self/mountinfo; then left+=("mounts"); fi
  if [[ -e /var/lib/strata-cluster || -e /run/strata-cluster || -e /strata ]]; then left+=("directories"); fi
  if [[ ${#left[@]} -eq 0 ]]; then pass "down twice: nothing left (netns, bridge, veths, mounts, hosts lines, dirs)"
  else fail "down left: ${left[*]}"; fi
}

# run cluster_hello on "node1:K,node2:K,..." and check every rank's line
check_run() {
  local hosts=$1 ppn=$2 what nodes=() out rc t0 t1 lines
  IFS=, read -ra nodes <<< "${hosts//:$ppn/}"
  what="${#nodes[@]} nodes x $ppn (${nodes[*]})"
  out=$(mktemp)
  t0=$(ms)
  rc=0; timeout 60 "$cluster" mpirun --hosts "$hosts" -- "$prog" > "$out" 2> "$out.err" || rc=$?
  t1=$(ms)
  lines=$(grep -c '^rank=' "$out" || true)
  if [[ $rc -ne 0 || $lines -ne $(( ${#nodes[@]} * ppn )) ]]; then
    fail "$what: mpirun exit $rc, $lines of $(( ${#nodes[@]} * ppn )) rank lines"; sed 's/^/  | /' "$out.err" | head -20
    rm -f "$out" "$out.err"; return
  fi
  local -A bad=()
  local line kv r want
  while read -r line; do
    local -A f=()
    for kv in $line; do f[${kv%%=*}]=${kv#*=}; done
    r=${f[rank]}; want=${nodes[r / ppn]}
    [[ ${f[host]} == "$want" && ${f[netns]} == "$(netns_id "$want")" ]] || bad[a]+=" rank $r on ${f[host]}/${f[netns]}, not $want"
    [[ ${f[markers]} == "marker.$want" ]] || bad[b]+=" rank $r sees ${f[markers]}"
    [[ ${f[token]} == "$token" && ${f[shared_rw]} == ok ]] || bad[c]+=" rank $r token ${f[token]} rw ${f[shared_rw]}"
    [[ ${f[allreduce]} == ok && ${f[ring]} == ok ]] || bad[d]+=" rank $r allreduce ${f[allreduce]} ring ${f[ring]}"
    [[ ${f[node_size]} == "$ppn" && ${f[host_count]} == "$ppn" && ${f[node_same]} == 1 ]] ||
      bad[e]+=" rank $r node_size ${f[node_size]} same ${f[node_same]}"
    [[ ${f[probe]} == "$STRATA_CLUSTER_PROBE" && ${f[unforwarded]} == unset ]] ||
      bad[env]+=" rank $r probe ${f[probe]} unforwarded ${f[unforwarded]}"
  done < <(grep '^rank=' "$out")
  report a "each rank's hostname and network namespace are its node's"
  report b "each rank sees only its own node's marker in /strata/local"
  report c "every rank sees /strata/shared (host's token, rank 0's file)"
  report d "MPI_Allreduce and a point-to-point ring across nodes over TCP"
  report e "MPI_COMM_TYPE_SHARED groups exactly the $ppn rank(s) of each node"
  report env "STRATA_* reaches the ranks, other variables do not"
  echo "info: $what took $(secs $((t1 - t0))) s"
  rm -f "$out" "$out.err"
}
report() {
  if [[ -z ${bad[$1]:-} ]]; then pass "($1) $what: $2"; else fail "($1) $what: $2:${bad[$1]}"; fi
}

# a rank killed with SIGKILL must make mpirun exit non-zero within a few seconds
check_kill() {
  local out pid rc=0 t0 t1 mpi waited=0
  out=$(mktemp)
  timeout 60 "$cluster" mpirun --hosts node1:1,node2:1,node3:1 -- "$prog" hang > "$out" 2>&1 &
  mpi=$!
  while [[ $(grep -c '^ready' "$out") -lt 3 && $waited -lt 200 ]]; do sleep 0.1; waited=$((waited + 1)); done
  pid=$(sed -n 's/^ready rank=[0-9]* host=node2 pid=\([0-9]*\)$/\1/p' "$out")
  if [[ -z $pid || $(readlink "/proc/$pid/ns/net") != "$(netns_id node2)" ]]; then
    fail "(g) kill: no rank found on node2"; kill "$mpi" 2>/dev/null || true; wait "$mpi" || true; rm -f "$out"; return
  fi
  t0=$(ms)
  kill -KILL "$pid"
  wait "$mpi" || rc=$?
  t1=$(ms)
  local took; took=$(secs $((t1 - t0)))
  if [[ $rc -ne 0 && $rc -ne 124 ]] && (( t1 - t0 < 10000 )); then
    pass "(g) SIGKILL of the rank on node2: mpirun exited $rc after $took s"
  else
    fail "(g) SIGKILL of the rank on node2: mpirun exited $rc after $took s"; sed 's/^/  | /' "$out" | head -20
  fi
  rm -f "$out"
}

do_checks() {
  local i n
  for i in 1 2 3 4; do
    "$cluster" exec "node$i" -- sh -c "rm -f /strata/local/marker.*; echo node$i > /strata/local/marker.node$i"
  done
  token=token-$$-$RANDOM
  echo "$token" > /strata/shared/token
  export STRATA_CLUSTER_PROBE=probe-$$ CLUSTER_UNFORWARDED=yes

  check_run node1:1,node2:1,node3:1 1
  check_run node1:2,node2:2,node3:2 2

  # (f) node3 loses its disk; the others keep theirs; node4 stands in as a spare
  "$cluster" wipe node3 > /dev/null
  n=$("$cluster" exec node3 -- find /strata/local -mindepth 1 | wc -l)
  local kept=1
  for i in 1 2 4; do "$cluster" exec "node$i" -- test -e "/strata/local/marker.node$i" || kept=0; done
  if [[ $n -eq 0 && $kept -eq 1 ]]; then pass "(f) wipe node3: node3's /strata/local empty, node1, node2, node4 untouched"
  else fail "(f) wipe node3: $n entries left on node3, others kept: $kept"; fi
  check_run node1:1,node2:1,node4:1 1

  check_kill

  for i in 1 2 4; do "$cluster" exec "node$i" -- rm -f "/strata/local/marker.node$i"; done
  rm -f /strata/shared/token
}

need_prog() {
  prog=${1:-}
  if [[ -z $prog ]]; then
    tmp=$(mktemp -d /tmp/strata-cluster-check.XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    "${MPICC:-mpicc}" -O2 -o "$tmp/cluster_hello" "$here/cluster_hello.c"
    prog=$tmp/cluster_hello
  fi
  prog=$(realpath "$prog")
}

case ${1:-} in
  --up) do_up ;;
  --down) do_down ;;
  --checks)
    "$cluster" status > /dev/null || { echo "FAIL the cluster is not up (check_cluster.sh --up)"; exit 1; }
    need_prog "${2:-}"; do_checks ;;
  *)
    need_prog "${1:-}"
    do_up
    do_checks
    do_down ;;
esac
if [[ $failures -eq 0 ]]; then echo "all checks passed"; else echo "$failures check(s) failed"; exit 1; fi
