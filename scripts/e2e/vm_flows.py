"""Real VMs with the real `openstack` CLI: a controller without its own agent
and two `ferrostack agent` processes with the QEMU driver on this machine
(two hosts, hv1 and hv2), the test guest built by `ferrostack dev
build-test-image` and uploaded with `openstack image create`. The
controller runs `up --test-image` (FERROSTACK_TEST_IMAGE=true), so the
public image `tiny` is there from the start.
"""
import base64
import json
import os
import signal
import subprocess
import time

READY = "FERROSTACK-GUEST-READY"


class Agents:
    def __init__(self, c, binary):
        self.c = c
        self.binary = binary
        self.procs = {}
        self.dir = os.path.join(c.dir, "agents")
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(c.dir, "admin-password")) as f:
            self.password = f.read().strip()

    def data_dir(self, name):
        return os.path.join(self.dir, name)

    def start(self, name):
        env = dict(self.c.env)
        env.update({
            "FERROSTACK_AGENT_PASSWORD": self.password,
            "FERROSTACK_AGENT__REPORT_INTERVAL": "2",
            "FERROSTACK_AGENT__POLL_WAIT": "2",
            "FERROSTACK_AGENT__SHUTDOWN_TIMEOUT": "30",
            "FERROSTACK_LOG": "info",
        })
        log = open(os.path.join(self.dir, f"{name}.log"), "a")
        self.procs[name] = subprocess.Popen(
            [self.binary, "agent", "--controller", self.c.url, "--node-name", name,
             "--data-dir", self.data_dir(name), "--driver", "qemu"],
            stdout=subprocess.DEVNULL, stderr=log, env=env)

    def kill9(self, name):
        p = self.procs.pop(name)
        p.kill()
        p.wait()

    def qemu_pids(self):
        """The QEMU processes our agents started, from their instance dirs."""
        pids = {}
        for name in os.listdir(self.dir):
            inst = os.path.join(self.dir, name, "instances")
            if not os.path.isdir(inst):
                continue
            for uuid in os.listdir(inst):
                try:
                    with open(os.path.join(inst, uuid, "qemu.pid")) as f:
                        pid = int(f.read().strip())
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if uuid.encode() in f.read():
                            pids[uuid] = pid
                except (OSError, ValueError):
                    pass
        return pids

    def stop(self):
        for p in self.procs.values():
            p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = {}
        for pid in self.qemu_pids().values():
            os.kill(pid, signal.SIGKILL)

    def log_tail(self):
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name)) as f:
                    out.append(f"--- {name}\n" + "".join(f.readlines()[-15:]))
        return "\n".join(out)


def flows(c, check, binary):
    agents = Agents(c, binary)
    try:
        yield from _flows(c, check, binary, agents)
    except Exception as e:
        e.args = (f"{e}\nagent logs:\n{agents.log_tail()}",)
        raise
    finally:
        agents.stop()


