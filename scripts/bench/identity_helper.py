#!/usr/bin/env python3
"""Helper for scripts/bench/identity.sh (standard library only).

Subcommands:
  launch   start a server, write its PID at once, wait for GET URL == 200,
           print the PID and the milliseconds from process start to that 200
  setup    log in as admin, create an application credential and seed users,
           check each benchmarked request once, write one wrk Lua script per
           operation
  rss      sum VmRSS (kB) of a process and all its descendants
  descendants  PIDs below a process (to stop gunicorn workers left behind)
  cpu      busy CPU jiffies of the machine and of a process tree
  settle   wait until a server's processes are quiet
  wait-idle    wait until the machine is idle
  record   one run's result line, with its CPU accounting
  bcrypt   time one bcrypt verify at a cost
  table    turn the collected result lines into the markdown report
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# The five measured operations, in report order: (key, label).
OPS = [
    ("issue_password", "token issue, password (project-scoped)"),
    ("issue_appcred", "token issue, application credential"),
    ("validate", "token validate (GET /v3/auth/tokens)"),
    ("role_assignments", "role assignment list (GET /v3/role_assignments)"),
    ("users", "user list (GET /v3/users)"),
]
EXPECTED = {"issue_password": 201, "issue_appcred": 201, "validate": 200, "role_assignments": 200, "users": 200}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- launch
def cmd_launch(args):
    env = dict(os.environ)
    for kv in args.env or []:
        k, v = kv.split("=", 1)
        env[k] = v
    out = open(args.stdout, "w") if args.stdout else subprocess.DEVNULL
    err = open(args.log, "w")
    t0 = time.monotonic()
    proc = subprocess.Popen(args.command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                            cwd=args.cwd, env=env)
    with open(args.pidfile, "w") as f:
        f.write(f"{proc.pid}\n")
    deadline = t0 + args.timeout
    while True:
        if proc.poll() is not None:
            log(f"{args.command[0]} exited with {proc.returncode} before {args.url} answered")
            sys.exit(1)
        try:
            with urllib.request.urlopen(args.url, timeout=2) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            log(f"{args.url} did not answer 200 within {args.timeout} s")
            sys.exit(1)
        time.sleep(0.005)
    elapsed_ms = (time.monotonic() - t0) * 1000
    print(f"{proc.pid} {elapsed_ms:.0f}")


# ---------------------------------------------------------------- setup
def request(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
            return r.status, dict(r.headers), (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, dict(e.headers), raw.decode(errors="replace")


def must(what, status, expected, body):
    if status != expected:
        log(f"FAILED: {what}: expected {expected}, got {status}: {str(body)[:2000]}")
        sys.exit(1)


def header(h, name):
    for k, v in h.items():
        if k.lower() == name.lower():
            return v
    return None


def lua_string(s):
    # A Lua long string cannot contain its closing bracket; JSON and tokens never hold "]==]".
    assert "]==]" not in s
    return "[==[" + s + "]==]"


LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeout_errors":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


CHECK_LUA = r"""
-- Warm-up wrapper: every response must have the expected status and body marker.
local op_script, want, marker = os.getenv("BENCH_OP_SCRIPT"), tonumber(os.getenv("BENCH_STATUS")), os.getenv("BENCH_MARKER")
dofile(op_script)
done = nil
local bad = 0
response = function(status, headers, body)
  if status ~= want or not string.find(body, marker, 1, true) then
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write(string.format("unexpected response to %s %s: %d %s\n", wrk.method, wrk.path, status, string.sub(body, 1, 500)))
    end
  end
