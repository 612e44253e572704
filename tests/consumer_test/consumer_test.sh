#!/usr/bin/env bash
# The installed package, as a user gets it (SPEC O5):
#  1. cmake --install into a prefix, then mv the prefix elsewhere: everything below uses
#     the moved one, so nothing may point at the first prefix, the source or build tree;
#  2. the package's CMake files name no absolute path of this machine (dependencies are
#     found at the consumer's configure time);
#  3. <prefix>/bin/strata_inspect --help runs;
#  4. tests/consumer built with the default device system (OMP here), runs under mpiexec -n 2,
#     both header-only (consumer) and with strata::separate (consumer_separate);
#  4b. with the C API in the package: consumer_c (CMake, strata::c) and the same C file built by
#     hand with mpicc and the flags docs/c-fortran.md gives, both run under mpiexec -n 2;
#  4c. with the Fortran module in the package: consumer_f (CMake, strata::fortran) and by hand with
#     mpifort, both run under mpiexec -n 2;
#  5. consumer_system configured with -DSTRATA_THRUST_DEVICE_SYSTEM=CPP: built and run;
#  6. when nvcc exists, consumer_system compiled by nvcc as CUDA (sm_90), one TU, not run
#     (skipped, with a message, without nvcc or with STRATA_TEST_NVCC=none).
# usage: consumer_test.sh CMAKE SOURCE_DIR BUILD_DIR WORK CXX MPIEXEC [MPIEXEC_FLAGS...]
set -euo pipefail
cmake=$1 src=$2 tree=$3 work=$4 cxx=$5 mpiexec=$6
shift 6
start=$SECONDS
t() { echo "consumer_test: $* ($(( SECONDS - start )) s)"; }
quiet() { local log=$work/last.log; if ! "$@" > "$log" 2>&1; then cat "$log"; echo "consumer_test: FAILED: $*"; exit 1; fi; }

rm -rf "$work"
mkdir -p "$work"
first=$work/prefix-first
prefix=$work/moved/prefix
quiet "$cmake" --install "$tree" --prefix "$first"
mkdir -p "$work/moved"
mv "$first" "$prefix"
t "installed, prefix moved to $prefix"

# 2. No absolute path of the installing machine in the package's CMake files.
bad=$(grep -rnE -e "$first" -e "$src" -e "$tree" -e '/usr/local/cuda' -e '\.so\b' -e '"/(usr|opt|home|work|tmp)/' \
        "$prefix/lib/cmake" || true)
if [ -n "$bad" ]; then
  echo "$bad"
  echo "consumer_test: FAILED: absolute paths in $prefix/lib/cmake"
  exit 1
fi
t "no absolute paths in lib/cmake"

# 3. The inspector is installed.
"$prefix/bin/strata_inspect" --help > "$work/inspect_help.txt"
grep -q -i usage "$work/inspect_help.txt" || { cat "$work/inspect_help.txt"; echo "consumer_test: FAILED: strata_inspect --help"; exit 1; }
t "$prefix/bin/strata_inspect --help runs"

