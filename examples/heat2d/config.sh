#!/usr/bin/env bash
# heat2d with a configuration file (SPEC O2): --config FILE and STRATA_CONFIG choose the snapshot,
# the storage and the trigger of the same binary; STRATA_* variables override the file, flags given
# on the command line override both. A run killed mid-way and resumed from the configured
# checkpoints prints the checksum of an uninterrupted run; a bad file stops heat2d with status 1 and
# a message naming the file, the line and the key.
set -u
exe=$1; np=$2; work=$3
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
run() { "$mpirun" -n "$np" $flags "$exe" --n 64 --steps 40 --quiet --step-delay-ms 5 "$@"; }
snapshot_of() { grep -h '"snapshot"' "$1" | sed 's/.*: *"\(.*\)".*/\1/'; }
storage_of() { grep -h '"storage"' "$1" | sed 's/.*: *"\(.*\)".*/\1/'; }

run --dir "$work/clean" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; fail "uninterrupted run"; }
want=$(tail -n 1 "$work/clean.out")
[[ $want =~ ^checksum\ [0-9a-f]{16}$ ]] || { cat "$work/clean.out"; fail "last line is not a checksum"; }

# 1. --config: incremental snapshots over two levels, every 10th step; killed at step 35, resumed.
cat > "$work/levels.toml" <<TOML
directory = "$work/ckpt"
[snapshot]
kind = "incremental"
incremental.block_bytes = 4096
[storage]
kind = "multilevel"
multilevel.flush_every = 2
[trigger]
kind = "every_n"
every_n.n = 10
TOML
run --config "$work/levels.toml" --crash-at-step 35 --crash-rank $((np - 1)) > "$work/killed.out" 2>&1 &&
  { cat "$work/killed.out"; fail "the run that should die succeeded"; }
run --config "$work/levels.toml" --crash-at-step 35 --crash-rank $((np - 1)) > "$work/resumed.out" 2>&1 ||
  { cat "$work/resumed.out"; fail "resumed run failed (status $?)"; }
grep -q "^resumed from version 3 at step 30$" "$work/resumed.out" || { cat "$work/resumed.out"; fail "no resume from version 3"; }
[ "$(tail -n 1 "$work/resumed.out")" = "$want" ] || fail "checksum after resuming differs ($want)"
m="$work/ckpt/fast/v00000004.manifest.json"
[ -f "$m" ] || { ls -R "$work/ckpt"; fail "no version 4 on the fast level"; }
[ "$(snapshot_of "$m")" = incremental ] && [ "$(storage_of "$m")" = multilevel ] || { cat "$m"; fail "manifest does not name incremental/multilevel"; }
[ -f "$work/ckpt/v00000002.manifest.json" ] && [ -f "$work/ckpt/v00000004.manifest.json" ] ||
  { ls "$work/ckpt"; fail "versions 2 and 4 not committed on the slow level (flush_every = 2)"; }
[ -f "$work/ckpt/v00000003.manifest.json" ] && fail "version 3 committed on the slow level (flush_every = 2)"

# 2. STRATA_CONFIG names the file; a STRATA_* variable overrides it; a flag given overrides both.
STRATA_CONFIG="$work/levels.toml" STRATA_DIRECTORY="$work/env" STRATA_TRIGGER_EVERY_N_N=20 STRATA_STORAGE=posix \
  run --snapshot full > "$work/env.out" 2>&1 || { cat "$work/env.out"; fail "run with STRATA_CONFIG"; }
[ "$(tail -n 1 "$work/env.out")" = "$want" ] || fail "checksum with STRATA_CONFIG differs"
ls "$work/env" | grep -q manifest || fail "STRATA_DIRECTORY not used"
[ "$(ls "$work/env" | grep -c 'manifest.json$')" = 2 ] || { ls "$work/env"; fail "STRATA_TRIGGER_EVERY_N_N=20 over 40 steps: 2 versions expected"; }
[ "$(snapshot_of "$work/env/v00000002.manifest.json")" = full ] || fail "--snapshot full did not override the file"
[ "$(storage_of "$work/env/v00000002.manifest.json")" = posix_dir ] || fail "STRATA_STORAGE=posix did not override the file"

# 3. A mistake in the file: status 1, the file, the line and the key named, with a suggestion.
printf 'directory = "%s"\n[trigger]\nkind = "every_n"\nevery_n.m = 4\n' "$work/bad" > "$work/bad.toml"
run --config "$work/bad.toml" > "$work/bad.out" 2>&1; rc=$?
[ $rc -eq 1 ] || { cat "$work/bad.out"; fail "bad file: status $rc, expected 1"; }
grep -q "bad.toml:4:[0-9]*: unknown key 'trigger.every_n.m' (did you mean 'trigger.every_n.n'?)" "$work/bad.out" ||
  { cat "$work/bad.out"; fail "no message naming file, line and key"; }
STRATA_SNAPSHOT=delta run --dir "$work/bad2" > "$work/bad2.out" 2>&1 && fail "STRATA_SNAPSHOT=delta accepted"
grep -q "environment variable STRATA_SNAPSHOT" "$work/bad2.out" || { cat "$work/bad2.out"; fail "bad variable not named"; }
echo "PASS: --config, STRATA_CONFIG, STRATA_* and flags; $want"
