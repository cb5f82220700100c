#!/usr/bin/env python3
"""The side-by-side comparison behind docs/PERFORMANCE.md, in one command:

    python3 benches/compare/all.py            # full run (about 15-25 minutes)
    python3 benches/compare/all.py --quick    # smoke run: few runs, small sizes
    python3 benches/compare/all.py --only order --only scale-seal   # some sections

Builds the release binaries it needs (the `autocsr` command, the examples of the core
crates, `csr_from_key` of autocsr-benches), then measures whole processes, ours and the
reference tool alternating A B A B (B A on odd rounds) in the same run after one untimed
warm-up each, and reports medians of wall time, CPU time (user + sys, from `wait4`) and
peak RSS, and the ratio ours/reference of the wall medians:

  keygen        RSA-2048/3072/4096, P-256, P-384     vs `openssl genpkey`
  csr           CSR for an existing key               vs `openssl req -new -key`
  archive       zip/7z seal and open                  vs `7zz a` / `7zz t`
  check         CSR check (`autocsr check-csr`)       vs `openssl req -verify`
  order         `autocsr order`, zip and 7z            vs `openssl req ... && 7zz a ...`
  vault         `autocsr status/reveal/revoke/purge`  (no outside tool does this)
  scale-vault   issue_many and purge at 10^3 .. 10^6 records (vault_perf example)
  scale-seal    sealing 1 KiB .. 64 MiB, ours vs 7zz
  scale-check   check-csr across 2048 .. 16384-bit moduli, ours vs openssl

It writes the tables into docs/PERFORMANCE.md between `<!-- BEGIN generated: NAME -->` and
`<!-- END generated: NAME -->` markers (so a re-run replaces them), the plots into
docs/img/*.svg, and the raw figures into docs/img/perf.json (a run with `--only` merges
into the previous figures). `--no-write` only prints. The 16384-bit test key takes
minutes to generate: keys and CSRs are cached in $AUTOCSR_BENCH_CACHE (default: a
directory in the system temporary directory). Needs openssl and 7zz (Debian: 7zip).
Python 3 stdlib only; the plots are written by svg.py in this directory.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import svg  # noqa: E402

DOC = os.path.join(common.REPO, "docs", "PERFORMANCE.md")
IMG = os.path.join(common.REPO, "docs", "img")
DATA = os.path.join(IMG, "perf.json")
POLICY_CSRS = os.path.join(common.REPO, "crates", "autocsr-policy", "tests", "data", "csr")
SECTIONS = ["keygen", "csr", "archive", "check", "order", "vault",
            "scale-vault", "scale-seal", "scale-check"]
PASSWORD = "7K4M-Q9TX-2WRB-N8DH-V3CJ-6YEZ-P5GA"
KIB = 1024
MIB = 1024 * 1024
SUBJ = ["-subj", "/CN=example.com", "-addext", "subjectAltName=DNS:example.com"]


class Bench:
    """Paths, binaries and options shared by the sections."""

    def __init__(self, args, scratch):
        self.args = args
        self.quick = args.quick
        self.scratch = scratch
        self.cache = os.environ.get("AUTOCSR_BENCH_CACHE") or os.path.join(
            tempfile.gettempdir(), "autocsr-bench-cache")
        os.makedirs(os.path.join(self.cache, "csr"), exist_ok=True)
        built = common.cargo_build_all([
            ("autocsr-cli", "bin", "autocsr"),
            ("autocsr-keygen", "example", "keygen"),
            ("autocsr-archive", "example", "seal"),
            ("autocsr-archive", "example", "open"),
            ("autocsr-credential", "example", "vault_perf"),
            ("autocsr-benches", "bin", "csr_from_key"),
        ])
        self.autocsr = built["autocsr"]
        self.keygen = built["keygen"]
        self.csr_from_key = built["csr_from_key"]
        self.seal = built["seal"]
        self.open = built["open"]
        self.vault_perf = built["vault_perf"]
        self.env = dict(os.environ, LC_ALL="C.UTF-8", AUTOCSR_ARCHIVE_PASSWORD=PASSWORD)
        self.counter = 0

    def runs(self, full, quick=2):
        return quick if self.quick else full

    def fresh(self, prefix):
        """A new empty directory under the scratch directory."""
        self.counter += 1
        path = os.path.join(self.scratch, f"{prefix}-{self.counter}")
        os.makedirs(path)
        return path


def row(label, samples, ours, reference, note=""):
    """A comparison row from interleaved samples: medians of both, and ratios."""
    mine, theirs = common.summary(samples[ours]), common.summary(samples[reference])
    result = {
        "label": label, "ours_name": ours, "reference_name": reference,
        "ours": mine, "reference": theirs,
        "ratio_wall": mine["wall_ms"] / theirs["wall_ms"],
        "ratio_cpu": mine["cpu_ms"] / max(theirs["cpu_ms"], 1e-6),
        "note": note,
    }
    print(f"  {label:38s} ours {mine['wall_ms']:9.2f} ms  ref {theirs['wall_ms']:9.2f} ms  "
          f"ratio {result['ratio_wall']:.2f} (cpu {result['ratio_cpu']:.2f})", flush=True)
    return result


def section_keygen(bench):
    rows = []
    openssl_args = {
        "rsa2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "rsa3072": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
        "rsa4096": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
        "p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "p384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    }
    # RSA key generation time varies a lot with how soon primes turn up: more runs for
    # the cheaper sizes, fewer for 4096 bits (about a second each, both sides).
    full_runs = {"rsa2048": 21, "rsa3072": 11, "rsa4096": 7, "p256": 21, "p384": 21}
    for algorithm, flags in openssl_args.items():
        def ours(i, algorithm=algorithm):
            return [bench.keygen, "--algorithm", algorithm, "--key-only",
                    "--out", bench.fresh("keygen")], None, bench.env

        def reference(i, flags=flags):
            return ["openssl", "genpkey", *flags,
                    "-out", os.path.join(bench.fresh("genpkey"), "key.pem")], None, bench.env

        samples = common.interleaved({"ours": ours, "openssl genpkey": reference},
                                     bench.runs(full_runs[algorithm], 3))
        rows.append(row(f"keygen {algorithm}", samples, "ours", "openssl genpkey"))
    return rows


def test_keys(bench):
    """An RSA-2048 and a P-256 key made once by openssl (PKCS#8 PEM, unencrypted)."""
    keys = {}
    for name, flags in (("rsa2048", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                        ("p256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])):
        path = os.path.join(bench.scratch, f"{name}.key")
        if not os.path.exists(path):
            subprocess.run(["openssl", "genpkey", *flags, "-out", path], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        keys[name] = path
    return keys


def section_csr(bench):
    rows = []
    for name, key in test_keys(bench).items():
        def ours(i, key=key):
            return [bench.csr_from_key, key, "example.com",
                    os.path.join(bench.fresh("csr"), "request.csr")], None, bench.env

        def reference(i, key=key):
            return ["openssl", "req", "-new", "-key", key, *SUBJ,
                    "-out", os.path.join(bench.fresh("req"), "request.csr")], None, bench.env

        samples = common.interleaved({"ours": ours, "openssl req -new -key": reference},
                                     bench.runs(21, 3))
        rows.append(row(f"CSR for an existing {name} key", samples, "ours",
                        "openssl req -new -key"))
    return rows


def write_bundle(directory):
    """Key, CSR and README of realistic sizes (1.7 KB, 1 KB, 0.5 KB)."""
    def pem(label, length):
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        body = "".join(alphabet[(i * 31 + i // 7) % 64] for i in range(length))
        lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
        return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n".encode()

    files = {
        "private-key.pem": pem("PRIVATE KEY", 1620),
        "certificate-request.csr": pem("CERTIFICATE REQUEST", 940),
        "README.txt": b"Your private key and CSR for example.com. Open with 7-Zip.\n" * 8,
    }
    for name, data in files.items():
        with open(os.path.join(directory, name), "wb") as handle:
            handle.write(data)
    return sorted(files)


def seal_contestants(bench, work, names, fmt):
    """Ours and 7-Zip sealing `names` (in `work`) into a fresh archive of format `fmt`."""
    flags = ["-tzip", "-mem=AES256"] if fmt == "zip" else ["-t7z", "-mhe=on"]

    def ours(i):
        out = os.path.join(bench.fresh("seal"), f"ours.{fmt}")
        return [bench.seal, fmt, out, *names], work, bench.env

    def reference(i):
        out = os.path.join(bench.fresh("7zz"), f"ref.{fmt}")
        return ["7zz", "a", "-bd", *flags, f"-p{PASSWORD}", out, *names], work, bench.env

    return {"ours": ours, "7zz a": reference}


def section_archive(bench):
    rows = []
    work = bench.fresh("bundle")
    names = write_bundle(work)
    for fmt in ("zip", "7z"):
        samples = common.interleaved(seal_contestants(bench, work, names, fmt),
                                     bench.runs(21, 3))
        note = "both 2^19 KDF rounds" if fmt == "7z" else ""
        rows.append(row(f"seal {fmt} (key, CSR, README)", samples, "ours", "7zz a", note))
    for fmt in ("zip", "7z"):
        archive = os.path.join(work, f"bundle.{fmt}")
        common.run_once([bench.seal, fmt, archive, *names], cwd=work, env=bench.env)

        def ours(i, archive=archive):
            return [bench.open, archive], work, bench.env

        def reference(i, archive=archive):
            return ["7zz", "t", "-bd", f"-p{PASSWORD}", archive], work, bench.env

        samples = common.interleaved({"ours": ours, "7zz t": reference}, bench.runs(21, 3))
        rows.append(row(f"open {fmt} (ours sealed it)", samples, "ours", "7zz t",
                        "in memory, nothing written, on both sides"))
    return rows


def policy_csr(name):
    return os.path.join(POLICY_CSRS, name)


def section_check(bench):
    rows = []
    for name, path in (("rsa2048", policy_csr("good-rsa-2048-sha256.pem")),
                       ("p256", policy_csr("good-ecdsa-p256-sha256.pem"))):
        def ours(i, path=path):
            return [bench.autocsr, "check-csr", path], None, bench.env

        def reference(i, path=path):
            return ["openssl", "req", "-verify", "-noout", "-in", path], None, bench.env

        samples = common.interleaved({"ours": ours, "openssl req -verify": reference},
                                     bench.runs(21, 3))
        rows.append(row(f"check a {name} CSR", samples, "ours", "openssl req -verify",
                        "ours: every policy check; openssl: the signature only"))
    return rows


def order_contestants(bench, key, fmt, data_dir, autocsr=None):
    flags = ["-tzip", "-mem=AES256"] if fmt == "zip" else ["-t7z", "-mhe=on"]
    newkey = {"rsa2048": "rsa:2048", "p256": "ec -pkeyopt ec_paramgen_curve:P-256"}[key]
    env = dict(bench.env, AUTOCSR_DATA_DIR=data_dir)

    def ours(i):
        return [autocsr or bench.autocsr, "order", "--domain", "example.com", "--key", key,
                "--format", fmt, "--out", bench.fresh("order")], None, env

    def reference(i):
        script = (f"openssl req -new -newkey {newkey} -nodes -keyout k -out c "
                  "-subj /CN=example.com -addext subjectAltName=DNS:example.com "
                  f"&& 7zz a -bd {' '.join(flags)} -p{common.random_code()} out.{fmt} k c")
        return ["sh", "-c", script], bench.fresh("pipeline"), bench.env

    return ours, reference


def section_order(bench):
    rows = []
    data_dir = os.path.join(bench.scratch, "vault")
    before = bench.args.before_autocsr
    for key, fmt in (("rsa2048", "zip"), ("rsa2048", "7z"), ("p256", "zip"), ("p256", "7z")):
        ours, reference = order_contestants(bench, key, fmt, data_dir)
        contestants = {"autocsr order": ours, "openssl + 7zz": reference}
        if before:
            # Another build of the command (an older commit), interleaved in the same run.
            contestants["before"], _ = order_contestants(bench, key, fmt,
                                                         data_dir + "-before", before)
        samples = common.interleaved(contestants, bench.runs(21 if key == "rsa2048" else 15, 3))
        result = row(f"order {key} {fmt}", samples, "autocsr order", "openssl + 7zz",
                     "ours also verifies, stores the code and leaves no key on disk")
        if before:
            result["before"] = common.summary(samples["before"])
            print(f"  {'':38s} before {result['before']['wall_ms']:9.2f} ms  cpu "
                  f"{result['before']['cpu_ms']:.2f} ms", flush=True)
        rows.append(result)
    return rows


def section_vault(bench):
    """Whole-process vault commands on a vault holding the orders made for this."""
    data_dir = os.path.join(bench.scratch, "vault-ops")
    env = dict(bench.env, AUTOCSR_DATA_DIR=data_dir)
    out = bench.fresh("vault-orders")
    runs = bench.runs(15, 3)
    for _ in range(runs + 3):  # status and reveal: one; revoke: one per run, warm-up, RSS
        common.run_once([bench.autocsr, "order", "--domain", "example.com", "--key", "p256",
                         "--format", "zip", "--out", out], env=env)
    ids = sorted(name.rsplit(".", 1)[0] for name in os.listdir(out) if name.endswith(".zip"))
    commands = {
        "status": lambda i: ([bench.autocsr, "status", ids[0]], None, env),
        "reveal": lambda i: ([bench.autocsr, "reveal", ids[0]], None, env),
        "revoke": lambda i: ([bench.autocsr, "revoke", ids[i + 2]], None, env),
        "purge": lambda i: ([bench.autocsr, "purge"], None, env),
    }
    samples = common.interleaved(commands, runs)
    rows = []
    for name in commands:
        summary = common.summary(samples[name])
        print(f"  autocsr {name:8s} {summary['wall_ms']:8.2f} ms  cpu {summary['cpu_ms']:.2f} ms",
              flush=True)
        rows.append({"label": f"autocsr {name}", "ours": summary})
    return rows


VAULT_LINE = {
    "issue_many": re.compile(r"issue_many: (\d+) orders in ([\d.]+)(\w+) = (\d+) orders/s"),
    "purge": re.compile(r"purge: (\d+) records and (\d+) keys in ([\d.]+)(\w+)"),
    "reveal": re.compile(r"reveal with \d+ live records: p50 ([\d.]+)(\w+) p99 ([\d.]+)(\w+)"),
    "issue": re.compile(r"issue \(single, durable\): p50 ([\d.]+)(\w+) p99 ([\d.]+)(\w+)"),
}
UNITS_MS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1000.0}


def to_ms(value, unit):
    return float(value) * UNITS_MS[unit]


def section_scale_vault(bench):
    sizes = [1_000, 10_000] if bench.quick else [1_000, 10_000, 100_000, 1_000_000]
    points = []
    for size in sizes:
        # Under GNU time for the peak RSS of vault_perf itself (see common.peak_rss_kib).
        report = os.path.join(bench.scratch, "vault-rss.txt")
        timed_argv = [bench.vault_perf, str(size), bench.scratch]
        if os.path.exists("/usr/bin/time"):
            timed_argv = ["/usr/bin/time", "-f", "%M", "-o", report, *timed_argv]
        sample, output = common.run_capture(timed_argv, env=bench.env)
        if os.path.exists(report):
            with open(report) as handle:
                sample.rss_kib = int(handle.read().strip().splitlines()[-1])
        found = {name: pattern.search(output) for name, pattern in VAULT_LINE.items()}
        if not all(found.values()):
            sys.exit(f"vault_perf output not understood:\n{output}")
        point = {
            "records": size,
            "issue_many_ms": to_ms(found["issue_many"].group(2), found["issue_many"].group(3)),
            "issue_many_per_s": int(found["issue_many"].group(4)),
            "purge_ms": to_ms(found["purge"].group(3), found["purge"].group(4)),
            "reveal_p50_ms": to_ms(found["reveal"].group(1), found["reveal"].group(2)),
            "reveal_p99_ms": to_ms(found["reveal"].group(3), found["reveal"].group(4)),
            "issue_p50_ms": to_ms(found["issue"].group(1), found["issue"].group(2)),
            "process_wall_ms": sample.wall * 1000,
            "rss_mib": sample.rss_kib / 1024,
        }
        print(f"  {size:>9} records: issue_many {point['issue_many_ms']:9.1f} ms, purge "
              f"{point['purge_ms']:9.1f} ms, peak RSS {point['rss_mib']:.1f} MiB", flush=True)
        points.append(point)
    return points


def section_scale_seal(bench):
    sizes = [KIB, 16 * KIB, 256 * KIB, 4 * MIB, 64 * MIB]
    if bench.quick:
        sizes = [KIB, 64 * KIB]
    points = []
    for size in sizes:
        work = bench.fresh("payload")
        with open(os.path.join(work, "payload.bin"), "wb") as handle:
            remaining = size
            while remaining:  # incompressible, as a key would be
                chunk = min(remaining, MIB)
                handle.write(os.urandom(chunk))
                remaining -= chunk
        for fmt in ("zip", "7z"):
            runs = 1 if bench.quick or size >= 64 * MIB else 3
            samples = common.interleaved(seal_contestants(bench, work, ["payload.bin"], fmt),
                                         runs, warmup=size < 64 * MIB)
            for name in samples:
                summary = common.summary(samples[name])
                points.append({"size": size, "format": fmt, "tool": name, **summary})
                print(f"  {size:>10} B {fmt:3s} {name:6s} {summary['wall_ms']:10.1f} ms  "
                      f"cpu {summary['cpu_ms']:10.1f} ms  RSS {summary['rss_mib']:7.1f} MiB",
                      flush=True)
        shutil.rmtree(work)
    return points


def cached_csr(bench, bits):
    """An RSA key and CSR of `bits` made by openssl once, kept in the cache directory."""
    directory = os.path.join(bench.cache, "csr")
    key, csr = (os.path.join(directory, f"rsa{bits}.{ext}") for ext in ("key", "csr"))
    if not os.path.exists(csr):
        if not os.path.exists(key):
            print(f"  generating an RSA-{bits} key once (cached in {directory}) ...", flush=True)
            subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                            f"rsa_keygen_bits:{bits}", "-out", key + ".tmp"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.replace(key + ".tmp", key)
        subprocess.run(["openssl", "req", "-new", "-key", key, *SUBJ, "-out", csr + ".tmp"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.replace(csr + ".tmp", csr)
    return csr


def section_scale_check(bench):
    sizes = [2048, 3072, 4096] if bench.quick else [2048, 3072, 4096, 8192, 16384]
    points = []
    for bits in sizes:
        csr = cached_csr(bench, bits)
        contestants = {
            "ours": lambda i, csr=csr: ([bench.autocsr, "check-csr", csr], None, bench.env),
            "openssl req -verify": lambda i, csr=csr: (
                ["openssl", "req", "-verify", "-noout", "-in", csr], None, bench.env),
        }
        samples = common.interleaved(contestants, bench.runs(7, 2))
        for name in samples:
            summary = common.summary(samples[name])
            points.append({"bits": bits, "tool": name, **summary})
            print(f"  RSA-{bits:<6} {name:20s} {summary['wall_ms']:9.2f} ms  cpu "
                  f"{summary['cpu_ms']:9.2f} ms  RSS {summary['rss_mib']:6.1f} MiB", flush=True)
    return points


# ---------------------------------------------------------------- report and plots ----

def growth(points, x_key, y_key):
    """The exponent k of y ~ x^k between the two largest x, and words for it. The two
    largest, because at small sizes a fixed cost (process start, key derivation) hides
    how the work itself grows."""
    ordered = sorted(points, key=lambda p: p[x_key])
    first, last = ordered[max(len(ordered) - 2, 0)], ordered[-1]
    if first[y_key] <= 0 or last[y_key] <= 0 or first[x_key] == last[x_key]:
        return 0.0, "not measurable"
    k = math.log(last[y_key] / first[y_key]) / math.log(last[x_key] / first[x_key])
    if k < 0.15:
        words = "about flat"
    elif k < 0.8:
        words = f"sublinear (about x^{k:.2f})"
    elif k < 1.2:
        words = f"about linear (x^{k:.2f})"
    elif k < 1.8:
        words = f"superlinear (about x^{k:.2f})"
    else:
        words = f"about x^{k:.1f}"
    return k, words


def size_text(size):
    if size >= MIB:
        return f"{size // MIB} MiB"
    return f"{size // KIB} KiB"


def fmt_ms(value):
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def render_comparison(data):
    lines = ["| what | ours, median | reference, median (same run) | ratio wall (CPU) | "
             "ours peak RSS | runs |", "|---|---|---|---|---|---|"]
    for section in ("keygen", "csr", "archive", "check", "order"):
        for r in data.get(section, {}).get("rows", []):
            lines.append(
                f"| {r['label']} | {fmt_ms(r['ours']['wall_ms'])} | {r['reference_name']}: "
                f"{fmt_ms(r['reference']['wall_ms'])} | **{r['ratio_wall']:.2f}** "
                f"({r['ratio_cpu']:.2f}) | {r['ours']['rss_mib']:.1f} MiB | "
                f"{r['ours']['runs']} |")
    changed = [r for r in data.get("order", {}).get("rows", []) if "before" in r]
    if changed:
        lines.append("")
        lines.append("The order rows against the build before the last change to the order "
                     "path (`--before-autocsr`), in the same run:")
        lines.append("")
        lines.append("| order | now, median wall (CPU) | before (same run) | ratio wall (CPU) |")
        lines.append("|---|---|---|---|")
        for r in changed:
            now, old = r["ours"], r["before"]
            lines.append(f"| {r['label'][6:]} | {fmt_ms(now['wall_ms'])} ({fmt_ms(now['cpu_ms'])}) "
                         f"| {fmt_ms(old['wall_ms'])} ({fmt_ms(old['cpu_ms'])}) | "
                         f"{now['wall_ms'] / old['wall_ms']:.2f} "
                         f"({now['cpu_ms'] / max(old['cpu_ms'], 1e-6):.2f}) |")
    vault = data.get("vault", {}).get("rows", [])
    if vault:
        lines.append("")
        lines.append("Vault commands, whole process on the SQLite vault (no outside tool "
                     "does this, so no ratio): " + "; ".join(
                         f"`{r['label']}` {fmt_ms(r['ours']['wall_ms'])}" for r in vault) + ".")
    return "\n".join(lines)


def render_scaling(data):
    out = []
    vault = data.get("scale-vault", {}).get("points", [])
    if vault:
        out.append("| records | `issue_many` (batches of 10,000) | orders/s | `purge` of all "
                   "| peak RSS of the run |")
        out.append("|---|---|---|---|---|")
        for p in vault:
            out.append(f"| {p['records']:,} | {fmt_ms(p['issue_many_ms'])} | "
                       f"{p['issue_many_per_s']:,} | {fmt_ms(p['purge_ms'])} | "
                       f"{p['rss_mib']:.1f} MiB |")
        _, issue_words = growth(vault, "records", "issue_many_ms")
        _, purge_words = growth(vault, "records", "purge_ms")
        _, rss_words = growth(vault, "records", "rss_mib")
        out.append("")
        out.append(f"Growth from {vault[-2]['records'] if len(vault) > 1 else 0:,} to "
                   f"{vault[-1]['records']:,} records: "
                   f"`issue_many` time {issue_words}, `purge` time {purge_words}, peak RSS "
                   f"{rss_words}.")
        out.append("")
    seal = data.get("scale-seal", {}).get("points", [])
    if seal:
        out.append("| payload (random) | ours zip | 7zz zip | ours 7z | 7zz 7z | peak RSS "
                   "ours zip / 7z | 7zz zip / 7z |")
        out.append("|---|---|---|---|---|---|---|")
        by = {(p["size"], p["format"], p["tool"]): p for p in seal}
        for size in sorted({p["size"] for p in seal}):
            cells = [by.get((size, f, t)) for f, t in (("zip", "ours"), ("zip", "7zz a"),
                                                        ("7z", "ours"), ("7z", "7zz a"))]
            if None in cells:
                continue
            out.append(f"| {size_text(size)} | " + " | ".join(fmt_ms(c["wall_ms"]) for c in cells)
                       + f" | {cells[0]['rss_mib']:.0f} / {cells[2]['rss_mib']:.0f} MiB | "
                       f"{cells[1]['rss_mib']:.0f} / {cells[3]['rss_mib']:.0f} MiB |")
        words = []
        for fmt in ("zip", "7z"):
            for tool in ("ours", "7zz a"):
                series = [p for p in seal if p["format"] == fmt and p["tool"] == tool]
                _, time_words = growth(series, "size", "wall_ms")
                _, rss_words = growth(series, "size", "rss_mib")
                words.append(f"{'ours' if tool == 'ours' else '7zz'} {fmt}: time {time_words}, "
                             f"peak RSS {rss_words}")
        out.append("")
        out.append("Growth between the two largest payloads: " + "; ".join(words) + ".")
        out.append("")
    check = data.get("scale-check", {}).get("points", [])
    if check:
        out.append("| RSA modulus | `autocsr check-csr` | `openssl req -verify` | ratio | "
                   "peak RSS ours / openssl |")
        out.append("|---|---|---|---|---|")
        by = {(p["bits"], p["tool"]): p for p in check}
        for bits in sorted({p["bits"] for p in check}):
            ours, ref = by.get((bits, "ours")), by.get((bits, "openssl req -verify"))
            if ours and ref:
                out.append(f"| {bits} | {fmt_ms(ours['wall_ms'])} | {fmt_ms(ref['wall_ms'])} | "
                           f"{ours['wall_ms'] / ref['wall_ms']:.2f} | {ours['rss_mib']:.1f} / "
                           f"{ref['rss_mib']:.1f} MiB |")
        ours_series = [p for p in check if p["tool"] == "ours"]
        ref_series = [p for p in check if p["tool"] != "ours"]
        _, ours_words = growth(ours_series, "bits", "cpu_ms")
        _, ref_words = growth(ref_series, "bits", "cpu_ms")
        out.append("")
        out.append(f"Growth in CPU time between the two largest moduli: ours {ours_words}, "
                   f"openssl {ref_words} (below 16384 bits both are mostly process start-up).")
    return "\n".join(out)


def render_machine(data):
    machine = data.get("machine", {})
    return (f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
            f"{machine.get('system', '?')}; load average {machine.get('load_start', '?')} at "
            f"the start of the run. References: {machine.get('openssl', '?')}; "
            f"{machine.get('sevenzip', '?')}. Ours: release build, {machine.get('rustc', '?')}. "
            f"Run: {machine.get('date', '?')}, `python3 benches/compare/all.py"
            f"{' --quick' if machine.get('quick') else ''}`."
            + (" Re-run alone since: " + "; ".join(
                f"{', '.join(run['sections'])} at {run['date']} (load average "
                f"{run['load_start']} at its start)" for run in data["partial_runs"]) + "."
               if data.get("partial_runs") else ""))


def write_plots(data):
    os.makedirs(IMG, exist_ok=True)
    rows = []
    for section in ("keygen", "csr", "archive", "check", "order"):
        rows += [(r["label"], r["ratio_wall"]) for r in data.get(section, {}).get("rows", [])]
    if rows:
        with open(os.path.join(IMG, "comparison.svg"), "w") as handle:
            handle.write(svg.ratio_bars(
                "Whole process, ours / reference (wall-clock medians, same run)", rows,
                "left of the black line: ours is faster; log scale"))
    vault = data.get("scale-vault", {}).get("points", [])
    if vault:
        with open(os.path.join(IMG, "scaling-vault.svg"), "w") as handle:
            handle.write(svg.scaling(
                "SQLite vault: issue_many and purge against records",
                [("issue_many", [(p["records"], p["issue_many_ms"]) for p in vault]),
                 ("purge", [(p["records"], p["purge_ms"]) for p in vault])],
                [("vault_perf process", [(p["records"], p["rss_mib"]) for p in vault])],
                "records", lambda v: f"10^{round(math.log10(v))}",
                "peak RSS is the whole vault_perf run (issue, reveals, purge)"))
    seal = data.get("scale-seal", {}).get("points", [])
    if seal:
        series = []
        for fmt in ("zip", "7z"):
            for tool in ("ours", "7zz a"):
                series.append((f"{'ours' if tool == 'ours' else '7zz'} {fmt}",
                               [p for p in seal if p["format"] == fmt and p["tool"] == tool]))
        with open(os.path.join(IMG, "scaling-seal.svg"), "w") as handle:
            handle.write(svg.scaling(
                "Sealing random data, whole process",
                [(name, [(p["size"], p["wall_ms"]) for p in ps]) for name, ps in series],
                [(name, [(p["size"], p["rss_mib"]) for p in ps]) for name, ps in series],
                "payload", size_text, "wall-clock medians; 7zz uses two threads"))
    check = data.get("scale-check", {}).get("points", [])
    if check:
        series = [(name, [p for p in check if p["tool"] == tool]) for name, tool in
                  (("autocsr check-csr", "ours"), ("openssl req -verify", "openssl req -verify"))]
        with open(os.path.join(IMG, "scaling-check.svg"), "w") as handle:
            handle.write(svg.scaling(
                "Checking an RSA CSR, whole process",
                [(name, [(p["bits"], p["wall_ms"]) for p in ps]) for name, ps in series],
                [(name, [(p["bits"], p["rss_mib"]) for p in ps]) for name, ps in series],
                "modulus bits", lambda v: str(v),
                "ours runs every policy check (Fermat, ROCA, small factors); openssl the "
                "signature only"))


def replace_block(text, name, body):
    begin, end = f"<!-- BEGIN generated: {name} -->", f"<!-- END generated: {name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    block = f"{begin}\n{body}\n{end}"
    if not pattern.search(text):
        sys.exit(f"docs/PERFORMANCE.md has no `{begin}` ... `{end}` markers")
    return pattern.sub(lambda _: block, text)


def write_doc(data):
    with open(DOC) as handle:
        text = handle.read()
    text = replace_block(text, "machine", render_machine(data))
    text = replace_block(text, "comparison", render_comparison(data))
    text = replace_block(text, "scaling", render_scaling(data))
    with open(DOC, "w") as handle:
        handle.write(text)


def machine_facts(quick):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "load_start": " ".join(f"{v:.1f}" for v in os.getloadavg()),
        "openssl": common.tool_version(["openssl", "version"]).split(" (")[0],
        "sevenzip": common.tool_version(["7zz", "i"]).split(":")[0].strip(),
        "rustc": common.tool_version(["rustc", "--version"]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": quick,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few runs, small sizes")
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run only this section (repeatable)")
    parser.add_argument("--before-autocsr", metavar="PATH",
                        help="another `autocsr` build (an older commit) to time in the order "
                             "rows too, interleaved with ours")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: rewrite the tables and plots from perf.json")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; leave docs/ untouched")
    args = parser.parse_args()
    if args.render_only:
        with open(DATA) as handle:
            data = json.load(handle)
        write_plots(data)
        write_doc(data)
        return
    common.require("openssl", "7zz")
    sections = args.only or SECTIONS

    data = {}
    if args.only and os.path.exists(DATA):
        with open(DATA) as handle:
            data = json.load(handle)
    # A partial run keeps the full run's machine line and records its own beside it, so
    # the page never dates the whole comparison by the one section re-run last.
    facts = machine_facts(args.quick)
    if args.only:
        data["partial_runs"] = [run for run in data.get("partial_runs", [])
                                if not set(run["sections"]) <= set(sections)]
        data["partial_runs"].append({"sections": sections, **facts})
    else:
        data.pop("partial_runs", None)
        data["machine"] = facts
    with tempfile.TemporaryDirectory(prefix="autocsr-compare-") as scratch:
        bench = Bench(args, scratch)
        for name in sections:
            print(f"# {name}", flush=True)
            function = globals()["section_" + name.replace("-", "_")]
            result = function(bench)
            key = "points" if name.startswith("scale-") else "rows"
            data[name] = {key: result}
    facts["load_end"] = " ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"load average at the end: {facts['load_end']}")
    if args.no_write:
        return
    os.makedirs(IMG, exist_ok=True)
    with open(DATA, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")
    write_plots(data)
    write_doc(data)
    print(f"wrote {os.path.relpath(DOC, common.REPO)} and docs/img/")


if __name__ == "__main__":
    main()
