#!/usr/bin/env python3
"""Placement benchmark client (standard library only): loads a data set into any
Placement API and times allocation-candidate queries and claims against it.
It runs unchanged against OpenStack's Python Placement and ferrostack's: all it
needs is a base URL and a token.

  placement_load.py [--url BASE] [--token TOKEN] --providers N load
  placement_load.py [--url BASE] [--token TOKEN] --providers N measure [--results FILE] ...
  placement_load.py [--url BASE] [--token TOKEN] --providers N all [...]   (load, then measure)
  placement_load.py report RESULTS.jsonl          (markdown tables from the results)
  placement_load.py token --auth-url URL/v3 --password P   (a Keystone token for admin)
  placement_load.py settle PID                    (wait until a server's processes are idle)

--url, --token, --server-pid and --label default to $BENCH_URL, $BENCH_TOKEN,
$BENCH_SERVER_PID and $BENCH_LABEL, which placement.sh / placement_python.sh set.

The data set, for N compute nodes (names bench-cn-00000 ...):
  - traits CUSTOM_BENCH_A and CUSTOM_BENCH_B (PUT /traits/{name})
  - every compute node: VCPU 64 (allocation_ratio 4.0), MEMORY_MB 262144, DISK_GB 2000,
    and member of aggregate number i // 100
  - per 100 nodes one sharing provider (bench-shared-disk-000 ...): DISK_GB 100000,
    trait MISC_SHARES_VIA_AGGREGATE, in that aggregate
  - nodes with i % 10 == 0 (10%): traits CUSTOM_BENCH_A and CUSTOM_BENCH_B
  - nodes with i % 10 == 1 (10%): two children, bench-cn-NNNNN-numa0 (no inventory) and
    bench-cn-NNNNN-pgpu0 (VGPU 8)
  - nodes with i % 10 in (1, 4, 7) (30%): one consumer each (POST /allocations in batches
    of 100), VCPU 4 + MEMORY_MB 8192 on the node, DISK_GB 40 on the node or, for every
    other group of ten, on the sharing provider, and VGPU 1 on the PGPU child if it has one
UUIDs are derived from the names (uuid5), so `measure` knows them without a state file.
Every request uses OpenStack-API-Version: placement 1.39.
"""
import argparse
import concurrent.futures
import http.client
import json
import math
import os
import random
import resource
import socket
import statistics
import sys
import threading
import time
import urllib.parse
import uuid

MICROVERSION = "1.39"
NS = uuid.UUID("6f1c8a52-53b9-4d8e-9a56-0c1f3e1f2b7a")
PROJECT_ID = str(uuid.uuid5(NS, "bench-project"))
USER_ID = str(uuid.uuid5(NS, "bench-user"))
TRAITS = ["CUSTOM_BENCH_A", "CUSTOM_BENCH_B"]

BASE_RESOURCES = "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20"
# (key, label, query string) of the measured allocation-candidate requests.
AC_OPS = [
    ("ac", "allocation candidates", f"{BASE_RESOURCES}&limit=1000"),
    ("ac_trait", "allocation candidates, required trait", f"{BASE_RESOURCES}&required=CUSTOM_BENCH_A&limit=1000"),
    ("ac_granular", "allocation candidates, granular VGPU, isolate",
     f"{BASE_RESOURCES}&resources1=VGPU:1&group_policy=isolate&limit=1000"),
]
CLAIM_LABEL = "claim (PUT /allocations/{consumer})"
OP_LABELS = dict([(k, label) for k, label, _ in AC_OPS] + [("claim", CLAIM_LABEL)])


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def name_uuid(name):
    return str(uuid.uuid5(NS, name))


def cn_name(i):
    return f"bench-cn-{i:05d}"


def shared_name(g):
    return f"bench-shared-disk-{g:03d}"


def inventory(total, ratio=1.0):
    return {"total": total, "reserved": 0, "min_unit": 1, "max_unit": total, "step_size": 1,
            "allocation_ratio": ratio}


CN_INVENTORY = {"VCPU": inventory(64, 4.0), "MEMORY_MB": inventory(262144), "DISK_GB": inventory(2000)}


class ApiError(Exception):
    pass