end
"""
MARKERS = {"issue_password": '"token"', "issue_appcred": '"application_credential"', "validate": '"token"',
           "role_assignments": '"role_assignments"', "users": '"users"'}


def write_lua(path, method, url_path, headers, body=None):
    lines = [f'wrk.method = "{method}"', f"wrk.path = {lua_string(url_path)}"]
    if body is not None:
        lines.append(f"wrk.body = {lua_string(json.dumps(body, separators=(',', ':')))}")
    for k, v in headers.items():
        lines.append(f'wrk.headers["{k}"] = {lua_string(v)}')
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + LUA_DONE)


def cmd_setup(args):
    base = args.url.rstrip("/")
    pw_body = {"auth": {
        "identity": {"methods": ["password"], "password": {
            "user": {"name": "admin", "domain": {"id": "default"}, "password": args.password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    s, h, b = request("POST", f"{base}/auth/tokens", pw_body)
    must("POST /v3/auth/tokens (password, project-scoped)", s, 201, b)
    token = header(h, "X-Subject-Token")
    user_id = b["token"]["user"]["id"]
    project_id = b["token"]["project"]["id"]
    # A second token as the subject of the validate benchmark.
    s, h, b = request("POST", f"{base}/auth/tokens", pw_body)
    must("POST /v3/auth/tokens (second token)", s, 201, b)
    subject = header(h, "X-Subject-Token")

    s, _, b = request("POST", f"{base}/users/{user_id}/application_credentials",
                      {"application_credential": {"name": f"bench-{int(time.time())}",
                                                  "description": "identity benchmark"}}, token)
    must(f"POST /v3/users/{user_id}/application_credentials", s, 201, b)
    ac_id = b["application_credential"]["id"]
    ac_secret = b["application_credential"]["secret"]

    # Seed users (no password: no bcrypt) with the member role on the admin project,
    # so both lists return more than the bootstrap rows.
    s, _, b = request("GET", f"{base}/roles?name=member", token=token)
    must("GET /v3/roles?name=member", s, 200, b)
    member = b["roles"][0]["id"]
    for i in range(args.seed_users):
        s, _, b = request("POST", f"{base}/users",
                          {"user": {"name": f"bench-user-{i:04d}", "domain_id": "default"}}, token)
        must("POST /v3/users", s, 201, b)
        uid = b["user"]["id"]
        s, _, b = request("PUT", f"{base}/projects/{project_id}/users/{uid}/roles/{member}", token=token)
        must("PUT /v3/projects/{p}/users/{u}/roles/{r}", s, 204, b)

    ac_body = {"auth": {"identity": {"methods": ["application_credential"],
                                     "application_credential": {"id": ac_id, "secret": ac_secret}}}}
    json_h = {"Content-Type": "application/json", "Accept": "application/json"}
    auth_h = {"X-Auth-Token": token, "Accept": "application/json"}
    os.makedirs(args.out, exist_ok=True)
    prefix = urllib.parse.urlsplit(base).path  # e.g. /identity/v3 or /v3
    write_lua(f"{args.out}/issue_password.lua", "POST", prefix + "/auth/tokens", json_h, pw_body)
    write_lua(f"{args.out}/issue_appcred.lua", "POST", prefix + "/auth/tokens", json_h, ac_body)
    write_lua(f"{args.out}/validate.lua", "GET", prefix + "/auth/tokens",
              dict(auth_h, **{"X-Subject-Token": subject}))
    write_lua(f"{args.out}/role_assignments.lua", "GET", prefix + "/role_assignments", auth_h)
    write_lua(f"{args.out}/users.lua", "GET", prefix + "/users", auth_h)
    with open(f"{args.out}/check.lua", "w") as f:
        f.write(CHECK_LUA)
    with open(f"{args.out}/expect", "w") as f:
        for key, _ in OPS:
            f.write(f"{key} {EXPECTED[key]} {MARKERS[key]}\n")

    # Each benchmarked request once, with its status, so a failure shows its body.
    paths = {"issue_password": "/auth/tokens", "issue_appcred": "/auth/tokens", "validate": "/auth/tokens",
             "role_assignments": "/role_assignments", "users": "/users"}
    sizes = {}
    for key, _ in OPS:
        if key == "issue_password":
            s, _, b = request("POST", base + paths[key], pw_body)
        elif key == "issue_appcred":
            s, _, b = request("POST", base + paths[key], ac_body)
            if s == 201:
                sizes["appcred_token_project"] = b["token"]["project"]["id"] == project_id
        elif key == "validate":
            req = urllib.request.Request(base + paths[key])
            req.add_header("X-Auth-Token", token)
            req.add_header("X-Subject-Token", subject)
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    s, b = r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                s, b = e.code, e.read().decode(errors="replace")
        else:
            s, _, b = request("GET", base + paths[key], token=token)
            if s == 200:
                sizes[key] = len(b[key])
        must(f"check of {key}", s, EXPECTED[key], b)
    print(json.dumps({"user_id": user_id, "project_id": project_id, "application_credential_id": ac_id,
                      "users_listed": sizes.get("users"), "assignments_listed": sizes.get("role_assignments")}))


# ---------------------------------------------------------------- rss
def children_map():
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return children


def cmd_descendants(args):
    """PIDs of PID's children, grandchildren, ... (not PID itself), one a line."""
    children, todo, found = children_map(), [args.pid], []
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    print("\n".join(str(p) for p in found))


