#!/usr/bin/env python3
"""Whole-process comparison: `autocsr order` against the shell pipeline a sysadmin writes.

    python3 benches/compare/pipeline.py [--runs 15]

Builds the `autocsr` binary (release), then times, interleaved in the same run:

  ours:      autocsr order --domain example.com --key rsa2048 --format zip
             (key + CSR, seal, open again and compare, store the code in the SQLite vault,
             write archive and CSR)
  reference: openssl req -new -newkey rsa:2048 -nodes -keyout k -out c \
                 -subj /CN=example.com -addext subjectAltName=DNS:example.com \
             && 7zz a -tzip -mem=AES256 -pCODE out.zip k c
             (no verification, no vault, and the key is left on disk)

Prints wall-clock medians, p90 and the ratio ours/reference (goal: <= 0.5), and the
median CPU time (user + sys) of each, which a loaded machine disturbs less. Python 3
stdlib only.

`all.py` (the one command behind docs/PERFORMANCE.md) runs this comparison for zip and 7z
and both key types; this script keeps the single-row view.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cargo_build, percentile, random_code  # noqa: E402


def timed(argv, cwd, env=None, cpu=None):
    """Wall time of one run; appends the children's CPU time (user + sys) to `cpu`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each (default 15)")
    args = parser.parse_args()

    for program in ("openssl", "7zz"):
        if shutil.which(program) is None:
            sys.exit(f"{program} is not installed (apt-get install openssl 7zip)")
    autocsr = cargo_build("autocsr-cli", "bin", "autocsr")

    ours, reference = [], []
    ours_cpu, reference_cpu = [], []
    with tempfile.TemporaryDirectory(prefix="autocsr-bench-") as scratch:
        data_dir = os.path.join(scratch, "vault")
        env = dict(os.environ, AUTOCSR_DATA_DIR=data_dir)
        # One untimed run each: page cache, vault creation.
        warm = os.path.join(scratch, "warm")
        os.makedirs(warm)
        timed([autocsr, "order", "--domain", "example.com", "--out", warm], scratch, env)
        for run in range(args.runs):
            out = os.path.join(scratch, f"ours-{run}")
            os.makedirs(out)
            ours.append(timed(
                [autocsr, "order", "--domain", "example.com", "--key", "rsa2048",
                 "--format", "zip", "--out", out], scratch, env, ours_cpu))

            work = os.path.join(scratch, f"ref-{run}")
            os.makedirs(work)
            script = (
                "openssl req -new -newkey rsa:2048 -nodes -keyout k -out c "
                "-subj /CN=example.com -addext subjectAltName=DNS:example.com "
                f"&& 7zz a -tzip -mem=AES256 -p{random_code()} out.zip k c")
            reference.append(timed(["sh", "-c", script], work, cpu=reference_cpu))

    ours_median = statistics.median(ours)
    ref_median = statistics.median(reference)
    ratio = ours_median / ref_median
    print(f"runs: {args.runs} each, interleaved")
    print(f"autocsr order (rsa2048, zip):      median {ours_median * 1000:7.1f} ms"
          f"   p90 {percentile(ours, 0.9) * 1000:7.1f} ms")
    print(f"openssl req && 7zz a (rsa2048):    median {ref_median * 1000:7.1f} ms"
          f"   p90 {percentile(reference, 0.9) * 1000:7.1f} ms")
    print(f"ratio ours/reference (medians):    {ratio:.2f}  (goal <= 0.50)")
    ours_cpu_median = statistics.median(ours_cpu)
    ref_cpu_median = statistics.median(reference_cpu)
    print(f"CPU time (user+sys) medians:       ours {ours_cpu_median * 1000:.1f} ms,"
          f" reference {ref_cpu_median * 1000:.1f} ms,"
          f" ratio {ours_cpu_median / ref_cpu_median:.2f}")


if __name__ == "__main__":
    main()
