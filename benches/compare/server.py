#!/usr/bin/env python3
"""Load on autocsr-server over loopback, with /healthz as the floor, in one run.

    python3 benches/compare/server.py [--seconds 10] [--connections 32] [--server PATH]

Builds the release `autocsr-server` and the release `keygen` example of autocsr-keygen,
starts the server on a fresh SQLite data directory (rate limits lifted, log level info as
in production, the log to a file), and drives it over 32 connections:

  floor:   GET  /healthz
  page:    GET  /o/{id}?exp&sig            (a signed link; renders the order page)
  reveal:  POST /o/{id}/reveal             (the form; decrypts the code, counts a reveal)
  p256:    POST /v1/orders  {"key": "p256", "format": "zip"}   (--order-connections, 4)
  rsa2048: POST /v1/orders  {"key": "rsa2048", "format": "zip"} (2 connections, 2 cores)
  keygen:  the same number of RSA-2048 keys from the keygen example, 2 processes at once
           (the pure keygen rate the RSA orders are compared with), in rounds of 8
           alternating with the orders

The load tool shares the machine's cores with the server, so its own CPU time is part of
what is measured. The floor, page and reveal rows are driven with `wrk` (Debian package
`wrk`, one thread), and again with `hey` (Debian package `hey`), whose CPU time per request
is several times wrk's; the table prints both tools' CPU time per request beside the
server's, so the difference is visible rather than assumed. The order rows use hey (a fixed
number of RSA orders; at under 200 requests/s the tool's cost does not matter).

Prints requests/s, p50 and p99 per row, the ratio to that tool's floor (the higher of its
two /healthz runs, first and last), CPU microseconds per request of the server and of the
tool, and the server's resident memory (VmRSS now, VmHWM peak) after the load. Not a
test: figures go to docs/PERFORMANCE.md. Python 3 stdlib only.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import resource
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


def cpu_seconds(pid):
    """User + system CPU seconds of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Measured:
    """Runs one load-tool invocation and charges the server's and the tool's CPU to it."""

    def __init__(self, server_pid):
        self.server_pid = server_pid

    def run(self, argv):
        server_before = cpu_seconds(self.server_pid)
        tool_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True).stdout
        tool_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu = cpu_seconds(self.server_pid) - server_before
        tool_cpu = (tool_after.ru_utime - tool_before.ru_utime) + (tool_after.ru_stime - tool_before.ru_stime)
        return out, server_cpu, tool_cpu