def cmd_rss(args):
    children = children_map()
    total, n, todo = 0, 0, [args.pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        n += 1
        except OSError:
            pass
    print(f"{total} {n}")


# ---------------------------------------------------------------- cpu
def busy_jiffies():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
    return sum(v) - v[3] - v[4]


def tree_jiffies(root):
    children, times = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(d))
            times[int(d)] = int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        total += times.get(pid, 0)
    return total


def cmd_cpu(args):
    """Busy jiffies of the whole machine and CPU jiffies of PID's process tree."""
    print(busy_jiffies(), tree_jiffies(args.pid) if args.pid else 0)


def cmd_settle(args):
    """Wait (at most 30 s) until PID's process tree uses < 5% of a core over 250 ms."""
    hz = os.sysconf("SC_CLK_TCK")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        j0 = tree_jiffies(args.pid)
        time.sleep(0.25)
        if (tree_jiffies(args.pid) - j0) / hz / 0.25 < 0.05:
            return
    log("server still busy after 30 s")


def cmd_wait_idle(args):
    """Wait until the machine is idle (other processes use < 0.15 cores over 3 s), at most MAX s."""
    hz = os.sysconf("SC_CLK_TCK")
    t0 = time.monotonic()
    while True:
        b0 = busy_jiffies()
        time.sleep(3)
        cores = (busy_jiffies() - b0) / hz / 3
        if cores < 0.15:
            print(f"idle ({cores:.2f} cores busy)")
            return
        if time.monotonic() - t0 > args.max:
            print(f"NOT idle after {args.max:.0f} s: {cores:.2f} cores busy with other work")
            return