common=(-DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx")

# 4. Default system, the checkpointing consumer under MPI.
quiet "$cmake" -S "$src/tests/consumer" -B "$work/build-default" "${common[@]}" -DCONSUMER_EXPECT=OMP
grep -o 'strata .* Thrust device system [A-Z]*' "$work/last.log" || true
quiet "$cmake" --build "$work/build-default" -j 2
"$mpiexec" -n 2 "$@" "$work/build-default/consumer" "$work/ckpt"
"$mpiexec" -n 2 "$@" "$work/build-default/consumer_separate" "$work/ckpt-separate"
"$work/build-default/consumer_system"
t "default system: built and ran"
if [ -f "$prefix/include/strata/c/strata.h" ]; then
  [ -x "$work/build-default/consumer_c" ] || { echo "consumer_test: FAILED: the package has strata/c/strata.h but no strata::c"; exit 1; }
  "$mpiexec" -n 2 "$@" "$work/build-default/consumer_c" "$work/ckpt-c"
  mpicc=${MPICC:-mpicc}
  libdir=$(dirname "$(find "$prefix" -name libstrata_c.a | head -n 1)")
  # The Makefile-style build of docs/c-fortran.md (toml++, zstd, ISA-L where this strata has them).
  extra=()
  for lib in tomlplusplus zstd isal; do
    if "$cxx" -l$lib -shared -o /dev/null -x c /dev/null 2>/dev/null; then extra+=(-l$lib); fi
  done
  quiet "$mpicc" -std=c99 -Wall -Wextra -Werror -I"$prefix/include" "$src/tests/consumer/c_api.c" -c -o "$work/c_api.o"
  quiet "$mpicc" "$work/c_api.o" -L"$libdir" -lstrata_c "${extra[@]}" -fopenmp -lstdc++ -lm -o "$work/consumer_c_mpicc"
  "$mpiexec" -n 2 "$@" "$work/consumer_c_mpicc" "$work/ckpt-c-mpicc"
  t "C API: strata::c and mpicc builds ran"
fi
if [ -f "$prefix/include/strata/fortran/strata_f.mod" ]; then
  [ -x "$work/build-default/consumer_f" ] || { echo "consumer_test: FAILED: the package has strata_f.mod but no strata::fortran"; exit 1; }
  "$mpiexec" -n 2 "$@" "$work/build-default/consumer_f" "$work/ckpt-f"
  mpifort=${MPIFORT:-mpifort}
  quiet "$mpifort" -I"$prefix/include/strata/fortran" "$src/tests/consumer/f_api.f90" -c -o "$work/f_api.o"
  quiet "$mpifort" "$work/f_api.o" -L"$libdir" -lstrata_fortran -lstrata_c "${extra[@]}" -fopenmp -lstdc++ -lm -o "$work/consumer_f_mpifort"
  "$mpiexec" -n 2 "$@" "$work/consumer_f_mpifort" "$work/ckpt-f-mpifort"
  t "Fortran: strata::fortran and mpifort builds ran"
fi

# 5. The consumer picks CPP.
quiet "$cmake" -S "$src/tests/consumer" -B "$work/build-cpp" "${common[@]}" -DSTRATA_THRUST_DEVICE_SYSTEM=CPP -DCONSUMER_EXPECT=CPP
quiet "$cmake" --build "$work/build-cpp" --target consumer_system
"$work/build-cpp/consumer_system"
t "STRATA_THRUST_DEVICE_SYSTEM=CPP: built and ran"

# 6. The consumer picks CUDA by enabling the language: one TU through nvcc, not run (no GPU needed).
# STRATA_TEST_NVCC=<path> picks the nvcc, STRATA_TEST_NVCC=none skips this step.
if [ -n "${STRATA_TEST_NVCC:-}" ]; then
  nvcc=$STRATA_TEST_NVCC
else
  nvcc=$(command -v nvcc || true)
  [ -n "$nvcc" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc; } || true
fi
if [ -z "$nvcc" ] || [ "$nvcc" = none ]; then
  echo "consumer_test: nvcc not found (PATH, /usr/local/cuda/bin, STRATA_TEST_NVCC): CUDA consumer skipped"
else
  quiet "$cmake" -S "$src/tests/consumer" -B "$work/build-cuda" "${common[@]}" -DCONSUMER_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_HOST_COMPILER="$cxx" -DCONSUMER_EXPECT=CUDA
  grep -o 'strata .* Thrust device system [A-Z]*' "$work/last.log" || true
  quiet "$cmake" --build "$work/build-cuda" --target consumer_system
  t "CUDA system: consumer_system compiled by $nvcc (sm_90), not run"
fi
echo "consumer_test: all passed in $(( SECONDS - start )) s"
