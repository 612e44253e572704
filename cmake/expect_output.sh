#!/usr/bin/env bash
# expect_output.sh REGEX COMMAND [ARGS...]: runs COMMAND with its output passed through, and succeeds
# only when it exits with status 0 and its output (stdout and stderr) has a line matching the extended
# regular expression REGEX. CTest's PASS_REGULAR_EXPRESSION alone ignores the exit status, so a program
# that prints its success line and then crashes (in MPI_Finalize, a destructor, a second rank) would pass.
set -uo pipefail
regex=$1
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
  echo "expect_output: '$1' exited with status $rc" >&2
  exit "$rc"
fi
if ! grep -Eq -- "$regex" "$out"; then
  echo "expect_output: '$1' exited with 0 but printed no line matching '$regex'" >&2
  exit 1
fi
