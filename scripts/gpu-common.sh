# Sourced by scripts/gpu and scripts/gpu-pack (not run): the programs of the CUDA suite and the
# configuration they are built with, in one place. Needs $root (the source tree).

# The unit-test programs that reach device code. The task flow's device tests are a program of their
# own in CUDA builds (unit_dag_device); host builds have them in unit_dag.
gpu_unit_tests() {
  local dag=unit_dag_device
  [ "$1" = CUDA ] || dag=unit_dag
  echo unit_snapshot unit_state unit_checkpoint "$dag"
}
# Every program a GPU run needs: those tests and the GPU benchmarks.
gpu_programs() { echo "$(gpu_unit_tests "$1")" bench_gpu_staging bench_incremental; }

# gpu_configure BUILD SYSTEM ARCH [cmake arguments...]: Release -O2 for the Thrust device system SYSTEM
# (ARCH: CMAKE_CUDA_ARCHITECTURES, CUDA only).
gpu_configure() {
  local build=$1 system=$2 arch=$3
  shift 3
  local args=(-G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O2
              -DCMAKE_CUDA_FLAGS_RELEASE=-O2 -DSTRATA_THRUST_DEVICE_SYSTEM="$system")
  [ "$system" = CUDA ] && args+=(-DCMAKE_CUDA_ARCHITECTURES="$arch")
  cmake "${args[@]}" "$@"
}
