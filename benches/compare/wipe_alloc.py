#!/usr/bin/env python3
"""What the wiping global allocator costs: two `autocsr` binaries, whole process, A B A B.

    python3 benches/compare/wipe_alloc.py --without OLD/autocsr --with NEW/autocsr [--runs 21]

`--with` is a release build of this tree (`cargo build --release -p autocsr-cli`);
`--without` is the same build with the `#[global_allocator]` lines of
crates/autocsr-cli/src/main.rs removed (or a build of the commit before they were added).
Each case runs both binaries alternately, in fresh data and output directories, so a
machine that slows down or speeds up during the run affects both alike.

Prints, per case, the median wall time, median CPU time (user + sys) and median peak RSS
of each binary, and the ratios with/without. Python 3 stdlib only.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

CASES = [
    ("order p256 zip", ["--key", "p256", "--format", "zip"]),
    ("order p256 7z", ["--key", "p256", "--format", "7z"]),
    ("order rsa2048 zip", ["--key", "rsa2048", "--format", "zip"]),
    ("order rsa2048 7z", ["--key", "rsa2048", "--format", "7z"]),
]


def run_once(binary, args, scratch):
    """One `order` in fresh directories; returns (wall seconds, cpu seconds, peak KiB)."""
    data = tempfile.mkdtemp(dir=scratch)
    out = tempfile.mkdtemp(dir=scratch)
    argv = [binary, "order", "--data-dir", data, "--out", out,
            "--domain", "example.com", *args]
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{binary} {' '.join(args)} failed with status {status}")
    shutil.rmtree(data)
    shutil.rmtree(out)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--without", required=True, help="autocsr built without the allocator")
    parser.add_argument("--with", dest="with_", required=True, help="autocsr built with it")
    parser.add_argument("--runs", type=int, default=21, help="runs of each (default 21)")
    args = parser.parse_args()

    print(f"{'case':<20} {'without: wall  cpu   rss':>28} {'with: wall  cpu   rss':>28} "
          f"{'ratio wall':>10} {'cpu':>6} {'rss':>6}")
    with tempfile.TemporaryDirectory() as scratch:
        for name, case_args in CASES:
            results = {"without": [], "with": []}
            for _ in range(args.runs):
                for label, binary in (("without", args.without), ("with", args.with_)):
                    results[label].append(run_once(binary, case_args, scratch))
            medians = {
                label: [statistics.median(column) for column in zip(*runs)]
                for label, runs in results.items()
            }
            (w0, c0, r0), (w1, c1, r1) = medians["without"], medians["with"]
            print(f"{name:<20} {w0 * 1000:>10.1f}ms {c0 * 1000:>5.0f}ms {r0 / 1024:>5.1f}M"
                  f" {w1 * 1000:>11.1f}ms {c1 * 1000:>5.0f}ms {r1 / 1024:>5.1f}M"
                  f" {w1 / w0:>10.3f} {c1 / c0:>6.3f} {r1 / r0:>6.3f}")


if __name__ == "__main__":
    main()
