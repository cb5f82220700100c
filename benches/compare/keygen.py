#!/usr/bin/env python3
"""Whole-process comparison: RSA-2048 key generation, autocsr-keygen against openssl.

    python3 benches/compare/keygen.py [--runs 15] [--with-csr]

Builds the release example `keygen` of autocsr-keygen, then times, interleaved in the
same run (so both see the same machine load):

  ours:      keygen --algorithm rsa2048 --key-only --out DIR
             (generate, encode PKCS#8 PEM, write the file with mode 0600)
  reference: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out DIR/key.pem

With --with-csr ours also signs and writes a CSR for one name (the example's normal job);
the reference stays key-only, so that only makes ours look worse.

Prints median, p90 and the ratio of medians ours/openssl (goal: <= 0.5). RSA keygen time
varies a lot from run to run (it depends on how soon primes are found), so use >= 15 runs.
Python 3 stdlib only.

`all.py` (the one command behind docs/PERFORMANCE.md) runs this comparison for every key
type; this script keeps the p90/min view and `--with-csr`.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cargo_build, percentile  # noqa: E402


def timed(argv):
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--with-csr", action="store_true")
    args = parser.parse_args()
    if args.runs < 1:
        sys.exit("--runs must be positive")
    openssl = shutil.which("openssl")
    if openssl is None:
        sys.exit("openssl is not installed")

    example = cargo_build("autocsr-keygen", "example", "keygen")
    version = subprocess.run([openssl, "version"], stdout=subprocess.PIPE, text=True,
                             check=True).stdout.strip()
    ours, reference = [], []
    with tempfile.TemporaryDirectory() as scratch:
        # One warm-up run each (page cache, dynamic loader), not counted.
        for run in range(args.runs + 1):
            ours_dir = os.path.join(scratch, f"ours-{run}")
            os.mkdir(ours_dir)
            ours_argv = [example, "--algorithm", "rsa2048", "--out", ours_dir]
            ours_argv += ["example.com"] if args.with_csr else ["--key-only"]
            reference_argv = [openssl, "genpkey", "-algorithm", "RSA", "-pkeyopt",
                              "rsa_keygen_bits:2048", "-out",
                              os.path.join(scratch, f"openssl-{run}.pem")]
            # Alternate which goes first, so neither always runs on a warmer machine.
            pair = [(ours, ours_argv), (reference, reference_argv)]
            if run % 2:
                pair.reverse()
            for samples, argv in pair:
                elapsed = timed(argv)
                if run > 0:
                    samples.append(elapsed)

    def row(name, samples):
        return (f"{name:<44} median {statistics.median(samples) * 1000:8.1f} ms"
                f"   p90 {percentile(samples, 0.9) * 1000:8.1f} ms"
                f"   min {min(samples) * 1000:7.1f} ms")

    ratio = statistics.median(ours) / statistics.median(reference)
    label = "autocsr-keygen example (key + CSR)" if args.with_csr else "autocsr-keygen example (key only)"
    print(f"RSA-2048 keygen, whole process, {args.runs} runs each, interleaved")
    print(row(label, ours))
    print(row(f"openssl genpkey ({version})", reference))
    print(f"ratio of medians ours/openssl: {ratio:.2f} (goal <= 0.50: "
          f"{'met' if ratio <= 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
