# Sourced by the simulated-cluster test scripts once they have set `exe` (heat2d) and `work` (a
# scratch folder, emptied here). They define `args` (heat2d's arguments for every run) and
# `shared_glob` (what wipe_all removes under /strata/shared), and may set `fail_context` (added to
# every FAIL line), `run_timeout` (seconds, default 120) and `every` (passed as --every).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cluster=${STRATA_CLUSTER:-$(dirname "${BASH_SOURCE[0]}")/../../scripts/cluster}
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL${fail_context:+ ($fail_context)}: $*"; exit 1; }
run() {  # run HOSTS OUT [extra args]: heat2d on the nodes named, output to OUT
  local hosts=$1 out=$2; shift 2
  timeout "${run_timeout:-120}" "$cluster" mpirun --hosts "$hosts" -- "$exe" "${args[@]}" ${every:+--every "$every"} "$@" > "$out" 2>&1
}
wipe_all() {  # every node's local disk, and this script's folders on the shared one
  for n in node1 node2 node3 node4; do "$cluster" wipe $n > /dev/null; done
  rm -rf /strata/shared/${shared_glob:?}
}
on() { "$cluster" exec "$1" -- sh -c "$2"; }  # on NODE 'command'
require_cluster() { "$cluster" status > /dev/null || fail "the simulated cluster is not up (scripts/cluster up 4)"; }
