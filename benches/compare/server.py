#!/usr/bin/env python3
"""Load on autocsr-server over loopback, with /healthz as the floor, in one run.

    python3 benches/compare/server.py [--seconds 10] [--connections 32]

Builds the release `autocsr-server` and the release `keygen` example of autocsr-keygen,
starts the server on a fresh SQLite data directory (rate limits lifted, log level info as
in production, the log to a file), and drives it with `hey` (Debian package `hey`):

  floor:   GET  /healthz
  page:    GET  /o/{id}?exp&sig            (a signed link; renders the order page)
  reveal:  POST /o/{id}/reveal             (the form; decrypts the code, counts a reveal)
  p256:    POST /v1/orders  {"key": "p256", "format": "zip"}   (--order-connections, 4)
  rsa2048: POST /v1/orders  {"key": "rsa2048", "format": "zip"} (2 connections, 2 cores)
  keygen:  the same number of RSA-2048 keys from the keygen example, 2 processes at once
           (the pure keygen rate the RSA orders are compared with)

Prints requests/s, p50 and p99 per row, the ratio to the floor (the higher of the two
/healthz runs, first and last), and the server's resident
memory (VmRSS now, VmHWM peak) after the load. Not a test: figures go to
docs/PERFORMANCE.md. Python 3 stdlib only.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(package, example=None):
    argv = ["cargo", "build", "--release", "-p", package, "--message-format=json-render-diagnostics"]
    if example:
        argv += ["--example", example]
    result = subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, check=True, text=True)
    wanted = example or package
    for line in result.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable") \
                and message["target"]["name"] == wanted:
            return message["executable"]
    sys.exit(f"cargo did not report the {wanted} executable")


def hey(args):
    """Runs hey and returns (requests/s, p50 ms, p99 ms, non-2xx count)."""
    out = subprocess.run(["hey"] + args, check=True, stdout=subprocess.PIPE, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = float(re.search(r"50%+ in ([\d.]+) secs", out).group(1)) * 1000
    # hey prints no 99% line for small runs (the RSA orders): p99 is then unknown.
    found = re.search(r"99%+ in ([\d.]+) secs", out)
    p99 = float(found.group(1)) * 1000 if found else float("nan")
    codes = dict((int(code), int(count)) for code, count in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    bad = sum(count for code, count in codes.items() if not 200 <= code < 300)
    return rate, p50, p99, bad


def memory(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields.get("VmRSS"), fields.get("VmHWM")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rsa-orders", type=int, default=40)
    parser.add_argument("--order-connections", type=int, default=4)
    args = parser.parse_args()

    server_bin = build("autocsr-server")
    keygen_bin = build("autocsr-keygen", "keygen")
    work = tempfile.mkdtemp(prefix="autocsr-server-bench-")
    os.chmod(work, 0o700)
    data = os.path.join(work, "data")
    log_path = os.path.join(work, "server.log")
    log = open(log_path, "w")
    server = subprocess.Popen(
        [server_bin, "--data-dir", data, "--listen", "127.0.0.1:0", "--log", "info",
         "--page-rate", "100000000", "--reveal-rate", "100000000", "--link-lifetime", "1h"],
        stdout=subprocess.DEVNULL, stderr=log)
    try:
        base = None
        for _ in range(600):
            with open(log_path) as text:
                found = re.search(r"listening on (http://\S+)", text.read())
            if found:
                base = found.group(1)
                break
            time.sleep(0.05)
        if base is None:
            sys.exit("the server did not start:\n" + open(log_path).read())
        token = [line for line in open(os.path.join(data, "staff-tokens")) if not line.startswith("#")][0].strip()
        key = open(os.path.join(data, "link-key")).read().strip().encode()

        def order(body):
            request = urllib.request.Request(
                base + "/v1/orders", data=json.dumps(body).encode(), method="POST",
                headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
            return json.load(urllib.request.urlopen(request))

        order_id = order({"domain": "bench.example.com", "key": "p256"})["order_id"]
        exp = int(time.time()) + 3000
        sig = hmac.new(key, f"autocsr-order-link-v1\n{order_id}\n{exp}".encode(), hashlib.sha256).hexdigest()
        page_url = f"{base}/o/{order_id}?exp={exp}&sig={sig}"
        page = urllib.request.urlopen(page_url).read().decode()
        form_token = re.search(r'name="token" value="([0-9a-f]+)"', page).group(1)
        form = f"exp={exp}&sig={sig}&token={form_token}"
        seconds, conns = str(args.seconds), str(args.connections)
        auth = "Authorization: Bearer " + token

        rows = []
        rows.append(("GET /healthz (floor)", conns) + hey(["-z", seconds + "s", "-c", conns, base + "/healthz"]))
        rows.append(("GET order page", conns) + hey(["-z", seconds + "s", "-c", conns, page_url]))
        rows.append(("POST reveal", conns) + hey(
            ["-z", seconds + "s", "-c", conns, "-m", "POST", "-T", "application/x-www-form-urlencoded",
             "-d", form, f"{base}/o/{order_id}/reveal"]))
        order_conns = str(args.order_connections)
        rows.append(("POST /v1/orders P-256 zip", order_conns) + hey(
            ["-z", seconds + "s", "-c", order_conns, "-m", "POST", "-H", auth, "-T", "application/json",
             "-d", '{"domain": "bench.example.com", "key": "p256", "format": "zip"}', base + "/v1/orders"]))
        rows.append(("POST /v1/orders RSA-2048 zip", "2") + hey(
            ["-n", str(args.rsa_orders), "-c", "2", "-m", "POST", "-H", auth, "-T", "application/json",
             "-d", '{"domain": "bench.example.com", "key": "rsa2048", "format": "zip"}', base + "/v1/orders"]))
        # The floor again, last: the machine's load drifts during a run.
        rows.append(("GET /healthz (floor, again)", conns) + hey(["-z", seconds + "s", "-c", conns, base + "/healthz"]))
        rss, peak = memory(server.pid)

        # The pure keygen rate: as many RSA-2048 keys, two processes at a time (2 cores).
        keys_dir = os.path.join(work, "keys")
        os.mkdir(keys_dir)
        start = time.perf_counter()
        running = []
        for index in range(args.rsa_orders):
            out = os.path.join(keys_dir, str(index))
            os.mkdir(out)
            running.append(subprocess.Popen(
                [keygen_bin, "--algorithm", "rsa2048", "--key-only", "--out", out],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if len(running) == 2:
                running.pop(0).wait()
        for process in running:
            process.wait()
        keygen_rate = args.rsa_orders / (time.perf_counter() - start)
    finally:
        server.terminate()
        server.wait()

    floor = max(rows[0][2], rows[-1][2])
    print(f"{'what':32} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>7} {'/floor':>7}")
    for name, connections, rate, p50, p99, bad in rows:
        print(f"{name:32} {connections:>5} {rate:9.1f} {p50:8.2f} {p99:8.2f} {bad:7d} {rate / floor:7.3f}")
    rsa_rate = rows[4][2]
    print(f"{'RSA-2048 keygen example (2 procs)':32} {'2':>5} {keygen_rate:9.1f}")
    print(f"RSA-2048 orders / pure keygen: {rsa_rate / keygen_rate:.2f} (keygen/order time ratio {keygen_rate / rsa_rate:.2f}x)")
    print(f"server memory after the load: VmRSS {rss}, peak VmHWM {peak}")


if __name__ == "__main__":
    main()
