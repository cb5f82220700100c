"""Helpers shared by the comparison scripts in this directory (Python 3 stdlib only).

Every measurement here is of a whole process, ours or a reference tool's, started with
`subprocess.Popen` and reaped with `os.wait4`, which reports that child's own CPU time and
peak RSS (with those of any children it waited for, e.g. the programs of a shell pipeline).
"""

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def cargo_build_all(targets):
    """Builds release targets, each `(package, "bin" or "example", name)`, in one cargo
    call, and returns {name: executable path} wherever CARGO_TARGET_DIR points (cargo
    reports it). One call matters: cargo unifies features per call, so building the
    packages one by one would compile the shared dependencies again."""
    command = ["cargo", "build", "--release", "--message-format=json-render-diagnostics"]
    for package in dict.fromkeys(package for package, _, _ in targets):
        command += ["-p", package]
    for _, kind, name in targets:
        command += [f"--{kind}", name]
    result = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, check=True, text=True)
    found = {}
    for line in result.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable"):
            found[message["target"]["name"]] = message["executable"]
    missing = [name for _, _, name in targets if name not in found]
    if missing:
        sys.exit(f"cargo did not report the executables {missing}")
    return found


def cargo_build(package, target_kind, name):
    """Builds one release target (`bin` or `example`) and returns its executable path."""
    return cargo_build_all([(package, target_kind, name)])[name]


def require(*programs):
    for program in programs:
        if shutil.which(program) is None:
            sys.exit(f"{program} is not installed (apt-get install openssl 7zip)")


def tool_version(argv):
    """First line of a tool's version output."""
    output = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True).stdout.strip().splitlines()
    return next((line.strip() for line in output if line.strip()), "unknown")


class Sample:
    """One whole-process run: wall seconds, CPU seconds (user + sys), and peak RSS in KiB
    (filled in by `interleaved` from a separate run, see `peak_rss_kib`)."""

    __slots__ = ("wall", "cpu", "rss_kib")

    def __init__(self, wall, cpu, rss_kib):
        self.wall, self.cpu, self.rss_kib = wall, cpu, rss_kib


def run_once(argv, cwd=None, env=None, ok_codes=(0,)):
    """Runs `argv` to completion and returns its Sample. A failing run stops the script:
    a benchmark of an error path would measure the wrong thing."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in ok_codes:
        sys.exit(f"failed (exit {code}): {' '.join(argv)}\n{stderr[-2000:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def run_capture(argv, cwd=None, env=None):
    """Like run_once, also returning the process's standard output as text."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    output = process.stdout.read().decode(errors="replace")
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{output[-2000:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss), output


def peak_rss_kib(argv, cwd=None, env=None):
    """Peak RSS of one run of `argv`, from GNU time's own `wait4`, or None without
    /usr/bin/time. Not from our `wait4`: a child forked from this Python process carries
    Python's resident size (about 25 MiB) as its high-water mark into the `exec`."""
    if not os.path.exists("/usr/bin/time"):
        return None
    with tempfile.NamedTemporaryFile("r") as report:
        run_once(["/usr/bin/time", "-f", "%M", "-o", report.name, *argv], cwd=cwd, env=env)
        return int(report.read().strip().splitlines()[-1])


def interleaved(contestants, runs, warmup=True):
    """Runs each contestant `runs` times, alternating A B A B (and B A on odd rounds, so
    neither always runs on the warmer machine), after one untimed warm-up run each.

    `contestants` maps a label to a function `make(i) -> (argv, cwd, env)` that prepares
    run i (fresh output paths). Returns {label: [Sample, ...]}.
    """
    labels = list(contestants)
    samples = {label: [] for label in labels}
    if warmup:
        for label in labels:
            run_once(*contestants[label](-1))
    for i in range(runs):
        order = labels if i % 2 == 0 else list(reversed(labels))
        for label in order:
            samples[label].append(run_once(*contestants[label](i)))
    # One more, untimed run each under GNU time for the peak RSS.
    for label in labels:
        rss = peak_rss_kib(*contestants[label](runs))
        for sample in samples[label]:
            sample.rss_kib = rss
    return samples


def median(values):
    return statistics.median(values)


def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(samples):
    """Medians of wall ms, CPU ms and peak RSS MiB, and the wall p90 in ms."""
    return {
        "wall_ms": median([s.wall for s in samples]) * 1000,
        "wall_p90_ms": percentile([s.wall for s in samples], 0.9) * 1000,
        "cpu_ms": median([s.cpu for s in samples]) * 1000,
        "rss_mib": (samples[0].rss_kib or 0) / 1024,
        "runs": len(samples),
    }


def random_code():
    """A code of the same shape as AutoCSR's (28 Crockford symbols in groups of 5)."""
    symbols = "".join(secrets.choice(CROCKFORD) for _ in range(28))
    return "-".join(symbols[i:i + 5] for i in range(0, len(symbols), 5))