class Client:
    """One keep-alive HTTP connection to the Placement API (reconnects when the
    server closes it, as gunicorn's sync workers do after every response)."""

    def __init__(self, base, token, timeout=900):
        u = urllib.parse.urlsplit(base)
        if u.scheme != "http":
            raise SystemExit(f"only http:// URLs are supported: {base}")
        self.host, self.port, self.prefix = u.hostname, u.port or 80, u.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"X-Auth-Token": token, "OpenStack-API-Version": f"placement {MICROVERSION}",
                        "Accept": "application/json"}
        self.conn = None
        self.retried = 0

    def connect(self):
        self.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.conn.connect()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def raw(self, method, path, body=None):
        """(status, body bytes). A request on a kept-alive connection that the server
        had already closed is sent once more on a new connection."""
        headers = self.headers
        data = None
        if body is not None:
            headers = dict(headers, **{"Content-Type": "application/json"})
            data = json.dumps(body).encode()
        for attempt in (1, 2):
            reused = self.conn is not None
            try:
                if self.conn is None:
                    self.connect()
                self.conn.request(method, self.prefix + path, data, headers)
                r = self.conn.getresponse()
                out = r.read()
                if r.will_close:
                    self.close()
                return r.status, out
            except (http.client.HTTPException, OSError) as e:
                self.close()
                if attempt == 2 or not reused or not isinstance(e, ConnectionError):
                    raise
        raise AssertionError("unreachable")

    def call(self, method, path, body=None, expect=(200,), retries=20):
        """JSON request; retries server errors, concurrent-update conflicts and dropped
        connections, fails on anything else. (Python Placement on SQLite with two worker processes answers
        500 "database is locked" to a good share of concurrent writes.)"""
        for attempt in range(retries + 1):
            try:
                status, out = self.raw(method, path, body)
            except (http.client.HTTPException, OSError) as e:
                status, out = None, str(e).encode()
            if status in expect:
                return json.loads(out) if out else None
            # 409 placement.concurrent_update: a provider generation moved under a concurrent
            # write (POST /allocations batches share the sharing providers); Placement
            # documents it as "retry".
            retry = status is None or status >= 500 or (status == 409 and b"placement.concurrent_update" in out)
            if retry and attempt < retries:
                self.retried += 1
                time.sleep(random.uniform(0.05, 0.1 * min(attempt + 1, 5)))
                continue
            raise ApiError(f"{method} {path}: expected {expect}, got {status}: {out[:600].decode(errors='replace')}")


