#!/usr/bin/env python3
"""Real-VM benchmark: a controller (`ferrostack up` without its agent) and
one `ferrostack agent --driver qemu` process on this machine, the test guest
from `ferrostack dev build-test-image`.

    scripts/bench/vm.py --binary target/release/ferrostack [--boots 20] [--concurrent 20]

Prints, for sequential boots: POST /servers -> ACTIVE and POST -> the guest's
marker on the console (median, p95); QEMU's own start (the same command line
started by hand, up to its monitor answering) and ferrostack's overhead
(ACTIVE minus QEMU's start); then the same for concurrent boots; and the
agent's RSS idle and per running guest (QEMU's own memory excluded).
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import uuid


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def fmt(xs):
    return f"median {statistics.median(xs) * 1000:.0f} ms, p95 {pct(xs, 95) * 1000:.0f} ms (n={len(xs)})"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Api:
    def __init__(self, url, token):
        u = urllib.parse.urlparse(url)
        self.host, self.port, self.token = u.hostname, u.port, token

    def call(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        h = {"X-Auth-Token": self.token or "", "Content-Type": "application/json",
             "OpenStack-API-Version": "compute 2.90"}
        h.update(headers or {})
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        return r.status, dict(r.getheaders()), (json.loads(raw) if raw and raw[:1] in b"{[" else raw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--boots", type=int, default=20)
    ap.add_argument("--concurrent", type=int, default=20)
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    work = tempfile.mkdtemp(prefix="ferrostack-vmbench-")
    procs = []
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "FERROSTACK_"))}
        env.update({"FERROSTACK_AGENT__ENABLED": "false", "FERROSTACK_LOG": "warn",
                    "FERROSTACK_COMPUTE__QUOTA_INSTANCES": "-1", "FERROSTACK_COMPUTE__QUOTA_CORES": "-1",
                    "FERROSTACK_COMPUTE__QUOTA_RAM": "-1",
                    # 20 one-vCPU guests on a 2-core machine: above Nova's
                    # initial ratio of 4, as an operator overcommitting would.
                    "FERROSTACK_COMPUTE__CPU_ALLOCATION_RATIO": "16"})
        up = subprocess.Popen([binary, "up", "--data-dir", os.path.join(work, "ctl"), "--listen", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=open(os.path.join(work, "ctl.log"), "w"), env=env, text=True)
        procs.append(up)
        url = None
        while True:
            line = up.stdout.readline()
            if not line:
                raise SystemExit("ferrostack up exited; see " + work)
            if line.startswith("ferrostack is up at "):
                url = line.split()[-1]
            if line.startswith("export OS_CLOUD"):
                break
        password = open(os.path.join(work, "ctl", "admin-password")).read().strip()
        api = Api(url, None)
        auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        _, h, _ = api.call("POST", "/identity/v3/auth/tokens", auth)
        api.token = h.get("X-Subject-Token") or h.get("x-subject-token")

        print("building the test image ...", flush=True)
        subprocess.run([binary, "dev", "build-test-image", "--output", os.path.join(work, "img")], check=True,
                       stdout=subprocess.DEVNULL)
        _, _, img = api.call("POST", "/image/v2/images", {"name": "tiny", "disk_format": "qcow2",
                                                          "container_format": "bare"})
        with open(os.path.join(work, "img", "tiny.qcow2"), "rb") as f:
            api.call("PUT", f"/image/v2/images/{img['id']}/file", f.read(),
                     {"Content-Type": "application/octet-stream"})
        _, _, fl = api.call("POST", "/compute/v2.1/flavors", {"flavor": {"name": "bench", "ram": 128, "vcpus": 1,
                                                                         "disk": 1}})

        aenv = dict(env, FERROSTACK_AGENT_PASSWORD=password, FERROSTACK_AGENT__POLL_WAIT="20")
        agent = subprocess.Popen([binary, "agent", "--controller", url, "--node-name", "bench-hv", "--data-dir",
                                  os.path.join(work, "hv"), "--driver", "qemu"],
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "agent.log"), "w"), env=aenv)
        procs.append(agent)
        while True:
            _, _, hv = api.call("GET", "/compute/v2.1/os-hypervisors")
            if hv.get("hypervisors"):
                break
            time.sleep(0.2)
        time.sleep(3)
        idle_rss = rss_kib(agent.pid)

        def boot(name):
            t0 = time.monotonic()
            _, _, s = api.call("POST", "/compute/v2.1/servers", {"server": {
                "name": name, "imageRef": img["id"], "flavorRef": fl["flavor"]["id"], "networks": "none"}})
            sid = s["server"]["id"]
            active = marker = None
            while marker is None:
                now = time.monotonic()
                if active is None:
                    _, _, s = api.call("GET", f"/compute/v2.1/servers/{sid}")
                    st = s["server"]["status"]
                    if st == "ERROR":
                        raise SystemExit(f"server {sid} ERROR: {s['server'].get('fault')}")
                    if st == "ACTIVE":
                        active = time.monotonic() - t0
                        continue
                    time.sleep(0.01)
                else:
                    _, _, out = api.call("POST", f"/compute/v2.1/servers/{sid}/action",
                                         {"os-getConsoleOutput": {"length": 50}})
                    if "FERROSTACK-GUEST-READY" in (out or {}).get("output", ""):
                        marker = now - t0
                    else:
                        time.sleep(0.1)
                if time.monotonic() - t0 > 600:
                    raise SystemExit(f"server {sid} took over 600 s")
            return sid, active, marker

        def delete(sid):
            api.call("DELETE", f"/compute/v2.1/servers/{sid}")
            while api.call("GET", f"/compute/v2.1/servers/{sid}")[0] != 404:
                time.sleep(0.05)

        print(f"{a.boots} sequential boots ...", flush=True)
        seq_active, seq_marker, qemu_start = [], [], []
        for i in range(a.boots):
            sid, t_active, t_marker = boot(f"seq-{i}")
            seq_active.append(t_active)
            seq_marker.append(t_marker)
            qemu_start.append(bare_qemu_start(os.path.join(work, "hv"), sid, work))
            delete(sid)
        overhead = [x - q for x, q in zip(seq_active, qemu_start)]

        print(f"{a.concurrent} concurrent boots ...", flush=True)
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(a.concurrent) as pool:
            results = list(pool.map(boot, [f"par-{i}" for i in range(a.concurrent)]))
        loaded_rss = rss_kib(agent.pid)
        per_guest = (loaded_rss - idle_rss) / max(1, a.concurrent)
        for sid, _, _ in results:
            api.call("DELETE", f"/compute/v2.1/servers/{sid}")
        for sid, _, _ in results:
            delete(sid)

        print()
        print(f"sequential: POST -> ACTIVE        {fmt(seq_active)}")
        print(f"sequential: POST -> guest marker  {fmt(seq_marker)}")
        print(f"QEMU's own start (by hand)        {fmt(qemu_start)}")
        print(f"ferrostack overhead (ACTIVE - QEMU start) {fmt(overhead)}")
        print(f"{a.concurrent} concurrent: POST -> ACTIVE  {fmt([r[1] for r in results])}")
        print(f"{a.concurrent} concurrent: POST -> marker  {fmt([r[2] for r in results])}")
        print(f"agent RSS idle {idle_rss / 1024:.1f} MiB; with {a.concurrent} guests {loaded_rss / 1024:.1f} MiB "
              f"({per_guest:.0f} KiB per guest, QEMU excluded)")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        hv = os.path.join(work, "hv", "instances")
        for d in os.listdir(hv) if os.path.isdir(hv) else []:
            try:
                pid = int(open(os.path.join(hv, d, "qemu.pid")).read())
                if d.encode() in open(f"/proc/{pid}/cmdline", "rb").read():
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(work, ignore_errors=True)


def bare_qemu_start(hv_dir, sid, work):
    """Starts the guest's own QEMU command line by hand (its disk copied, in
    a scratch directory) and times it up to its monitor answering `cont`."""
    inst = os.path.join(hv_dir, "instances", sid)
    pid = int(open(os.path.join(inst, "qemu.pid")).read())
    argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:-1]
    scratch = os.path.join(work, "bare")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    shutil.copy(os.path.join(inst, "disk"), os.path.join(scratch, "disk"))
    new_uuid = str(uuid.uuid4())
    args = [x.decode().replace(inst, scratch).replace(sid, new_uuid) for x in argv]
    sock = os.path.join(scratch, "qmp.sock")
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(sock)
                break
            except OSError:
                time.sleep(0.005)
        f = s.makefile("rw")
        f.readline()
        for cmd in ("qmp_capabilities", "cont"):
            f.write(json.dumps({"execute": cmd}) + "\n")
            f.flush()
            while "return" not in f.readline():
                pass
        elapsed = time.monotonic() - t0
        s.close()
        return elapsed
    finally:
        p.kill()
        p.wait()


if __name__ == "__main__":
    main()
