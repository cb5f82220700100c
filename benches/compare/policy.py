#!/usr/bin/env python3
"""Whole-process comparison: autocsr-policy's checker against `openssl req -verify`.

    python3 benches/compare/policy.py [--files 200] [--runs 5]

Builds the release example `check_files` of autocsr-policy, writes N copies of the
RSA-2048 (and P-256) test CSR to a temporary directory, then times, interleaved in the
same run and pinned to one core (`taskset -c 0` when available):

  ours:      check_files F1 ... FN          (one process; every check: intake, decode,
             self-signature, key size/exponent, small factors, Fermat, ROCA, all name rules)
  reference: openssl req -verify -noout -in Fi   for every file (one process per file;
             self-signature only, no policy)

and a throughput figure for ours alone (`--repeat`, so process start-up is amortised).
Prints medians of CSRs/s and the ratio. Python 3 stdlib only.

`all.py` (the one command behind docs/PERFORMANCE.md) compares `autocsr check-csr` per
file; this script adds the many-files-in-one-process and in-process throughput figures.
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
from common import REPO, cargo_build  # noqa: E402

DATA = os.path.join(REPO, "crates", "autocsr-policy", "tests", "data", "csr")


def pin():
    return ["taskset", "-c", "0"] if shutil.which("taskset") else []


def time_ours(binary, files, repeat=1):
    start = time.perf_counter()
    subprocess.run(pin() + [binary, "--repeat", str(repeat)] + files, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def time_openssl(files):
    start = time.perf_counter()
    for path in files:
        subprocess.run(pin() + ["openssl", "req", "-verify", "-noout", "-in", path], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=20,
                        help="passes over the files for the in-process throughput figure")
    args = parser.parse_args()
    if not shutil.which("openssl"):
        sys.exit("openssl not found")
    binary = cargo_build("autocsr-policy", "example", "check_files")
    version = subprocess.run(["openssl", "version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        for kind, source in [("rsa2048", "good-rsa-2048-sha256.pem"),
                             ("p256", "good-ecdsa-p256-sha256.pem")]:
            with open(os.path.join(DATA, source), "rb") as handle:
                pem = handle.read()
            files = []
            for index in range(args.files):
                path = os.path.join(tmp, f"{kind}-{index}.pem")
                with open(path, "wb") as handle:
                    handle.write(pem)
                files.append(path)
            ours, theirs, throughput = [], [], []
            for _ in range(args.runs):
                ours.append(args.files / time_ours(binary, files))
                theirs.append(args.files / time_openssl(files))
                throughput.append(args.files * args.repeat / time_ours(binary, files, args.repeat))
            print(f"{kind}: {args.files} files, {args.runs} runs, one core ({version})")
            print(f"  ours, one process for all files : median {statistics.median(ours):9.0f} CSRs/s")
            print(f"  ours, in-process throughput     : median {statistics.median(throughput):9.0f} CSRs/s")
            print(f"  openssl req -verify per file    : median {statistics.median(theirs):9.0f} CSRs/s")
            print(f"  ratio ours/openssl (whole process): {statistics.median(ours) / statistics.median(theirs):.1f}x")


if __name__ == "__main__":
    main()
