#!/usr/bin/env python3
"""The vault on PostgreSQL against pgbench, in one run on one private cluster.

    python3 benches/compare/postgres.py [--records 1000000] [--pgbench-seconds 20] [--keys hsm|raw]

Runs `cargo bench -p autocsr-benches --bench postgres` (release build; needs Debian's
`postgresql` and, for the production shape, `softhsm2`), which starts a throw-away
cluster (initdb in a temp dir, Unix socket only, fsync on), loads the records with
`issue_many`, measures `reveal`, then in the same cluster the floors

  reference: pgbench -S -c 1 -T S                 (single-row select by primary key,
                                                   1,000,000 accounts at scale 10)
             pgbench -c 1 -T S -f update.sql      (one-row UPDATE committed alone)

the HSM's wrap/unwrap, and finally the purge of every record. Prints the benchmark's
output, then a summary of medians and ratios for docs/PERFORMANCE.md. Python 3 stdlib only.
One 10^6 run takes several minutes: do not run it twice at once on a shared machine.
"""

import argparse
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--pgbench-seconds", type=int, default=20)
    parser.add_argument("--keys", choices=["hsm", "raw"], default=None,
                        help="hsm: SoftHSM2 wrapper (default when installed); raw: hazmat")
    args = parser.parse_args()
    env = dict(os.environ)
    env["AUTOCSR_BENCH_PG_RECORDS"] = str(args.records)
    env["AUTOCSR_BENCH_PGBENCH_SECONDS"] = str(args.pgbench_seconds)
    if args.keys:
        env["AUTOCSR_BENCH_PG_KEYS"] = args.keys
    run = subprocess.run(
        ["cargo", "bench", "-p", "autocsr-benches", "--bench", "postgres"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, check=False)
    sys.stdout.write(run.stdout)
    if run.returncode != 0:
        sys.exit(f"the benchmark failed (exit {run.returncode})")

    def find(pattern):
        match = re.search(pattern, run.stdout, re.MULTILINE)
        return match.groups() if match else None

    rows = [
        ("issue_many orders/s", find(r"^issue_many: .* = (\d+) orders/s")),
        ("reveal p50, p99 (µs)", find(r"^reveal \(\d+ random\): p50 (\d+) µs, p99 (\d+) µs")),
        ("reveal, synchronous_commit off, p50, p99 (µs)",
         find(r"^reveal with synchronous_commit = off .*: p50 (\d+) µs, p99 (\d+) µs")),
        ("pgbench -S p50, p99 (µs)", find(r"^pgbench select: .*: p50 (\d+) µs, p99 (\d+) µs")),
        ("pgbench one-row UPDATE p50, p99 (µs)",
         find(r"^pgbench update: .*: p50 (\d+) µs, p99 (\d+) µs")),
        ("purge (s)", find(r"^purge: .* in ([\d.]+) s")),
    ]
    print("\nsummary:")
    for name, value in rows:
        print(f"  {name}: {', '.join(value) if value else 'not measured'}")
    for line in run.stdout.splitlines():
        if line.startswith("ratio ") or line.startswith("SoftHSM2"):
            print(f"  {line}")


if __name__ == "__main__":
    main()
