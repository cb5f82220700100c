#!/usr/bin/env python3
"""Whole-process seal time of autocsr-archive vs 7-Zip, and peak memory opening hostile
archives, measured side by side in one run (python3 stdlib only).

    python3 benches/compare/archive.py [--runs N]

Builds the crate's `seal` and `open` examples in release mode, then for a realistic bundle
(key ~1.7 KB, CSR ~1 KB, README) times, interleaved run by run:
  ours zip  vs `7zz a -tzip -mem=AES256`   (goal: ours <= 0.5x)
  ours 7z   vs `7zz a -t7z -mhe=on`        (goal: ours <= 1.0x; both 2^19 KDF rounds)
and reports medians and ratios. Then it opens hostile archives (declared-size bombs, an
archive just under the 16 MiB limit) with the `open` example and reports each child's
peak RSS (wait4 rusage) against the goal: limits (16 MiB) + 16 MiB above a baseline.

The seal rows are also in `all.py` (the one command behind docs/PERFORMANCE.md); this
script adds the peak memory of opening hostile archives.
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
from common import cargo_build  # noqa: E402

PASSWORD = "7K4M-Q9TX-2WRB-N8DH-V3CJ-6YEZ-P5GA"
MIB = 1024 * 1024


def build():
    return (cargo_build("autocsr-archive", "example", "seal"),
            cargo_build("autocsr-archive", "example", "open"))


def pem(label, length):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = "".join(alphabet[(i * 31 + i // 7) % 64] for i in range(length))
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n".encode()


def write_bundle(directory):
    files = {
        "example.com.key": pem("PRIVATE KEY", 1620),
        "example.com.csr": pem("CERTIFICATE REQUEST", 940),
        "README.txt": b"Your private key and CSR for example.com. Open with 7-Zip.\n" * 8,
    }
    for name, data in files.items():
        with open(os.path.join(directory, name), "wb") as handle:
            handle.write(data)
    return sorted(files)


def timed(command, cwd, env, output):
    """Returns (wall seconds, CPU seconds user+sys) of one whole-process run."""
    if os.path.exists(output):
        os.remove(output)  # 7zz a would update an existing archive
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {command}")
    return wall, usage.ru_utime + usage.ru_stime


def peak_rss_kib(command, env):
    """Runs command under /usr/bin/time (so the RSS high-water mark is the child's own, not
    inherited from this Python process) and returns (exit code, peak RSS KiB, stdout)."""
    with tempfile.NamedTemporaryFile("r") as report:
        result = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", report.name, *command],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        peak = int(report.read().strip().splitlines()[-1])
    return result.returncode, peak, result.stdout.decode(errors="replace").strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    sevenzip = shutil.which("7zz")
    if not sevenzip:
        sys.exit("7zz not found (Debian package 7zip)")
    seal, opener = build()
    version = subprocess.run([sevenzip, "i"], capture_output=True, text=True).stdout.strip().splitlines()[0]
    env = dict(os.environ, AUTOCSR_ARCHIVE_PASSWORD=PASSWORD, LC_ALL="C.UTF-8")

    with tempfile.TemporaryDirectory() as work:
        names = write_bundle(work)
        commands = {
            "ours zip": [seal, "zip", "ours.zip", *names],
            "7zz zip": [sevenzip, "a", "-bd", "-tzip", "-mem=AES256", f"-p{PASSWORD}", "ref.zip", *names],
            "ours 7z": [seal, "7z", "ours.7z", *names],
            "7zz 7z": [sevenzip, "a", "-bd", "-t7z", "-mhe=on", f"-p{PASSWORD}", "ref.7z", *names],
        }
        outputs = {"ours zip": "ours.zip", "7zz zip": "ref.zip", "ours 7z": "ours.7z", "7zz 7z": "ref.7z"}
        walls = {label: [] for label in commands}
        cpus = {label: [] for label in commands}
        for label, command in commands.items():  # warm-up (page cache, dynamic loader)
            timed(command, work, env, os.path.join(work, outputs[label]))
        for _ in range(args.runs):
            for label, command in commands.items():
                wall, cpu = timed(command, work, env, os.path.join(work, outputs[label]))
                walls[label].append(wall)
                cpus[label].append(cpu)
        wall = {label: statistics.median(values) * 1000 for label, values in walls.items()}
        cpu = {label: statistics.median(values) * 1000 for label, values in cpus.items()}

        print(f"# seal, whole process, median of {args.runs} interleaved runs ({version})")
        print(f"{'':9s} {'wall ms':>9s} {'cpu ms':>9s}")
        for label in commands:
            print(f"{label:9s} {wall[label]:9.2f} {cpu[label]:9.2f}")
        for fmt, goal in (("zip", 0.5), ("7z", 1.0)):
            w = wall[f"ours {fmt}"] / wall[f"7zz {fmt}"]
            c = cpu[f"ours {fmt}"] / max(cpu[f"7zz {fmt}"], 1e-9)
            verdict = "MET" if w <= goal else "NOT MET"
            print(f"{fmt:3s} ours/7zz: wall {w:.2f}, cpu {c:.2f} (goal wall <= {goal}) {verdict}")

        # Hostile archives for the memory goal.
        zeros = os.path.join(work, "zeros.bin")
        with open(zeros, "wb") as handle:
            for _ in range(64):
                handle.write(b"\0" * MIB)
        near_limit = os.path.join(work, "random.bin")
        with open(near_limit, "wb") as handle:
            for _ in range(15):
                handle.write(os.urandom(MIB))
        hostile = {
            "zip: 64 MiB of zeros (declared-size bomb)": ("bomb.zip", ["-tzip", "-mem=AES256"], zeros),
            "7z: 64 MiB of zeros (declared-size bomb)": ("bomb.7z", ["-t7z", "-mhe=on"], zeros),
            "zip: 15 MiB random (opens, at the limit)": ("big.zip", ["-tzip", "-mem=AES256", "-mx1"], near_limit),
            "7z: 15 MiB random (opens, at the limit)": ("big.7z", ["-t7z", "-mhe=on", "-mx1"], near_limit),
        }
        small = os.path.join(work, "ours.7z")
        _, baseline, _ = peak_rss_kib([opener, small], env)
        print(f"\n# peak RSS opening archives (`open` example, default limits); baseline (small 7z) {baseline / 1024:.1f} MiB")
        goal = 16 + 16
        for label, (name, flags, source) in hostile.items():
            path = os.path.join(work, name)
            subprocess.run(
                [sevenzip, "a", "-bd", *flags, f"-p{PASSWORD}", path, os.path.basename(source)],
                cwd=work, check=True, stdout=subprocess.DEVNULL,
            )
            code, peak, out = peak_rss_kib([opener, path], env)
            above = (peak - baseline) / 1024
            verdict = "MET" if above <= goal else "NOT MET"
            print(f"{label:45s} peak {peak / 1024:6.1f} MiB (+{above:5.1f} over baseline, goal <= +{goal}) {verdict}: {out}")


if __name__ == "__main__":
    main()
