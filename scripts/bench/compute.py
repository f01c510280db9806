#!/usr/bin/env python3
"""Compute benchmark: many fake nodes, many server creates from concurrent
clients; how fast servers are accepted and become ACTIVE, how long a list
of 1,000 servers with details takes, whether Placement's usage matches the
ACTIVE servers, and the server's memory. Prints a markdown report on stdout
(progress on stderr). A script, not a timed test.

    scripts/bench/compute.py --binary target/release/ferrostack \\
        [--nodes 1000] [--servers 5000] [--clients 8]

ferrostack runs as `ferrostack up --listen 127.0.0.1:0` on a fresh data dir
(SQLite) with its fake agent serving --nodes hosts, and is stopped by its
PID at the end. Only the standard library is used.
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone


def say(msg):
    print(f"[compute-bench] {msg}", file=sys.stderr, flush=True)


class Api:
    """One keep-alive HTTP connection per thread, as openstacksdk's session
    keeps one; the clients then cost the shared cores little."""

    def __init__(self, url, token):
        self.url, self.token = url, token
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.prefix = u.hostname, u.port, u.path.rstrip("/")
        self.local = threading.local()

    def call(self, method, path, body=None, mv="2.47"):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"X-Auth-Token": self.token, "OpenStack-API-Version": f"compute {mv}, placement 1.28"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                conn.request(method, self.prefix + path, body=data, headers=headers)
                r = conn.getresponse()
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self.local.conn = None
                # A POST may have been served: only reads are sent again.
                if attempt or method != "GET":
                    raise


def rss_kib(pid, key="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pss_kib(pid):
    """Proportional set size: shared file pages counted once."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def parse_time(s):
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc).timestamp()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--servers", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--keep", action="store_true", help="keep the data dir (printed on stderr) for a look at the database")
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="ferrostack-compute-bench-")
    env = dict(os.environ)
    env.update({
        "FERROSTACK_AGENT__DRIVER": "fake",
        "FERROSTACK_AGENT__FAKE_NODES": str(a.nodes),
        "FERROSTACK_AGENT__HOST": "bench",
        "FERROSTACK_COMPUTE__QUOTA_INSTANCES": "-1",
        "FERROSTACK_COMPUTE__QUOTA_CORES": "-1",
        "FERROSTACK_COMPUTE__QUOTA_RAM": "-1",
        "FERROSTACK_LOG": "warn",
    })
    proc = subprocess.Popen([a.binary, "up", "--data-dir", work, "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=open(os.path.join(work, "log"), "w"), env=env, text=True)
    try:
        url = None
        for line in proc.stdout:
            if line.startswith("ferrostack is up at "):
                url = line.split()[-1]
            if line.startswith("export OS_CLOUD"):
                break
        password = open(os.path.join(work, "admin-password")).read().strip()
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        req = urllib.request.Request(url + "/identity/v3/auth/tokens", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            token = r.headers["X-Subject-Token"]
        api = Api(url, token)

        t0 = time.time()
        while True:
            _, v = api.call("GET", "/compute/v2.1/os-services")
            n = len(v["services"])
            if n >= a.nodes:
                break
            if time.time() - t0 > 600:
                raise SystemExit(f"only {n} of {a.nodes} hosts registered")
            time.sleep(1)
        say(f"{a.nodes} fake hosts registered in {time.time() - t0:.1f} s")

        req = urllib.request.Request(url + "/image/v2/images", method="POST", data=json.dumps(
            {"name": "bench", "disk_format": "raw", "container_format": "bare", "visibility": "public"}).encode(),
            headers={"Content-Type": "application/json", "X-Auth-Token": token})
        with urllib.request.urlopen(req) as r:
            image = json.loads(r.read())["id"]
        req = urllib.request.Request(url + f"/image/v2/images/{image}/file", method="PUT", data=b"\0" * 4096,
                                     headers={"Content-Type": "application/octet-stream", "X-Auth-Token": token})
        urllib.request.urlopen(req).read()
        api.call("POST", "/compute/v2.1/flavors",
                 {"flavor": {"name": "bench", "id": "bench", "ram": 256, "vcpus": 1, "disk": 1}})
        rss_before = rss_kib(proc.pid)

        posted = {}
        lock = threading.Lock()
        per_client = [a.servers // a.clients + (1 if i < a.servers % a.clients else 0) for i in range(a.clients)]

        def client(c, count):
            for i in range(count):
                start = time.time()
                s, v = api.call("POST", "/compute/v2.1/servers", {"server": {
                    "name": f"b{c}-{i}", "imageRef": image, "flavorRef": "bench", "networks": "none"}}, mv="2.37")
                if s != 202:
                    raise SystemExit(f"create answered {s}: {v}")
                with lock:
                    posted[v["server"]["id"]] = start

        say(f"creating {a.servers} servers from {a.clients} clients")
        begin = time.time()
        threads = [threading.Thread(target=client, args=(c, n)) for c, n in enumerate(per_client)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted_s = time.time() - begin
        say(f"all accepted in {accepted_s:.1f} s; waiting for ACTIVE")

        while True:
            _, v = api.call("GET", "/compute/v2.1/servers/detail?status=BUILD&limit=1")
            if not v["servers"]:
                break
            if time.time() - begin > 3600:
                raise SystemExit("servers stayed in BUILD for an hour")
            time.sleep(0.5)
        done = time.time()

        servers, marker = [], None
        while True:
            q = "/compute/v2.1/servers/detail?limit=1000" + (f"&marker={marker}" if marker else "")
            _, v = api.call("GET", q)
            servers += v["servers"]
            if len(v["servers"]) < 1000:
                break
            marker = v["servers"][-1]["id"]
        active = [s for s in servers if s["status"] == "ACTIVE"]
        latencies = [parse_time(s["OS-SRV-USG:launched_at"]) - posted[s["id"]] for s in active if s["id"] in posted]
        last_active = max(parse_time(s["OS-SRV-USG:launched_at"]) for s in active) if active else done

        list_times = []
        for _ in range(20):
            t = time.time()
            s, v = api.call("GET", "/compute/v2.1/servers/detail?limit=1000")
            list_times.append((time.time() - t) * 1000)
        rss_after = rss_kib(proc.pid)
        hwm = rss_kib(proc.pid, "VmHWM")
        anon_after, file_after = rss_kib(proc.pid, "RssAnon"), rss_kib(proc.pid, "RssFile")
        pss_after = pss_kib(proc.pid)

        _, rps = api.call("GET", "/placement/resource_providers")
        used_ram = 0
        for rp in rps["resource_providers"]:
            _, u = api.call("GET", f"/placement/resource_providers/{rp['uuid']}/usages")
            used_ram += u["usages"].get("MEMORY_MB", 0)

        total = len(servers)
        print(f"## Compute benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
        print(f"- machine: {os.cpu_count()} cores; `ferrostack up` (SQLite) with its fake agent serving {a.nodes} hosts")
        print(f"- command: `scripts/bench/compute.py --nodes {a.nodes} --servers {a.servers} --clients {a.clients}`")
        print(f"- flavor: 1 VCPU, 256 MiB, 1 GiB; image: 4 KiB raw\n")
        print("| figure | value |")
        print("|---|---:|")
        print(f"| servers created / ACTIVE / other | {total} / {len(active)} / {total - len(active)} |")
        print(f"| creates accepted (POST answered) | {a.servers / accepted_s:.0f}/s ({accepted_s:.1f} s) |")
        print(f"| servers to ACTIVE (first POST to last ACTIVE) | {len(active) / max(last_active - begin, 1e-9):.0f}/s ({last_active - begin:.1f} s) |")
        if latencies:
            print(f"| POST → ACTIVE p50 / p95 / max | {pct(latencies, 50) * 1000:.0f} / {pct(latencies, 95) * 1000:.0f} / {max(latencies) * 1000:.0f} ms |")
        print(f"| GET /servers/detail?limit=1000, {total} servers: p50 / p95 | {statistics.median(list_times):.0f} / {pct(list_times, 95):.0f} ms |")
        print(f"| Placement MEMORY_MB used / ACTIVE × 256 | {used_ram} / {len(active) * 256} |")
        print(f"| controller RSS before / after / peak | {rss_before // 1024} / {rss_after // 1024} / {hwm // 1024} MiB |")
        print(f"| of which after: anonymous / file-mapped | {anon_after // 1024} / {file_after // 1024} MiB |")
        print(f"| controller PSS after (shared pages counted once) | {pss_after // 1024} MiB |")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if a.keep:
            say(f"data dir kept: {work}")
        else:
            subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