class FastConn:
    """The timed loop's HTTP/1.1 client: one keep-alive socket, the request bytes built
    by hand, and only the status line, Content-Length, Transfer-Encoding and Connection
    headers read. It spends a fraction of http.client's CPU per request, which matters
    here because the client shares the machine's two cores with the server."""

    def __init__(self, client):
        self.addr = (client.host, client.port)
        self.prefix = client.prefix
        self.head = "".join(f"{k}: {v}\r\n" for k, v in client.headers.items())
        self.head += f"Host: {client.host}:{client.port}\r\n"
        self.sock = None
        self.buf = b""

    def connect(self):
        self.close()
        self.sock = socket.create_connection(self.addr, timeout=900)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buf = b""

    def request(self, method, path, data=None):
        """(status, body bytes); data is the JSON body, already encoded."""
        req = f"{method} {self.prefix}{path} HTTP/1.1\r\n{self.head}"
        if data is not None:
            req += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        req = (req + "\r\n").encode() + (data or b"")
        reused = self.sock is not None
        try:
            if self.sock is None:
                self.connect()
            self.sock.sendall(req)
            return self._response()
        except ConnectionError:
            if not reused:
                raise
            self.connect()  # the server had closed the kept-alive connection: once more
            self.sock.sendall(req)
            return self._response()

    def _recv(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionResetError("server closed the connection")
        return chunk

    def _response(self):
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            buf += self._recv()
        lines = buf[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip().lower()
        rest = buf[end + 4:]
        if status == 204 or status == 304 or 100 <= status < 200:
            body, self.buf = b"", rest
        elif "content-length" in headers:
            n = int(headers["content-length"])
            parts, have = [rest], len(rest)
            while have < n:
                parts.append(self._recv())
                have += len(parts[-1])
            rest = b"".join(parts)
            body, self.buf = rest[:n], rest[n:]
        elif "chunked" in headers.get("transfer-encoding", ""):
            body, self.buf = self._chunked(rest)
        else:
            raise http.client.HTTPException("response without Content-Length or chunked encoding")
        if headers.get("connection") == "close":
            self.close()
        return status, body

    def _chunked(self, rest):
        out = []
        while True:
            while (i := rest.find(b"\r\n")) < 0:
                rest += self._recv()
            size = int(rest[:i].split(b";")[0], 16)
            while len(rest) < i + 2 + size + 2:
                rest += self._recv()
            out.append(rest[i + 2:i + 2 + size])
            rest = rest[i + 2 + size + 2:]
            if size == 0:  # (no trailers expected)
                return b"".join(out), rest


# ------------------------------------------------------------------ load
def load(args):
    n = args.providers
    groups = (n + 99) // 100
    local = threading.local()
    count = {"requests": 0}
    lock = threading.Lock()

    clients = []

    def client():
        if not hasattr(local, "c"):
            local.c = Client(args.url, args.token)
            with lock:
                clients.append(local.c)
        return local.c

    def call(method, path, body=None, expect=(200,)):
        with lock:
            count["requests"] += 1
        return client().call(method, path, body, expect)

    def make_provider(name, parent=None):
        body = {"name": name, "uuid": name_uuid(name)}
        if parent:
            body["parent_provider_uuid"] = parent
        rp = call("POST", "/resource_providers", body)  # 200 with the provider since 1.20
        return rp["uuid"], rp["generation"]

    def set_inventory(rp, gen, inv):
        return call("PUT", f"/resource_providers/{rp}/inventories",
                    {"resource_provider_generation": gen, "inventories": inv})["resource_provider_generation"]

    def set_aggregates(rp, gen, aggs):
        return call("PUT", f"/resource_providers/{rp}/aggregates",
                    {"resource_provider_generation": gen, "aggregates": aggs})["resource_provider_generation"]

    def set_traits(rp, gen, traits):
        return call("PUT", f"/resource_providers/{rp}/traits",
                    {"resource_provider_generation": gen, "traits": traits})["resource_provider_generation"]

    def make_sharing(g):
        rp, gen = make_provider(shared_name(g))
        gen = set_inventory(rp, gen, {"DISK_GB": inventory(100000)})
        gen = set_traits(rp, gen, ["MISC_SHARES_VIA_AGGREGATE"])
        set_aggregates(rp, gen, [name_uuid(f"bench-aggregate-{g}")])

    def make_node(i):
        rp, gen = make_provider(cn_name(i))
        gen = set_inventory(rp, gen, CN_INVENTORY)
        gen = set_aggregates(rp, gen, [name_uuid(f"bench-aggregate-{i // 100}")])
        if i % 10 == 0:
            set_traits(rp, gen, TRAITS)
        if i % 10 == 1:
            make_provider(cn_name(i) + "-numa0", parent=rp)
            pgpu, pgen = make_provider(cn_name(i) + "-pgpu0", parent=rp)
            set_inventory(pgpu, pgen, {"VGPU": inventory(8)})

    def allocate(batch):
        body = {}
        for i in batch:
            cn = name_uuid(cn_name(i))
            allocs = {cn: {"resources": {"VCPU": 4, "MEMORY_MB": 8192}}}
            if (i // 10) % 2:
                allocs[name_uuid(shared_name(i // 100))] = {"resources": {"DISK_GB": 40}}
            else:
                allocs[cn]["resources"]["DISK_GB"] = 40
            if i % 10 == 1:
                allocs[name_uuid(cn_name(i) + "-pgpu0")] = {"resources": {"VGPU": 1}}
            body[name_uuid(f"bench-consumer-{i}")] = {
                "allocations": allocs, "project_id": PROJECT_ID, "user_id": USER_ID,
                "consumer_generation": None, "consumer_type": "INSTANCE"}
        call("POST", "/allocations", body, expect=(204,))

    def run(what, fn, items, every):
        t = time.monotonic()
        done = 0
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            futures = [pool.submit(fn, x) for x in items]
            try:
                for f in concurrent.futures.as_completed(futures):
                    f.result()
                    done += 1
                    if done % every == 0 or done == len(futures):
                        el = time.monotonic() - t
                        log(f"  {what}: {done}/{len(futures)} in {el:.1f} s ({done / el:.1f}/s)")
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    t0 = time.monotonic()
    log(f"[{args.label}] loading {n} compute nodes into {args.url} with {args.concurrency} concurrent clients")
    for t in TRAITS:
        call("PUT", f"/traits/{t}", expect=(201, 204))
    run("sharing DISK_GB providers", make_sharing, range(groups), max(1, groups))
    run("compute nodes", make_node, range(n), 1000)
    allocated = [i for i in range(n) if i % 10 in (1, 4, 7)]
    batches = [allocated[k:k + 100] for k in range(0, len(allocated), 100)]
    run("allocation batches of 100 consumers", allocate, batches, max(1, len(batches) // 4))
    load_s = time.monotonic() - t0
    retried = sum(c.retried for c in clients)
    providers = call("GET", "/resource_providers")["resource_providers"]
    nested = len([i for i in range(n) if i % 10 == 1])
    want = n + groups + 2 * nested
    if len(providers) != want:
        raise ApiError(f"GET /resource_providers lists {len(providers)} providers, expected {want}")
    log(f"[{args.label}] loaded in {load_s:.1f} s: {len(providers)} providers ({n} compute nodes, "
        f"{groups} sharing, {2 * nested} children), {len(allocated)} consumers, {count['requests']} requests"
        f" ({retried} retried after a 5xx or 409 concurrent update)")
    return {"kind": "load", "label": args.label, "providers": n, "total_providers": len(providers),
            "consumers": len(allocated), "requests": count["requests"], "retried": retried,
            "seconds": round(load_s, 2),
            "concurrency": args.concurrency, "server_desc": os.environ.get("BENCH_SERVER_DESC", "")}


# ------------------------------------------------------------------ measure
def tree_jiffies(root):
    """utime + stime of a process and all its descendants (0 without a PID)."""
    if not root:
        return 0
    children, times = {}, {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(d))
                times[int(d)] = int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        total += times.get(pid, 0)
    return total


def settle(pid, limit=60):
    """Wait until a process tree is quiet: under 5% of a core over half a second."""
    hz = os.sysconf("SC_CLK_TCK")
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        j0 = tree_jiffies(pid)
        time.sleep(0.5)
        if (tree_jiffies(pid) - j0) / hz / 0.5 < 0.05:
            return
    log(f"process {pid} still busy after {limit} s")


def busy_jiffies():
    """CPU time the whole machine spent busy (all but idle and iowait), in jiffies."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]


def wait_idle(limit):
    """Wait until the machine is idle (under 0.15 cores busy over 2 s), at most `limit` s."""
    hz = os.sysconf("SC_CLK_TCK")
    t0 = time.monotonic()
    while True:
        b0 = busy_jiffies()
        time.sleep(2)
        cores = (busy_jiffies() - b0) / hz / 2
        if cores < 0.15:
            return
        if time.monotonic() - t0 > limit:
            log(f"  machine still busy after {limit:g} s ({cores:.2f} cores): measuring anyway")
            return


def count_candidates(body):
    # Each allocation request has exactly one "allocations" key; provider summaries have none.
    return body.count(b'"allocations"')


def check_op(args, op, query):
    """Send the request once, parse it fully, and make sure it is a real answer."""
    c = Client(args.url, args.token)
    if op == "claim":
        status, out = c.raw("PUT", f"/allocations/{uuid.uuid4()}", claim_body(0))
        if status != 204:
            raise ApiError(f"claim check: expected 204, got {status}: {out[:600]}")
        return {}
    t = time.perf_counter()
    status, out = c.raw("GET", f"/allocation_candidates?{query}")
    ms = (time.perf_counter() - t) * 1000
    if status != 200:
        raise ApiError(f"GET /allocation_candidates?{query}: {status}: {out[:600]}")
    d = json.loads(out)
    ars, summaries = d["allocation_requests"], d["provider_summaries"]
    if not ars or len(ars) != count_candidates(out):
        raise ApiError(f"GET /allocation_candidates?{query}: {len(ars)} candidates (counted {count_candidates(out)})")
    if op == "ac_granular" and not all(any("VGPU" in a["resources"] for a in ar["allocations"].values()) for ar in ars):
        raise ApiError("granular request: a candidate without VGPU")
    if op == "ac_trait":
        for ar in ars:
            if not any("CUSTOM_BENCH_A" in summaries[rp].get("traits", []) for rp in ar["allocations"]):
                raise ApiError("required-trait request: a candidate without CUSTOM_BENCH_A")
    log(f"  check {op}: 200, {len(ars)} candidates, {len(summaries)} provider summaries, "
        f"{len(out) / 1024:.0f} KiB, {ms:.1f} ms")
    return {"candidates": len(ars), "summaries": len(summaries), "bytes": len(out)}


def claim_body(i):
    """A new consumer's claim on compute node i."""
    return {"allocations": {name_uuid(cn_name(i)): {"resources": {"VCPU": 1, "MEMORY_MB": 512}}},
            "project_id": PROJECT_ID, "user_id": USER_ID, "consumer_generation": None,
            "consumer_type": "INSTANCE"}


def percentile(sorted_values, p):
    """Nearest-rank percentile."""
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def run_op(args, op, query, clients):
    """`clients` threads, each with its own connection (FastConn), send requests back to back.
    A client stops starting new requests once --duration has passed and at least
    --min-requests have completed in total, or once --max-time has passed."""
    lock = threading.Lock()
    done = [0]
    samples = []  # (latency s, status, candidates)
    errors = []
    bad_body = []  # the first unexpected response, to show
    ready = threading.Barrier(clients + 1)
    t0 = [0.0]

    def worker(k):
        c = FastConn(Client(args.url, args.token))
        rng = random.Random(k * 7919 + clients)
        mine = []
        try:
            c.connect()
        except OSError as e:
            errors.append(str(e))
        ready.wait()
        ready.wait()  # the main thread has set t0
        while True:
            el = time.perf_counter() - t0[0]
            with lock:
                n = done[0]
            if el >= args.max_time or (el >= args.duration and n >= args.min_requests):
                break
            if op == "claim":
                method, path = "PUT", f"/allocations/{uuid.uuid4()}"
                data = json.dumps(claim_body(rng.randrange(args.providers))).encode()
            else:
                method, path, data = "GET", f"/allocation_candidates?{query}", None
            t = time.perf_counter()
            try:
                status, out = c.request(method, path, data)
            except (http.client.HTTPException, OSError) as e:
                errors.append(str(e))
                c.close()
                continue
            lat = time.perf_counter() - t
            if status not in (200, 204) and not bad_body:
                bad_body.append(f"{status} {out[:300].decode(errors='replace')}")
            mine.append((lat, status, count_candidates(out) if status == 200 and op != "claim" else None,
                         t + lat - t0[0]))
            with lock:
                done[0] += 1
        with lock:
            samples.extend(mine)
        c.close()

    if args.server_pid:
        settle(args.server_pid)
    wait_idle(args.idle_wait)
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for th in threads:
        th.start()
    ready.wait()
    j0, r0, b0 = tree_jiffies(args.server_pid), resource.getrusage(resource.RUSAGE_SELF), busy_jiffies()
    t0[0] = time.perf_counter()
    ready.wait()
    for th in threads:
        th.join()
    wall = max((s[3] for s in samples), default=time.perf_counter() - t0[0])
    j1, r1, b1 = tree_jiffies(args.server_pid), resource.getrusage(resource.RUSAGE_SELF), busy_jiffies()
    hz = os.sysconf("SC_CLK_TCK")
    client_s = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    lats = sorted(s[0] * 1000 for s in samples)
    statuses = {}
    for s in samples:
        statuses[str(s[1])] = statuses.get(str(s[1]), 0) + 1
    cands = [s[2] for s in samples if s[2] is not None]
    rec = {
        "kind": "run", "label": args.label, "op": op, "query": query, "providers": args.providers,
        "clients": clients, "requests": len(samples), "statuses": statuses, "errors": len(errors),
        "median_ms": statistics.median(lats) if lats else None, "p95_ms": percentile(lats, 95) if lats else None,
        "mean_ms": statistics.fmean(lats) if lats else None, "max_ms": lats[-1] if lats else None,
        "seconds": wall, "rps": len(samples) / wall if wall > 0 else 0.0,
        "candidates_min": min(cands) if cands else None, "candidates_max": max(cands) if cands else None,
        "client_cores": client_s / wall if wall > 0 else 0,
        "server_cores": (j1 - j0) / hz / wall if args.server_pid and wall > 0 else None,
        # CPU that processes other than this client and the server took meanwhile.
        "other_cores": max(0.0, (b1 - b0 - (j1 - j0)) / hz - client_s) / wall
        if args.server_pid and wall > 0 else None,
        "server_desc": os.environ.get("BENCH_SERVER_DESC", ""),
    }
    ok = "204" if op == "claim" else "200"
    bad = {k: v for k, v in statuses.items() if k != ok}
    rec["ok_rps"] = statuses.get(ok, 0) / wall if wall > 0 else 0.0
    log(f"  {op:<12} clients={clients}  {rec['requests']:5d} requests in {wall:6.1f} s  "
        f"{rec['rps']:9.1f} req/s  median {fmt_ms(rec['median_ms'])} ms  p95 {fmt_ms(rec['p95_ms'])} ms  "
        f"client {rec['client_cores']:.2f} cores"
        + (f", server {rec['server_cores']:.2f}, other {rec['other_cores']:.2f}" if rec["server_cores"] is not None else "")
        + (f"  statuses {statuses}, first: {bad_body[0] if bad_body else ''}" if bad else "")
        + (f"  errors {len(errors)}: {errors[0]}" if errors else ""))
    return rec


def measure(args):
    clients = [int(x) for x in args.clients.split(",")]
    ops = [(k, q) for k, _, q in AC_OPS if k in args.ops] + ([("claim", None)] if "claim" in args.ops else [])
    log(f"[{args.label}] measuring {args.url} with {args.providers} compute nodes: "
        f"{args.duration:g} s per run (at least {args.min_requests} requests, at most {args.max_time:g} s)")
    recs = []
    for op, query in ops:
        info = check_op(args, op, query)
        for c in clients:
            for attempt in range(args.retries + 1):
                rec = run_op(args, op, query, c)
                # Other processes (a compile) took CPU during the run: measure it again.
                if rec["other_cores"] is None or rec["other_cores"] <= 0.2 or attempt == args.retries:
                    break
                log(f"  other processes took {rec['other_cores']:.2f} cores during that run: again "
                    f"({attempt + 1} of {args.retries})")
            rec.update({f"check_{k}": v for k, v in info.items()})
            recs.append(rec)
            if args.results:
                append(args.results, rec)
            if rec["requests"] == 0 or rec["errors"] or (op != "claim" and (
                    set(rec["statuses"]) != {"200"} or not rec["candidates_min"])):
                raise SystemExit(f"{op} with {c} clients: failed or empty responses: {rec['statuses']}, "
                                 f"{rec['errors']} errors, candidates min {rec['candidates_min']}")
    return recs


def append(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


# ------------------------------------------------------------------ report
def fmt_ms(v):
    if v is None:
        return "–"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def fmt_rps(v):
    return f"{v:,.2f}" if v < 10 else f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def ratio(f, p):
    return f"{f['ok_rps'] / p['ok_rps']:,.0f}×" if p["ok_rps"] > 0 else "–"


def report(paths):
    runs, loads = [], []
    for p in paths:
        with open(p) as f:
            for line in f:
                r = json.loads(line)
                (runs if r["kind"] == "run" else loads).append(r)
    out = []
    labels = list(dict.fromkeys(r["label"] for r in loads + runs))
    for lab in labels:
        desc = next((r["server_desc"] for r in loads + runs if r["label"] == lab and r.get("server_desc")), "")
        out.append(f"- **{lab}**: {desc}" if desc else f"- **{lab}**")
    out.append("")
    if loads:
        out += ["Loading (through the API, same script for both):", "",
                "| server | compute nodes | providers in all | consumers | requests | retried (5xx or concurrent update) | "
                "concurrency | seconds | req/s |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in loads:
            out.append(f"| {r['label']} | {r['providers']:,} | {r['total_providers']:,} | {r['consumers']:,} | "
                       f"{r['requests']:,} | {r['retried']:,} | {r['concurrency']} | {r['seconds']:,.1f} | "
                       f"{r['requests'] / r['seconds']:,.0f} |")
        out.append("")
    out += ["| server | operation | providers | clients | requests | median ms | p95 ms | req/s | ok/s | candidates | "
            "statuses | client cores | server cores | other cores |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for r in runs:
        cand = "–"
        if r.get("candidates_min") is not None:
            cand = (f"{r['candidates_min']:,}" if r["candidates_min"] == r["candidates_max"]
                    else f"{r['candidates_min']:,}–{r['candidates_max']:,}")
        st = ", ".join(f"{k}: {v:,}" for k, v in sorted(r["statuses"].items()))
        if r["errors"]:
            st += f", connection errors: {r['errors']}"
        sc = "–" if r.get("server_cores") is None else f"{r['server_cores']:.2f}"
        oc = "–" if r.get("other_cores") is None else f"{r['other_cores']:.2f}" + (" †" if r["other_cores"] > 0.2 else "")
        out.append(f"| {r['label']} | {OP_LABELS[r['op']]} | {r['providers']:,} | {r['clients']} | {r['requests']:,} | "
                   f"{fmt_ms(r['median_ms'])} | {fmt_ms(r['p95_ms'])} | {fmt_rps(r['rps'])} | {fmt_rps(r['ok_rps'])} | {cand} | {st} | "
                   f"{r['client_cores']:.2f} | {sc} | {oc} |")
    out.append("")
    out.append("Latencies are over all responses; ok/s counts only 200 (allocation candidates) or 204 (claims). "
               "Candidates: the number of allocation requests in each 200 response (min–max over the run). "
               "Client, server and other cores: CPU time over the run's wall time of the client (this Python "
               "script), the server's processes, and everything else on the machine; † marks a run during which "
               "other processes took more than 0.2 cores.")
    out.append("")
    out.append("Queries: " + "; ".join(f"{label}: `GET /allocation_candidates?{q}`" for _, label, q in AC_OPS)
               + "; claim: `PUT /allocations/{new uuid}` with VCPU 1, MEMORY_MB 512 on a random compute node, "
               "consumer_generation null.")

    # Targets: ferrostack against the Python service, at the largest size both ran.
    by = {(r["label"], r["op"], r["providers"], r["clients"]): r for r in runs}
    if any(r["label"] == "ferrostack" for r in runs) and any(r["label"] == "python" for r in runs):
        sizes = sorted({r["providers"] for r in runs if r["label"] == "ferrostack"}
                       & {r["providers"] for r in runs if r["label"] == "python"})
        out += ["", "| operation | providers | clients | python ok/s | ferrostack ok/s | ratio | ferrostack median ms |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for n in sizes:
            for op in OP_LABELS:
                for c in sorted({r["clients"] for r in runs}):
                    p, f = by.get(("python", op, n, c)), by.get(("ferrostack", op, n, c))
                    if p and f:
                        out.append(f"| {OP_LABELS[op]} | {n:,} | {c} | {fmt_rps(p['ok_rps'])} | {fmt_rps(f['ok_rps'])} | "
                                   f"{ratio(f, p)} | {fmt_ms(f['median_ms'])} |")
        if sizes:
            n = max(sizes)
            out += ["", f"| target (at {n:,} providers) | figure | met |", "|---|---|---|"]
            for op, label, _ in AC_OPS:
                f1 = by.get(("ferrostack", op, n, 1))
                if f1:
                    out.append(f"| {label}: median < 20 ms (1 client) | {fmt_ms(f1['median_ms'])} ms | "
                               f"{'yes' if f1['median_ms'] < 20 else '**no**'} |")
            for op in OP_LABELS:
                need = 20 if op == "claim" else 50
                for c in sorted({r["clients"] for r in runs}):
                    p, f = by.get(("python", op, n, c)), by.get(("ferrostack", op, n, c))
                    if p and f:
                        met = p["ok_rps"] > 0 and f["ok_rps"] / p["ok_rps"] >= need
                        out.append(f"| {OP_LABELS[op]}, {c} client{'s' if c > 1 else ''}: ≥ {need}× Python's "
                                   f"throughput | {ratio(f, p)} ({fmt_rps(f['ok_rps'])} against {fmt_rps(p['ok_rps'])} ok/s) | "
                                   f"{'yes' if met else '**no**'} |")
    print("\n".join(out))


# ------------------------------------------------------------------ token
def token(args):
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": args.username, "domain": {"id": "default"}, "password": args.password}}},
        "scope": {"project": {"name": args.project, "domain": {"id": "default"}}}}}
    u = urllib.parse.urlsplit(args.auth_url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)
    conn.request("POST", u.path.rstrip("/") + "/auth/tokens", json.dumps(body),
                 {"Content-Type": "application/json", "Accept": "application/json"})
    r = conn.getresponse()
    out = r.read()
    if r.status != 201:
        raise SystemExit(f"POST {args.auth_url}/auth/tokens: {r.status}: {out[:600]}")
    print(r.getheader("X-Subject-Token"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=os.environ.get("BENCH_URL"), help="Placement base URL ($BENCH_URL)")
    p.add_argument("--token", default=os.environ.get("BENCH_TOKEN"), help="X-Auth-Token value ($BENCH_TOKEN)")
    p.add_argument("--providers", type=int, help="number of compute nodes")
    p.add_argument("--label", default=os.environ.get("BENCH_LABEL", "placement"), help="server name in the results")
    p.add_argument("--server-pid", type=int, default=int(os.environ.get("BENCH_SERVER_PID") or 0),
                   help="the server's PID, to report its CPU use ($BENCH_SERVER_PID)")
    p.add_argument("--results", help="append result records (JSON lines) to this file")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("load", "all"):
        a = sub.add_parser(name)
        a.add_argument("--concurrency", type=int, default=8, help="concurrent clients while loading (8)")
    for name in ("measure", "all"):
        a = sub.choices[name] if name in sub.choices else sub.add_parser(name)
        a.add_argument("--duration", type=float, default=10, help="seconds per run (10)")
        a.add_argument("--min-requests", type=int, default=20,
                       help="a run goes on past --duration until this many requests completed (20)")
        a.add_argument("--max-time", type=float, default=180, help="but no longer than this (180 s)")
        a.add_argument("--clients", default="1,8", help="client counts, comma-separated (1,8)")
        a.add_argument("--ops", default="ac,ac_trait,ac_granular,claim", help="operations (all four)")
        a.add_argument("--retries", type=int, default=int(os.environ.get("BENCH_RETRIES", 2)),
                       help="measure a run again when other processes took > 0.2 cores during it ($BENCH_RETRIES, 2)")
        a.add_argument("--idle-wait", type=float, default=float(os.environ.get("BENCH_IDLE_WAIT", 300)),
                       help="before each run, wait up to this long for an idle machine ($BENCH_IDLE_WAIT, 300 s)")
    a = sub.add_parser("report")
    a.add_argument("files", nargs="+")
    a = sub.add_parser("token")
    a.add_argument("--auth-url", required=True, help="Keystone v3 URL, e.g. http://127.0.0.1:5000/identity/v3")
    a.add_argument("--username", default="admin")
    a.add_argument("--project", default="admin")
    a.add_argument("--password", required=True)
    a = sub.add_parser("settle")
    a.add_argument("pid", type=int)
    args = p.parse_args()
    if args.cmd == "settle":
        return settle(args.pid)
    if args.cmd == "report":
        return report(args.files)
    if args.cmd == "token":
        return token(args)
    if not (args.url and args.token and args.providers):
        p.error("--url, --token and --providers are needed (or $BENCH_URL, $BENCH_TOKEN)")
    args.url = args.url.rstrip("/")
    if args.cmd in ("load", "all"):
        rec = load(args)
        if args.results:
            append(args.results, rec)
    if args.cmd in ("measure", "all"):
        args.ops = args.ops.split(",")
        measure(args)


if __name__ == "__main__":
    main()
