#!/usr/bin/env python3
"""Compile time and memory of the 10-line checkpointing program (SPEC O4), side by side with the
same program in plain MPI + stdio, in one run: each translation unit is compiled with the exact
command CMake generated for it (read from the Ninja build), the variants interleaved, N rounds.

Variants:
  plain        plain_mpi.cpp                                  (the baseline)
  header_only  ten_lines.cpp, strata header-only              (the default)
  separate     ten_lines.cpp with STRATA_SEPARATE_COMPILATION (strata::separate)
  separate_lib cmake/strata_separate.cpp: the definitions, compiled once per build, not per file

Writes compile_time.json, compile_time.csv and (with gnuplot) compile_time.png into --out, prints
a table of medians and ratios. --max-time-ratio / --max-memory-mib make it a check: exit 1 when the
separate variant's median exceeds either (the CI ceiling; see docs/compile-time.md).
"""
import argparse, json, os, shlex, statistics, subprocess, sys, tempfile, time

VARIANTS = [  # name, ninja target, source file it compiles
    ("plain", "compile_time_plain", "plain_mpi.cpp"),
    ("header_only", "compile_time_header_only", "ten_lines.cpp"),
    ("separate", "compile_time_separate", "ten_lines.cpp"),
    ("separate_lib", "strata_separate", "strata_separate.cpp"),
]


def compile_command(build, target, source):
    out = subprocess.run(["ninja", "-C", build, "-t", "commands", target], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if " -c " in line and line.rstrip().endswith(source):
            args = shlex.split(line)
            # drop the dependency-file flags and the object path: each run writes a scratch object
            keep, skip = [], 0
            for i, a in enumerate(args):
                if skip:
                    skip -= 1
                    continue
                if a in ("-MD", "-MMD"):
                    continue
                if a in ("-MT", "-MF", "-o"):
                    skip = 1
                    continue
                keep.append(a)
            return keep
    sys.exit(f"compile_time.py: no compile command for {source} in target {target} of {build}")


def measure(cmd, cwd, obj):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd + ["-o", obj], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"compile_time.py: compile failed:\n{shlex.join(cmd)}\n{err}")
    return seconds, ru.ru_maxrss / 1024.0  # MiB (ru_maxrss is KiB on Linux)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="the CMake build tree (Ninja)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=".")
    ap.add_argument("--max-time-ratio", type=float)
    ap.add_argument("--max-memory-mib", type=float)
    ap.add_argument("--variants", default=",".join(n for n, _, _ in VARIANTS),
                    help="comma-separated subset (plain and separate are always measured)")
    a = ap.parse_args()
    wanted = set(a.variants.split(",")) | {"plain", "separate"}
    variants = [v for v in VARIANTS if v[0] in wanted]
    cmds = {name: compile_command(a.build, target, src) for name, target, src in variants}
    runs = {name: [] for name, _, _ in variants}
    with tempfile.TemporaryDirectory() as tmp:
        obj = os.path.join(tmp, "x.o")
        for r in range(a.rounds):
            for name, _, _ in variants:
                runs[name].append(measure(cmds[name], a.build, obj))
            print(f"round {r + 1}/{a.rounds}: " + ", ".join(f"{n} {runs[n][-1][0]:.2f} s" for n, _, _ in variants), flush=True)
    med = {n: {"seconds": statistics.median(s for s, _ in v), "memory_mib": statistics.median(m for _, m in v)} for n, v in runs.items()}
    base = med["plain"]
    for n, m in med.items():
        m["time_ratio"] = m["seconds"] / base["seconds"]
        m["memory_ratio"] = m["memory_mib"] / base["memory_mib"]
    result = {"benchmark": "compile_time", "rounds": a.rounds, "host": os.uname().nodename, "cpus": os.cpu_count(),
              "compiler": cmds["plain"][0], "goal": {"time_ratio": 3.0, "memory_mib": 250.0},
              "median": med, "runs": {n: [{"seconds": s, "memory_mib": m} for s, m in v] for n, v in runs.items()},
              "commands": {n: shlex.join(c) for n, c in cmds.items()}}
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "compile_time.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(a.out, "compile_time.csv"), "w") as f:
        f.write("variant,median_seconds,median_memory_mib,time_ratio,memory_ratio\n")
        for n, m in med.items():
            f.write(f"{n},{m['seconds']:.3f},{m['memory_mib']:.1f},{m['time_ratio']:.2f},{m['memory_ratio']:.2f}\n")
    print(f"{'variant':<14}{'seconds':>9}{'MiB':>8}{'time x':>8}{'mem x':>7}")
    for n, m in med.items():
        print(f"{n:<14}{m['seconds']:>9.2f}{m['memory_mib']:>8.0f}{m['time_ratio']:>8.2f}{m['memory_ratio']:>7.2f}")
    plot(a.out, med)
    sep, bad = med["separate"], []
    if a.max_time_ratio is not None and sep["time_ratio"] > a.max_time_ratio:
        bad.append(f"time {sep['time_ratio']:.2f}x the plain program (ceiling {a.max_time_ratio}x)")
    if a.max_memory_mib is not None and sep["memory_mib"] > a.max_memory_mib:
        bad.append(f"memory {sep['memory_mib']:.0f} MiB (ceiling {a.max_memory_mib:.0f} MiB)")
    if bad:
        print("compile_time: the 10-line program with strata::separate is over its ceiling: " + "; ".join(bad))
        return 1
    return 0


def plot(out, med):
    fd, dat = tempfile.mkstemp(suffix=".dat")
    with os.fdopen(fd, "w") as f:
        for n, m in med.items():
            f.write(f"{n} {m['time_ratio']:.3f} {m['memory_ratio']:.3f}\n")
    script = f"""set terminal pngcairo size 800,480 font ",10" noenhanced
set output "{os.path.join(out, 'compile_time.png')}"
set title "10-line checkpointing program: compile time and memory over plain MPI + stdio (median)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "x plain MPI program"
set grid ytics
set yrange [0:*]
set arrow from graph 0, first 3 to graph 1, first 3 nohead dt 2 lc rgb "red"
set label "goal 3x" at graph 0.02, first 3.3 tc rgb "red"
plot "{dat}" using 2:xtic(1) title "time", "" using 3 title "memory"
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"compile_time: no plot ({e})")
    finally:
        os.unlink(dat)


if __name__ == "__main__":
    sys.exit(main())