# ---------------------------------------------------------------- record
def cmd_record(args):
    """One run's result line for the results file; a progress line on stderr."""
    d = json.loads(args.wrk)
    hz = os.sysconf("SC_CLK_TCK")
    secs = d["duration_us"] / 1e6
    window = args.window_ns / 1e9  # the CPU samples span wrk's whole life, a little more than its run
    user, sys_ = (float(x) for x in args.wrk_cpu.split())
    d.update(kind="run", server=args.server, op=args.op, clients=args.clients,
             server_cpu_s=args.server_cpu / hz, wrk_cpu_s=user + sys_, window_s=window,
             other_cores=max(0.0, (args.busy - args.server_cpu) / hz - (user + sys_)) / window)
    print(json.dumps(d))
    nerr = sum(d[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeout_errors"))
    rps = d["requests"] / secs
    log(f"    {args.op:<17} c={args.clients}  {rps:9.1f} req/s  p50 {d['p50_us'] / 1000:8.2f} ms  "
        f"p99 {d['p99_us'] / 1000:8.2f} ms  server {d['server_cpu_s'] / window:.2f} cores, "
        f"wrk {d['wrk_cpu_s'] / window:.2f}, other {d['other_cores']:.2f}  errors {nerr}")
    if args.max_other is not None and d["other_cores"] > args.max_other:
        sys.exit(3)


# ---------------------------------------------------------------- table
def fmt_ms(us):
    ms = us / 1000
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def fmt_rps(r):
    return f"{r:,.1f}" if r < 100 else f"{r:,.0f}"


def nerrors(r):
    return sum(r[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeout_errors"))


def rps_of(r):
    return r["requests"] / (r["duration_us"] / 1e6)


SERVERS = ("ferrostack", "keystone", "keystone-cached")


def cmd_table(args):
    rows, meta = {}, {}
    with open(args.results) as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("kind") == "run":
                rows[(rec["server"], rec["op"], rec["clients"])] = rec
            else:
                meta.setdefault(rec["server"], {}).update(rec)
    servers = [s for s in SERVERS if any(k[0] == s for k in rows)]
    out = []
    hdr, sep = "| operation | clients |", "|---|---:|"
    for s in servers:
        hdr += f" {s} req/s | p50 ms | p99 ms |"
        sep += "---:|---:|---:|"
    out += [hdr, sep]
    notes = []
    for key, label in OPS:
        for c in (1, 8):
            line = f"| {label} | {c} |"
            for s in servers:
                r = rows.get((s, key, c))
                if not r:
                    line += " – | – | – |"
                    continue
                mark = ""
                if nerrors(r):
                    mark = " ⚠"
                    notes.append(f"⚠ {s}, {key}, {c} client{'s' if c > 1 else ''}: {nerrors(r)} failed of {r['requests']} requests "
                                 f"(status {r['status_errors']}, connect {r['connect_errors']}, read {r['read_errors']}, "
                                 f"write {r['write_errors']}, timeout {r['timeout_errors']})")
                if r.get("other_cores", 0) > 0.2:
                    mark += " †"
                    notes.append(f"† {s}, {key}, {c} client{'s' if c > 1 else ''}: other processes used {r['other_cores']:.2f} cores during the run")
                line += f" {fmt_rps(rps_of(r))}{mark} | {fmt_ms(r['p50_us'])} | {fmt_ms(r['p99_us'])} |"
            out.append(line)
    out.append("")
    worst = max((r.get("other_cores", 0) for r in rows.values()), default=0)
    out.append(f"CPU used by processes other than the server and wrk during any run: at most {worst:.2f} cores.")
    for n in notes:
        out.append(f"- {n}")
    out.append("")

    # Server CPU per request: independent of how much of the 2 cores wrk took.
    out.append("Server CPU time per request (ms; all of the server's processes, measured from /proc over the run):")
    out.append("")
    out.append("| operation | clients |" + "".join(f" {s} |" for s in servers))
    out.append("|---|---:|" + "---:|" * len(servers))
    for key, label in OPS:
        for c in (1, 8):
            line = f"| {label} | {c} |"
            for s in servers:
                r = rows.get((s, key, c))
                line += f" {r['server_cpu_s'] * 1000 / r['requests']:.3g} |" if r and r["requests"] else " – |"
            out.append(line)
    out.append("")

    def v(d, k, unit=""):
        return f"{d[k]:,}{unit}" if k in d else "–"
    out.append("|" + "".join(f" {s} |" for s in [""] + servers))
    out.append("|---|" + "---:|" * len(servers))
    line = "| first start: process start to `GET /healthcheck` 200 |"
    for s in servers:
        d = meta.get(s, {})
        if s == "ferrostack":
            line += f" {v(d, 'first_start_ms', ' ms')} |"
        else:
            line += (f" {v(d, 'first_start_ms', ' ms')} (keystone-manage db_sync, fernet_setup, credential_setup, "
                     f"bootstrap: {v(d, 'manage_ms', ' ms')}; then gunicorn: {v(d, 'server_start_ms', ' ms')}) |")
    out.append(line)
    line = "| RSS after startup |"
    for s in servers:
        d = meta.get(s, {})
        extra = f" ({d.get('processes', '?')} processes: master + {d.get('workers', '?')} workers)" if s != "ferrostack" else ""
        line += f" {kb(d.get('rss_idle_kb'))}{extra} |"
    out.append(line)
    out.append("| RSS after the benchmark |" + "".join(f" {kb(meta.get(s, {}).get('rss_after_kb'))} |" for s in servers))
    out.append("| users / role assignments in the lists |" + "".join(
        f" {meta.get(s, {}).get('users_listed', '–')} / {meta.get(s, {}).get('assignments_listed', '–')} |" for s in servers))
    out.append("")
    fs = meta.get("ferrostack", {})

    # Targets (ferrostack).
    out.append("| ferrostack target | figure | met |")
    out.append("|---|---|---|")
    r = rows.get(("ferrostack", "validate", 8))
    if r:
        ok = rps_of(r) >= 20000 and r["p99_us"] < 5000 and not nerrors(r)
        out.append(f"| validate ≥ 20,000 req/s and p99 < 5 ms with 8 clients | {rps_of(r):,.0f} req/s, "
                   f"p99 {fmt_ms(r['p99_us'])} ms | {yes(ok)} |")
    rounds = fs.get("rounds")
    pw = [rows.get(("ferrostack", "issue_password", c)) for c in (1, 8)]
    hash_ms = fs.get("bcrypt_ms")
    if all(pw) and hash_ms:
        # Bounded by the hash: one client waits about one bcrypt verify per request,
        # and 8 clients get close to (cores / verify time) requests per second.
        p50_1 = pw[0]["p50_us"] / 1000
        rps8 = rps_of(pw[1])
        ncpu = fs.get("ncpu", 2)
        bound = ncpu * 1000 / hash_ms
        ok = p50_1 < hash_ms * 1.25 + 5 and rps8 > bound * 0.75 and not nerrors(pw[0]) and not nerrors(pw[1])
        # 8 clients each waiting ~4 verifies: a short run ends with most requests in flight.
        short = pw[1]["duration_us"] < 5e6
        out.append(f"| password issue bounded by the hash (bcrypt cost {rounds}; one verify takes {hash_ms:.0f} ms here) | "
                   f"p50 {p50_1:.0f} ms with 1 client; {rps8:.1f} req/s with 8 clients, where {ncpu} cores doing "
                   f"nothing but bcrypt verifies would give {bound:.1f} | "
                   f"{'cannot tell: runs under 5 s are too short' if short else yes(ok)} |")
    if "rss_idle_kb" in fs:
        worst_rss = max(fs["rss_idle_kb"], fs.get("rss_after_kb", 0))
        out.append(f"| `ferrostack up` idle RSS < 50 MB | {kb(fs['rss_idle_kb'])} after startup, "
                   f"{kb(fs.get('rss_after_kb'))} after the benchmark | {yes(worst_rss < 50 * 1024)} |")
    if "first_start_ms" in fs:
        out.append(f"| first start < 2 s | {fs['first_start_ms']:,} ms | {yes(fs['first_start_ms'] < 2000)} |")
    print("\n".join(out))


def kb(v):
    return "–" if v is None else f"{v / 1024:.1f} MB"


def yes(ok):
    return "yes" if ok else "**no**"


def cmd_bcrypt(args):
    """Median time of one bcrypt verify at the given cost, with the Python bcrypt module."""
    import bcrypt
    h = bcrypt.hashpw(b"benchmark-password", bcrypt.gensalt(args.rounds))
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        bcrypt.checkpw(b"benchmark-password", h)
        ts.append((time.perf_counter() - t) * 1000)
    print(f"{sorted(ts)[2]:.1f}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("launch")
    a.add_argument("--pidfile", required=True)
    a.add_argument("--log", required=True)
    a.add_argument("--stdout")
    a.add_argument("--url", required=True)
    a.add_argument("--cwd")
    a.add_argument("--env", action="append")
    a.add_argument("--timeout", type=float, default=120)
    a.add_argument("command", nargs=argparse.REMAINDER)
    a = sub.add_parser("setup")
    a.add_argument("--url", required=True)
    a.add_argument("--password", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--seed-users", type=int, default=0)
    a = sub.add_parser("rss")
    a.add_argument("pid", type=int)
    a = sub.add_parser("table")
    a.add_argument("results")
    a = sub.add_parser("record")
    a.add_argument("--server", required=True)
    a.add_argument("--op", required=True)
    a.add_argument("--clients", type=int, required=True)
    a.add_argument("--wrk", required=True)
    a.add_argument("--busy", type=int, required=True)
    a.add_argument("--server-cpu", type=int, required=True)
    a.add_argument("--wrk-cpu", required=True)
    a.add_argument("--max-other", type=float)
    a.add_argument("--window-ns", type=int, required=True)
    a = sub.add_parser("cpu")
    a.add_argument("pid", type=int, nargs="?", default=0)
    a = sub.add_parser("descendants")
    a.add_argument("pid", type=int)
    a = sub.add_parser("settle")
    a.add_argument("pid", type=int)
    a = sub.add_parser("wait-idle")
    a.add_argument("max", type=float)
    a = sub.add_parser("bcrypt")
    a.add_argument("rounds", type=int)
    args = p.parse_args()
    if args.cmd == "launch" and args.command and args.command[0] == "--":
        args.command = args.command[1:]
    {"launch": cmd_launch, "setup": cmd_setup, "rss": cmd_rss, "table": cmd_table, "bcrypt": cmd_bcrypt,
     "cpu": cmd_cpu, "record": cmd_record, "wait-idle": cmd_wait_idle, "settle": cmd_settle, "descendants": cmd_descendants}[args.cmd](args)


if __name__ == "__main__":
    main()