def wait_for(check, what, fn, timeout=180, every=1.0):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        check(time.time() < deadline, f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def _flows(c, check, binary, agents):
    # Not <data dir>/test-image: that is where up built the image tiny.
    image_dir = os.path.join(c.dir, "built-image")
    r = subprocess.run([binary, "dev", "build-test-image", "--output", image_dir], capture_output=True, text=True)
    check(r.returncode == 0, f"ferrostack dev build-test-image failed:\n{r.stdout}\n{r.stderr}")
    check(r.stdout.count("build-test-image: [") >= 10, f"a progress line per step:\n{r.stdout}")
    yield "ferrostack dev build-test-image: a kernel, an initramfs and a bootable qcow2, a progress line per step"

    agents.start("hv1")
    agents.start("hv2")

    def hypervisors():
        rows = c.osj("hypervisor", "list", "--long")
        return rows if {"hv1", "hv2"} <= {h["Hypervisor Hostname"] for h in rows} else None
    rows = wait_for(check, "both agents' hypervisors", hypervisors, timeout=60)
    types = {h["Hypervisor Type"] for h in rows if h["Hypervisor Hostname"] in ("hv1", "hv2")}
    check(types <= {"QEMU", "KVM"} and len(types) == 1, f"the accelerator shows in hypervisor_type: {types}")
    yield "two agent processes (ferrostack agent --node-name --data-dir) register hv1 and hv2 as QEMU/KVM hypervisors"

    img = c.osj("image", "create", "uploaded", "--disk-format", "qcow2", "--container-format", "bare",
                "--file", os.path.join(image_dir, "tiny.qcow2"))
    check(img["status"] == "active", f"image create: {img}")
    tiny = c.osj("image", "show", "tiny")
    check((tiny["status"], tiny["visibility"], tiny["disk_format"]) == ("active", "public", "qcow2"),
          f"up --test-image registered the public image tiny: {tiny}")
    saved = os.path.join(c.dir, "tiny-saved.qcow2")
    c.os("image", "save", "--file", saved, "tiny")
    with open(saved, "rb") as a, open(os.path.join(c.dir, "test-image", "tiny.qcow2"), "rb") as b:
        check(a.read() == b.read(), "the image tiny holds the test guest up built")
    yield "openstack image create (the test guest); up --test-image registered the public image tiny"
    c.os("flavor", "create", "vm.tiny", "--ram", "192", "--disk", "1", "--vcpus", "1")
    ud = os.path.join(c.dir, "user-data.txt")
    with open(ud, "w") as f:
        f.write("hello from e2e\n")

    # Bad input first: nothing it leaves behind may run.
    c.os("image", "create", "needs-5g", "--disk-format", "qcow2", "--container-format", "bare", "--min-disk", "5",
         "--file", os.path.join(image_dir, "tiny.qcow2"))
    out = c.os("server", "create", "--image", "needs-5g", "--flavor", "vm.tiny", "--nic", "none", "small",
               expect_fail=True)
    check("400" in out and "Flavor's disk is smaller than the minimum size" in out, f"FlavorDiskTooSmall: {out}")
    zeros = os.path.join(c.dir, "zeros.raw")
    with open(zeros, "wb") as f:
        f.write(b"\0" * (1 << 20))
    c.os("image", "create", "zeros", "--disk-format", "raw", "--container-format", "bare", "--file", zeros)
    c.os("server", "create", "--image", "zeros", "--flavor", "vm.tiny", "--nic", "none", "--wait", "unbootable",
         expect_fail=True)
    bad = c.osj("server", "show", "unbootable")
    check(bad["status"] == "ERROR" and "not bootable" in json.dumps(bad.get("fault")),
          f"an unbootable image: ERROR with a fault a person can act on: {bad.get('status')} {bad.get('fault')}")
    check(f"Build of instance {bad['id']} aborted" in bad["fault"]["message"],
          f"an image no host can boot ends the build without a reschedule: {bad['fault']}")
    c.os("server", "delete", "--wait", "unbootable")
    check(agents.qemu_pids() == {}, "no QEMU left after failed spawns")
    yield "bad input: FlavorDiskTooSmall (400), an unbootable image ends in ERROR with its reason, nothing left running"

    # vm1 boots the image uploaded with the CLI, vm2 the one up registered.
    vm1 = c.osj("server", "create", "--image", "uploaded", "--flavor", "vm.tiny", "--nic", "none", "--config-drive",
                "true", "--user-data", ud, "--wait", "vm1")
    vm2 = c.osj("server", "create", "--image", "tiny", "--flavor", "vm.tiny", "--nic", "none", "--wait", "vm2")
    check(vm1["status"] == "ACTIVE" and vm2["status"] == "ACTIVE", "both servers ACTIVE")
    check(vm1["config_drive"] == "True", f"config_drive shown: {vm1['config_drive']!r}")
    hosts = {vm1["OS-EXT-SRV-ATTR:host"], vm2["OS-EXT-SRV-ATTR:host"]}
    check(hosts == {"hv1", "hv2"}, f"scheduling spreads the servers over both agents: {hosts}")

    def console(name):
        return c.os("console", "log", "show", name)

    def markers(name, n=1):
        return wait_for(check, f"{n} boot marker(s) of {name}",
                        lambda: [l for l in console(name).splitlines() if READY in l][n - 1:] or None)
    m = markers("vm1")[0]
    check(f"uuid={vm1['id']}" in m and "hostname=vm1.novalocal" in m and "user_data=hello from e2e" in m,
          f"the marker carries the server's own uuid, hostname and user data: {m}")
    yield "server create --config-drive true --user-data --wait: a real VM; console log show has its marker"

    def status(name, want):
        return wait_for(check, f"{name} {want}", lambda: c.osj("server", "show", name)["status"] == want, 120)

    def ticks(name):
        return [int(l.split("n=")[1]) for l in console(name).splitlines() if "GUEST-TICK n=" in l]

    c.os("server", "stop", "vm1")
    status("vm1", "SHUTOFF")
    c.os("server", "start", "vm1")
    status("vm1", "ACTIVE")
    markers("vm1", 2)
    c.os("server", "reboot", "--wait", "vm1")
    markers("vm1", 3)
    yield "server stop / start / reboot: the guest powers off on ACPI and boots again"

    c.os("server", "pause", "vm1")
    status("vm1", "PAUSED")
    c.os("server", "unpause", "vm1")
    status("vm1", "ACTIVE")
    before = wait_for(check, "ticks", lambda: ticks("vm1"))[-1]
    c.os("server", "suspend", "vm1")
    status("vm1", "SUSPENDED")
    c.os("server", "resume", "vm1")
    status("vm1", "ACTIVE")
    wait_for(check, "ticks after resume", lambda: ticks("vm1")[-1] > before + 1)
    check(console("vm1").count(READY) == 3, "resume went on from the saved state (no new boot)")
    yield "server pause / unpause / suspend / resume: the guest's count goes on after resume"

    c.os("server", "rescue", "--image", "tiny", "vm1")
    status("vm1", "RESCUE")
    m = markers("vm1", 4)[0]
    check(",vdb:1073741824" in m, f"rescue boots the rescue image with the own disk second: {m}")
    c.os("server", "unrescue", "vm1")
    status("vm1", "ACTIVE")
    markers("vm1", 5)
    yield "server rescue / unrescue"

    snap = c.osj("server", "image", "create", "--name", "vm1-snap", "--wait", "vm1")
    check(snap["status"] == "active", f"snapshot image active: {snap}")
    vm3 = c.osj("server", "create", "--image", "vm1-snap", "--flavor", "vm.tiny", "--nic", "none", "--wait", "vm3")
    m = markers("vm3")[0]
    check(f"uuid={vm3['id']}" in m, f"the snapshot boots: {m}")
    c.os("server", "delete", "--wait", "vm3")
    yield "server image create, then a server boots from the snapshot"

    src = c.osj("server", "show", "vm1")["OS-EXT-SRV-ATTR:host"]
    # Data on the guest's disk (written with qemu-io while it is off) must
    # move with it.
    c.os("server", "stop", "vm1")
    status("vm1", "SHUTOFF")
    disk = lambda host: os.path.join(agents.data_dir(host), "instances", vm1["id"], "disk")
    qemu_io = lambda *args: subprocess.run(["qemu-io", *args], capture_output=True, text=True)
    r = qemu_io("-f", "qcow2", "-c", "write -P 0x5a 700M 64k", disk(src))
    check(r.returncode == 0, f"qemu-io could not write the stopped guest's disk: {r.stdout}{r.stderr}")
    c.os("server", "migrate", "--wait", "vm1")
    status("vm1", "VERIFY_RESIZE")
    c.os("server", "migrate", "confirm", "vm1")
    status("vm1", "SHUTOFF")
    moved = c.osj("server", "show", "vm1")["OS-EXT-SRV-ATTR:host"]
    check(moved != src, f"a cold migration moves the server to the other agent: {src} -> {moved}")
    check(not os.path.exists(disk(src)), "confirm removes the source's copy")
    check(vm1["id"] not in agents.qemu_pids(), "a stopped server moves without being started")
    c.os("server", "start", "vm1")
    status("vm1", "ACTIVE")
    m = markers("vm1")[0]
    check(f"uuid={vm1['id']}" in m, f"it boots on the new host: {m}")
    r = qemu_io("-r", "-U", "-f", "qcow2", "-c", "read -P 0x5a 700M 64k", disk(moved))
    check(r.returncode == 0, f"the disk's data did not move with the server: {r.stdout}{r.stderr}")
    yield "server migrate + server migrate confirm: the server and its disk move between the two agents"

    wait_for(check, "ticks before the live migration", lambda: len(ticks("vm1")) >= 2)
    before = ticks("vm1")[-1]
    c.os("server", "migrate", "--live-migration", "--wait", "vm1")
    after_host = c.osj("server", "show", "vm1")["OS-EXT-SRV-ATTR:host"]
    check(after_host == src, f"a live migration moves the server back: {moved} -> {after_host}")
    wait_for(check, "ticks after the live migration", lambda: (ticks("vm1") or [0])[-1] > before)
    out = console("vm1")
    check(out.count(READY) == 0, f"the guest kept running: its console goes on without a new boot:\n{out[-1500:]}")
    yield "server migrate --live-migration: the guest keeps running on the other agent, its console log continues"

    host1 = src
    pids = agents.qemu_pids()
    pid1 = pids[vm1["id"]]
    host2 = c.osj("server", "show", "vm2")["OS-EXT-SRV-ATTR:host"]
    agents.kill9(host1)
    if host2 == host1:
        os.kill(pids[vm2["id"]], signal.SIGKILL)
    else:
        # vm2's guest dies while its own agent is down too.
        agents.kill9(host2)
        os.kill(pids[vm2["id"]], signal.SIGKILL)
        agents.start(host2)
    agents.start(host1)
    time.sleep(5)
    check(agents.qemu_pids().get(vm1["id"]) == pid1, "the agent's restart did not restart the guest")
    check(c.osj("server", "show", "vm1")["status"] == "ACTIVE", "vm1 stays ACTIVE")
    status("vm2", "SHUTOFF")
    before = ticks("vm1")[-1]
    wait_for(check, "ticks after the agent restart", lambda: ticks("vm1")[-1] > before)
    c.os("server", "stop", "vm1")
    status("vm1", "SHUTOFF")
    yield "agent kill -9 and restart: the running guest is re-adopted, a guest that died meanwhile shows SHUTOFF"

    c.os("server", "delete", "--wait", "vm1", "vm2")
    check(agents.qemu_pids() == {}, "no QEMU left after delete")
    for name in ("hv1", "hv2"):
        inst = os.path.join(agents.data_dir(name), "instances")
        left = os.listdir(inst) if os.path.isdir(inst) else []
        check(left == [], f"{name} keeps no instance files after delete: {left}")
    yield "server delete: no QEMU process, no instance directory left"