def hey(measured, args):
    """Runs hey: (tool, requests/s, p50 ms, p99 ms, non-2xx, server us/req, tool us/req)."""
    out, server_cpu, tool_cpu = measured.run(["hey"] + args)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = sum(int(count) for count in re.findall(r"\[\d{3}\]\s+(\d+) responses", out))
    p50 = float(re.search(r"50%+ in ([\d.]+) secs", out).group(1)) * 1000
    # hey prints no 99% line for small runs (the RSA orders): p99 is then unknown.
    found = re.search(r"99%+ in ([\d.]+) secs", out)
    p99 = float(found.group(1)) * 1000 if found else float("nan")
    codes = dict((int(code), int(count)) for code, count in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    bad = sum(count for code, count in codes.items() if not 200 <= code < 300)
    return ("hey", rate, p50, p99, bad) + per_request(server_cpu, tool_cpu, total)


def wrk_ms(text):
    """A wrk duration ("870.00us", "2.59ms", "1.02s") in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(measured, connections, seconds, url, post_form=None):
    """Runs wrk (one thread): the same fields as hey()."""
    argv = ["wrk", "-t1", "-c" + connections, "-d" + seconds + "s", "--latency"]
    script = None
    if post_form is not None:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write('wrk.method = "POST"\n'
                     f'wrk.body = "{post_form}"\n'
                     'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n')
        script.close()
        argv += ["-s", script.name]
    try:
        out, server_cpu, tool_cpu = measured.run(argv + [url])
    finally:
        if script is not None:
            os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = wrk_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = wrk_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    found = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(found.group(1)) if found else 0
    errors = re.search(r"Socket errors: (.*)", out)
    if errors:
        print(f"wrk socket errors on {url}: {errors.group(1)}", file=sys.stderr)
        bad += sum(int(n) for n in re.findall(r"\d+", errors.group(1)))
    return ("wrk", rate, p50, p99, bad) + per_request(server_cpu, tool_cpu, total)


def per_request(server_cpu, tool_cpu, total):
    """CPU microseconds per request of the server and of the tool."""
    if not total:
        return (float("nan"), float("nan"))
    return (server_cpu / total * 1e6, tool_cpu / total * 1e6)


RSA_ROUND = 8


def rsa_orders_against_keygen(measured, auth, base, keygen_bin, work, count):
    """RSA-2048 orders over 2 connections, and as many RSA-2048 keys from the keygen
    example, two processes at a time (2 cores): the pure keygen rate. They alternate in
    rounds of RSA_ROUND, so the machine's drifting speed falls on both alike (an RSA key's
    prime search also varies a lot from key to key: keep `count` in the dozens).
    Returns the RSA row with the keygen rate appended."""
    keys_dir = os.path.join(work, "keys")
    os.mkdir(keys_dir)
    order_seconds = keygen_seconds = server_us = tool_us = 0.0
    bad = made = 0
    for round_index in range(max(1, count // RSA_ROUND)):
        start = time.perf_counter()
        _, _, _, _, round_bad, round_server_us, round_tool_us = hey(measured,
            ["-n", str(RSA_ROUND), "-c", "2", "-m", "POST", "-H", auth, "-T", "application/json",
             "-d", '{"domain": "bench.example.com", "key": "rsa2048", "format": "zip"}', base + "/v1/orders"])
        order_seconds += time.perf_counter() - start
        bad += round_bad
        server_us += round_server_us * RSA_ROUND
        tool_us += round_tool_us * RSA_ROUND
        start = time.perf_counter()
        running = []
        for index in range(RSA_ROUND):
            out = os.path.join(keys_dir, f"{round_index}-{index}")
            os.mkdir(out)
            running.append(subprocess.Popen(
                [keygen_bin, "--algorithm", "rsa2048", "--key-only", "--out", out],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if len(running) == 2:
                running.pop(0).wait()
        for process in running:
            process.wait()
        keygen_seconds += time.perf_counter() - start
        made += RSA_ROUND
    nan = float("nan")
    return ("POST /v1/orders RSA-2048 zip", "2", "hey", made / order_seconds, nan, nan, bad,
            server_us / made, tool_us / made, made / keygen_seconds)


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
    parser.add_argument("--rsa-orders", type=int, default=160)
    parser.add_argument("--order-connections", type=int, default=4)
    parser.add_argument("--server", metavar="PATH",
                        help="an autocsr-server binary to measure instead of building this tree's "
                             "(to compare two builds in alternating runs)")
    args = parser.parse_args()

    server_bin = args.server or build("autocsr-server")
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

        measured = Measured(server.pid)
        reveal_url = f"{base}/o/{order_id}/reveal"
        rows = []
        # Each tool's floor first and last: the machine's load drifts during a run.
        rows.append(("GET /healthz (floor)", conns) + wrk(measured, conns, seconds, base + "/healthz"))
        rows.append(("GET order page", conns) + wrk(measured, conns, seconds, page_url))
        rows.append(("POST reveal", conns) + wrk(measured, conns, seconds, reveal_url, post_form=form))
        rows.append(("GET /healthz (floor, again)", conns) + wrk(measured, conns, seconds, base + "/healthz"))
        rows.append(("GET /healthz (floor)", conns) + hey(measured, ["-z", seconds + "s", "-c", conns, base + "/healthz"]))
        rows.append(("GET order page", conns) + hey(measured, ["-z", seconds + "s", "-c", conns, page_url]))
        rows.append(("POST reveal", conns) + hey(measured,
            ["-z", seconds + "s", "-c", conns, "-m", "POST", "-T", "application/x-www-form-urlencoded",
             "-d", form, reveal_url]))
        order_conns = str(args.order_connections)
        rows.append(("POST /v1/orders P-256 zip", order_conns) + hey(measured,
            ["-z", seconds + "s", "-c", order_conns, "-m", "POST", "-H", auth, "-T", "application/json",
             "-d", '{"domain": "bench.example.com", "key": "p256", "format": "zip"}', base + "/v1/orders"]))
        rows.append(rsa_orders_against_keygen(measured, auth, base, keygen_bin, work, args.rsa_orders))
        keygen_rate = rows[-1][-1]
        rows[-1] = rows[-1][:-1]
        rows.append(("GET /healthz (floor, again)", conns) + hey(measured, ["-z", seconds + "s", "-c", conns, base + "/healthz"]))
        rss, peak = memory(server.pid)
    finally:
        server.terminate()
        server.wait()

    floors = {}
    for name, _, tool, rate, *_ in rows:
        if name.startswith("GET /healthz"):
            floors[tool] = max(floors.get(tool, 0.0), rate)
    print(f"{'what':32} {'conns':>5} {'tool':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>7} "
          f"{'/floor':>7} {'server us/req':>13} {'tool us/req':>11}")
    for name, connections, tool, rate, p50, p99, bad, server_us, tool_us in rows:
        print(f"{name:32} {connections:>5} {tool:>4} {rate:9.1f} {p50:8.2f} {p99:8.2f} {bad:7d} "
              f"{rate / floors[tool]:7.3f} {server_us:13.0f} {tool_us:11.0f}")
    rsa_rate = next(row[3] for row in rows if row[0].startswith("POST /v1/orders RSA"))
    print(f"{'RSA-2048 keygen example (2 procs)':32} {'2':>5} {'':>4} {keygen_rate:9.1f}")
    print(f"RSA-2048 orders / pure keygen: {rsa_rate / keygen_rate:.2f} (keygen/order time ratio {keygen_rate / rsa_rate:.2f}x)")
    print(f"server memory after the load: VmRSS {rss}, peak VmHWM {peak}")


if __name__ == "__main__":
    main()
