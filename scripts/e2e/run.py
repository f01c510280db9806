#!/usr/bin/env python3
"""End-to-end suite: a real `ferrostack up` on a temp data dir and a free
port, driven by the real `openstack` CLI and by openstacksdk.

    scripts/e2e/run.py --binary target/debug/ferrostack --venv ~/.cache/ferrostack/venv \
        [--postgres postgres://postgres@127.0.0.1:5432/postgres]

Each check prints one line; the first failure stops the run with the
command, its output and the server's log tail.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

import compute_flows
import image_flows
import placement_flows
import vm_flows


class Failure(Exception):
    pass


class Cloud:
    def __init__(self, binary, venv, postgres, agent=True, env=None):
        self.binary = binary
        self.venv = venv
        self.dir = tempfile.mkdtemp(prefix="ferrostack-e2e-")
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("OS_") or k.startswith("FERROSTACK_"):
                del self.env[k]
        # Three fake hosts: anti-affinity, spreading and resizes need more than one.
        self.env["FERROSTACK_AGENT__DRIVER"] = "fake"
        self.env["FERROSTACK_AGENT__FAKE_NODES"] = "3"
        if not agent:
            # The real-VM suite runs its agents as processes of their own.
            self.env["FERROSTACK_AGENT__ENABLED"] = "false"
        self.env.update(env or {})
        self.pg_db = None
        self.postgres = postgres
        if postgres:
            self.pg_db = "e2e_" + uuid.uuid4().hex[:12]
            subprocess.run(["psql", postgres, "-qc", f"CREATE DATABASE {self.pg_db}"], check=True)
            base = postgres.rsplit("/", 1)[0]
            self.env["FERROSTACK_DATABASE__URL"] = f"{base}/{self.pg_db}"
        self.log = open(os.path.join(self.dir, "server.log"), "w+")
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "up", "--data-dir", self.dir, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=self.log, env=self.env, text=True)
        lines = []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise Failure("ferrostack up exited early:\n" + self.log_tail())
            lines.append(line)
            if line.startswith("export OS_CLOUD="):
                break
        m = re.search(r"up at (http://\S+)", "".join(lines))
        if not m:
            raise Failure("no URL in the output of ferrostack up:\n" + "".join(lines))
        self.url = m.group(1)
        self.cli_env = dict(self.env)
        self.cli_env["OS_CLIENT_CONFIG_FILE"] = os.path.join(self.dir, "clouds.yaml")
        self.cli_env["OS_CLOUD"] = "ferrostack"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise Failure("ferrostack did not stop within 30 s of SIGTERM")
            if code != 0:
                raise Failure(f"ferrostack exited with {code} on SIGTERM:\n" + self.log_tail())

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.pg_db:
            subprocess.run(["psql", self.postgres, "-qc", f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)"])
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self):
        self.log.flush()
        self.log.seek(0)
        return "".join(self.log.readlines()[-30:])

    def user_env(self, user, password, project=None, domain=None):
        env = dict(self.env)
        env.update({
            "OS_AUTH_URL": self.url + "/identity/v3", "OS_IDENTITY_API_VERSION": "3",
            "OS_USERNAME": user, "OS_PASSWORD": password, "OS_USER_DOMAIN_NAME": "Default",
        })
        if project:
            env["OS_PROJECT_NAME"] = project
            env["OS_PROJECT_DOMAIN_NAME"] = "Default"
        if domain:
            env["OS_DOMAIN_NAME"] = domain
        return env

    def os(self, *args, env=None, expect_fail=False):
        cmd = [os.path.join(self.venv, "bin", "openstack"), *args]
        r = subprocess.run(cmd, env=env or self.cli_env, capture_output=True, text=True, timeout=120)
        if expect_fail:
            if r.returncode == 0:
                raise Failure(f"expected failure: {' '.join(args)}\n{r.stdout}")
            return r.stderr + r.stdout
        if r.returncode != 0:
            raise Failure(f"openstack {' '.join(args)} failed ({r.returncode}):\n{r.stderr}\n{r.stdout}\nserver log:\n{self.log_tail()}")
        return r.stdout

    def osj(self, *args, env=None):
        out = self.os(*args, "-f", "json", env=env)
        return json.loads(out) if out.strip() else None


def check(cond, what):
    if not cond:
        raise Failure(what)


def names(rows, key="Name"):
    return {r[key] for r in rows}


def flows(c: Cloud):
    tag = uuid.uuid4().hex[:6]

    # Tokens: issue, use, revoke.
    tok = c.osj("token", "issue")
    check(tok["project_id"] and tok["user_id"] and tok["id"], "token issue returns id, project and user")
    token_env = dict(c.env, OS_AUTH_TYPE="token", OS_TOKEN=tok["id"], OS_AUTH_URL=c.url + "/identity/v3",
                     OS_PROJECT_ID=tok["project_id"], OS_IDENTITY_API_VERSION="3")
    check("admin" in names(c.osj("project", "list", env=token_env)), "the issued token works")
    c.os("token", "revoke", tok["id"])
    out = c.os("project", "list", env=token_env, expect_fail=True)
    check("401" in out or "authenticat" in out.lower(), f"a revoked token is refused: {out}")
    yield "token issue / revoke"

    # Catalog and its parts.
    cat = c.osj("catalog", "list")
    check(any(s["Type"] == "identity" for s in cat), "the catalog lists identity")
    eps = c.osj("endpoint", "list")
    check({e["Interface"] for e in eps} >= {"public", "internal", "admin"}, "three identity endpoints")
    check(all(e["URL"].startswith(c.url) for e in eps), "endpoints point at the real listen address")
    check("identity" in {s["Type"] for s in c.osj("service", "list")}, "service list")
    check("RegionOne" in {r["Region"] for r in c.osj("region", "list")}, "region list")
    yield "catalog / endpoint / service / region list"

    # Domains.
    dom = f"dom-{tag}"
    d = c.osj("domain", "create", "--description", "e2e", dom)
    check(d["name"] == dom and d["enabled"], "domain create")
    check(dom in names(c.osj("domain", "list")), "domain list")
    c.os("domain", "set", "--description", "changed", dom)
    check(c.osj("domain", "show", dom)["description"] == "changed", "domain set/show")
    out = c.os("domain", "delete", dom, expect_fail=True)
    check("disable" in out.lower(), f"an enabled domain cannot be deleted: {out}")
    c.os("domain", "set", "--disable", dom)
    c.os("domain", "delete", dom)
    check(dom not in names(c.osj("domain", "list")), "domain delete")
    yield "domain create / list / show / set / delete"

    # Projects.
    proj = f"proj-{tag}"
    p = c.osj("project", "create", "--domain", "default", "--description", "e2e project", "--tag", "blue", proj)
    check(p["name"] == proj and p["domain_id"] == "default" and p["tags"] == ["blue"], f"project create: {p}")
    child = c.osj("project", "create", "--parent", proj, f"child-{tag}")
    check(child["parent_id"] == p["id"], "project create --parent")
    check({proj, f"child-{tag}"} <= names(c.osj("project", "list")), "project list")
    c.os("project", "set", "--description", "changed", proj)
    check(c.osj("project", "show", proj)["description"] == "changed", "project set/show")
    out = c.os("project", "delete", proj, expect_fail=True)
    check("leaf" in out or "403" in out or "children" in out, f"a project with children cannot be deleted: {out}")
    c.os("project", "delete", f"child-{tag}")
    yield "project create / list / show / set / delete"

    # Users.
    user, pw = f"user-{tag}", "Pa55-" + uuid.uuid4().hex
    u = c.osj("user", "create", "--domain", "default", "--project", proj, "--password", pw,
              "--email", "u@example.test", "--description", "e2e user", user)
    check(u["name"] == user and u["enabled"] and u["default_project_id"] == p["id"], f"user create: {u}")
    check(user in names(c.osj("user", "list")), "user list")
    c.os("user", "set", "--email", "v@example.test", user)
    check(c.osj("user", "show", user)["email"] == "v@example.test", "user set/show")
    out = c.os("user", "create", "--domain", "default", "--password", "x", user, expect_fail=True)
    check("409" in out or "Conflict" in out, f"a duplicate user is a conflict: {out}")
    yield "user create / list / show / set"

    # Roles and assignments.
    role = f"role-{tag}"
    r = c.osj("role", "create", role)
    check(r["name"] == role, "role create")
    check({role, "admin", "member", "reader"} <= names(c.osj("role", "list")), "role list")
    c.os("role", "set", "--description", "e2e role", role)
    check(c.osj("role", "show", role)["description"] == "e2e role", "role set/show")
    c.os("role", "add", "--user", user, "--project", proj, "member")
    c.os("role", "add", "--user", user, "--project", proj, role)
    rows = c.osj("role", "assignment", "list", "--user", user, "--effective", "--names")
    got = {(row["Role"], row["Project"]) for row in rows}
    check((f"member", f"{proj}@Default") in got and ("reader", f"{proj}@Default") in got,
          f"effective assignments include the implied reader role: {got}")
    c.os("role", "remove", "--user", user, "--project", proj, role)
    rows = c.osj("role", "assignment", "list", "--user", user, "--names")
    check(role not in {row["Role"] for row in rows}, "role remove")
    yield "role create / list / show / set, role add / remove, role assignment list --effective --names"

    # Groups.
    group = f"group-{tag}"
    c.osj("group", "create", "--domain", "default", "--description", "e2e", group)
    check(group in names(c.osj("group", "list")), "group list")
    c.os("group", "add", "user", group, user)
    out = c.os("group", "contains", "user", group, user)
    check(" in group " in out and "not in" not in out, f"group contains user: {out}")
    c.os("role", "add", "--group", group, "--project", proj, role)
    rows = c.osj("role", "assignment", "list", "--user", user, "--effective", "--names")
    check(role in {row["Role"] for row in rows}, "a group's role is effective for its members")
    c.os("group", "remove", "user", group, user)
    c.os("group", "set", "--description", "changed", group)
    check(c.osj("group", "show", group)["description"] == "changed", "group set/show")
    c.os("group", "delete", group)
    yield "group create / add user / contains / remove user / set / delete"

    # The user at work: a member is forbidden admin actions.
    uenv = c.user_env(user, pw, project=proj)
    check(c.osj("token", "issue", env=uenv)["project_id"] == p["id"], "the new user can authenticate")
    out = c.os("user", "list", env=uenv, expect_fail=True)
    check("403" in out or "orbidden" in out or "not authorized" in out, f"a member cannot list users: {out}")
    out = c.os("project", "create", "x-" + tag, env=uenv, expect_fail=True)
    check("403" in out or "orbidden" in out or "not authorized" in out, f"a member cannot create projects: {out}")
    yield "non-admin user is forbidden admin actions"

    # Password change by the user.
    pw2 = "Pa55-" + uuid.uuid4().hex
    c.os("user", "password", "set", "--original-password", pw, "--password", pw2, env=uenv)
    c.os("token", "issue", env=uenv, expect_fail=True)
    uenv = c.user_env(user, pw2, project=proj)
    c.osj("token", "issue", env=uenv)
    yield "user password set"

    # Application credentials.
    ac = {k.lower(): v for k, v in c.osj("application", "credential", "create", "--description", "e2e", f"ac-{tag}", env=uenv).items()}
    check(ac["secret"] and ac["id"], "application credential create returns a secret")
    check({r["name"] if isinstance(r, dict) else r for r in ac["roles"]} >= {"member", "reader"} or "member" in str(ac["roles"]),
          f"the credential holds the token's roles: {ac['roles']}")
    check(f"ac-{tag}" in names(c.osj("application", "credential", "list", env=uenv)), "application credential list")
    acenv = dict(c.env, OS_AUTH_TYPE="v3applicationcredential", OS_AUTH_URL=c.url + "/identity/v3",
                 OS_APPLICATION_CREDENTIAL_ID=ac["id"], OS_APPLICATION_CREDENTIAL_SECRET=ac["secret"],
                 OS_IDENTITY_API_VERSION="3")
    t = c.osj("token", "issue", env=acenv)
    check(t["project_id"] == p["id"] and t["user_id"] == u["id"], f"application credential token: {t}")
    bad = dict(acenv, OS_APPLICATION_CREDENTIAL_SECRET="wrong")
    c.os("token", "issue", env=bad, expect_fail=True)
    c.os("application", "credential", "delete", f"ac-{tag}", env=uenv)
    c.os("token", "issue", env=acenv, expect_fail=True)
    yield "application credential create / list / token issue / delete"

    # An application credential with access rules may only make the requests they allow.
    rules = json.dumps([{"service": "identity", "method": "GET", "path": "/v3/users/*"}])
    ac = {k.lower(): v for k, v in c.osj("application", "credential", "create", "--access-rules", rules,
                                         f"acr-{tag}", env=uenv).items()}
    acenv = dict(acenv, OS_APPLICATION_CREDENTIAL_ID=ac["id"], OS_APPLICATION_CREDENTIAL_SECRET=ac["secret"])
    check(c.osj("user", "show", u["id"], env=acenv)["name"] == user, "an allowed request passes the access rules")
    out = c.os("project", "list", env=acenv, expect_fail=True)
    check("401" in out or "authenticat" in out.lower(), f"a request outside the access rules is refused: {out}")
    c.os("application", "credential", "delete", f"acr-{tag}", env=uenv)
    yield "application credential access rules are enforced"

    # Clean up.
    c.os("role", "remove", "--user", user, "--project", proj, "member")
    c.os("user", "delete", user)
    c.os("role", "delete", role)
    c.os("project", "delete", proj)
    check(user not in names(c.osj("user", "list")), "user delete")
    yield "user / role / project delete"


def sdk_flows(c: Cloud):
    import openstack
    os.environ["OS_CLIENT_CONFIG_FILE"] = os.path.join(c.dir, "clouds.yaml")
    conn = openstack.connect(cloud="ferrostack")
    tag = uuid.uuid4().hex[:6]
    idn = conn.identity
    dom = idn.create_domain(name=f"sdk-{tag}", description="sdk")
    proj = idn.create_project(name=f"sdkp-{tag}", domain_id=dom.id, tags=["a", "b"])
    check(set(proj.tags) == {"a", "b"}, "sdk project tags")
    user = idn.create_user(name=f"sdku-{tag}", domain_id=dom.id, password="sdk-pass-1", default_project_id=proj.id)
    group = idn.create_group(name=f"sdkg-{tag}", domain_id=dom.id)
    idn.add_user_to_group(user, group)
    check(idn.check_user_in_group(user, group), "sdk group membership")
    reader = idn.find_role("reader")
    idn.assign_project_role_to_group(proj, group, reader)
    check(idn.validate_group_has_project_role(proj, group, reader), "sdk group role on project")
    member = idn.find_role("member")
    idn.assign_domain_role_to_user(dom, user, member)
    check(idn.validate_user_has_domain_role(dom, user, member), "sdk user role on domain")
    got = list(idn.role_assignments(user_id=user.id, effective=True))
    check(any(a.scope.get("project", {}).get("id") == proj.id for a in got), f"sdk effective assignments: {got}")
    implied = idn.create_role(name=f"sdkr-{tag}")
    idn.create_role_inference(member, implied) if hasattr(idn, "create_role_inference") else None
    region = idn.create_region(id=f"sdkreg-{tag}", description="sdk region")
    svc = idn.create_service(name=f"sdks-{tag}", type=f"sdk-{tag}")
    ep = idn.create_endpoint(service_id=svc.id, interface="public", url="http://127.0.0.1:1/x", region_id=region.id)
    check(any(e.id == ep.id for e in idn.endpoints()), "sdk endpoint list")
    idn.delete_endpoint(ep)
    idn.delete_service(svc)
    idn.delete_region(region)
    idn.update_project(proj, description="changed")
    check(idn.get_project(proj.id).description == "changed", "sdk project update")
    creds = idn.create_credential(type="totp", user_id=user.id, blob="ABCDEF")
    check(idn.get_credential(creds.id).blob == "ABCDEF", "sdk credential")
    idn.delete_credential(creds)
    idn.unassign_project_role_from_group(proj, group, reader)
    idn.delete_group(group)
    idn.delete_user(user)
    idn.delete_role(implied)
    idn.delete_project(proj)
    idn.update_domain(dom, enabled=False)
    idn.delete_domain(dom)
    check(idn.find_domain(f"sdk-{tag}") is None, "sdk domain delete")
    yield "openstacksdk: domains, projects, users, groups, roles, grants, catalog, credentials"


def placement(c: Cloud):
    yield from placement_flows.flows(c, check)


def placement_sdk(c: Cloud):
    yield from placement_flows.sdk_flows(c, check)


def image(c: Cloud):
    yield from image_flows.flows(c, check)


def image_sdk(c: Cloud):
    yield from image_flows.sdk_flows(c, check)


def compute(c: Cloud):
    yield from compute_flows.flows(c, check)


def compute_sdk(c: Cloud):
    yield from compute_flows.sdk_flows(c, check)


def restart_keeps_state(c: Cloud):
    before = c.osj("project", "list")
    c.stop()
    c.start()
    after = c.osj("project", "list")
    check(names(before) == names(after), "a second start reuses the database")
    yield "SIGTERM stops cleanly; a second start reuses everything"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--venv", required=True)
    ap.add_argument("--postgres")
    ap.add_argument("--only-vms", action="store_true", help="only the real-VM suite")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    n = 0

    def run(c, suites):
        nonlocal n
        try:
            for suite in suites:
                for what in suite(c):
                    n += 1
                    print(f"ok {n} - {what}", flush=True)
            c.stop()
        except Exception as e:  # noqa: BLE001 - report any failure with context
            print(f"not ok {n + 1} - {e}", flush=True)
            if not isinstance(e, Failure):
                traceback.print_exc()
                print("server log:\n" + c.log_tail())
            sys.exit(1)
        finally:
            c.cleanup()

    if not a.only_vms:
        run(Cloud(binary, a.venv, a.postgres), (flows, sdk_flows, placement, placement_sdk, image, image_sdk, compute,
                                                compute_sdk, restart_keeps_state))
    run(Cloud(binary, a.venv, a.postgres, agent=False, env={"FERROSTACK_TEST_IMAGE": "true"}),
        (lambda c: vm_flows.flows(c, check, binary),))
    print(f"all {n} end-to-end checks passed ({'PostgreSQL' if a.postgres else 'SQLite'})")

if __name__ == "__main__":
    main()
