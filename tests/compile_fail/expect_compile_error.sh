#!/usr/bin/env bash
# Builds TARGET in BUILD_DIR; the build must fail with MESSAGE in the compiler's output and, when
# MAX_ERRORS is given, with at most that many "error" lines (the promised sentence, not a cascade).
#
#   expect_compile_error.sh CMAKE BUILD_DIR TARGET MESSAGE [MAX_ERRORS]
set -u
cmake=$1; build=$2; target=$3; message=$4; max_errors=${5:-}
out=$("$cmake" --build "$build" --target "$target" 2>&1)
rc=$?
fail() { echo "$out"; echo "FAIL [$target]: $*"; exit 1; }
[ $rc -ne 0 ] || fail "it compiled"
grep -qF -- "$message" <<< "$out" || fail "the compiler does not say: $message"
errors=$(grep -cE "(^|[: ])error( [A-Z0-9#]+)?:" <<< "$out")
[ -z "$max_errors" ] || [ "$errors" -le "$max_errors" ] || fail "$errors errors, expected at most $max_errors"
echo "ok [$target]: $(grep -m 1 -F -- "$message" <<< "$out" | sed 's/^.*\(error\)/\1/')"
