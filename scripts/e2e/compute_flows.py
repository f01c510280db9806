"""Compute flows for the end-to-end suite: flavors (with properties and
access), keypairs, with the `openstack` CLI and openstacksdk."""
import os
import subprocess
import time
import uuid


def flows(c, check):
    tag = uuid.uuid4().hex[:8]
    name = f"m1.e2e-{tag}"
    f = c.osj("flavor", "create", "--ram", "512", "--disk", "1", "--vcpus", "2", "--id", f"e2e-{tag}",
              "--description", "an e2e flavor", name)
    check(f["id"] == f"e2e-{tag}" and f["ram"] == 512 and f["vcpus"] == 2, f"flavor create: {f}")
    c.os("flavor", "set", "--property", "hw:cpu_policy=dedicated", "--property", "resources:VGPU=1", name)
    shown = c.osj("flavor", "show", name)
    props = shown.get("properties") or {}
    check(props.get("hw:cpu_policy") == "dedicated" and props.get("resources:VGPU") == "1", f"flavor show: {shown}")
    yield "openstack flavor create, flavor set --property, flavor show"

    # Nova validates extra specs from 2.86; below it any value goes.
    out = c.os("--os-compute-api-version", "2.86", "flavor", "set", "--property", "hw:cpu_policy=fast", name,
               expect_fail=True)
    check("not one of: dedicated, shared, mixed" in out, f"a bad extra spec is refused at 2.86: {out}")
    rows = c.osj("flavor", "list", "--long")
    row = next((r for r in rows if r["Name"] == name), None)
    check(row is not None and row["RAM"] == 512, f"flavor list --long: {row}")
    c.os("flavor", "unset", "--property", "resources:VGPU", name)
    props = c.osj("flavor", "show", name).get("properties") or {}
    check("resources:VGPU" not in props, f"flavor unset --property: {props}")
    yield "openstack flavor set refuses an invalid extra spec at 2.86; flavor list --long; flavor unset --property"

    # A private flavor shared with one project.
    project = f"fl-{tag}"
    project_id = c.osj("project", "create", project)["id"]
    priv = f"private-{tag}"
    c.osj("flavor", "create", "--ram", "64", "--disk", "0", "--vcpus", "1", "--private", priv)
    c.os("flavor", "set", "--project", project, priv)
    shown = c.osj("flavor", "show", priv)
    check(shown["os-flavor-access:is_public"] is False, f"private flavor: {shown}")
    check(project_id in str(shown.get("access_project_ids")), f"flavor access: {shown}")
    c.os("flavor", "unset", "--project", project, priv)
    shown = c.osj("flavor", "show", priv)
    check(project_id not in str(shown.get("access_project_ids")), f"flavor access after unset: {shown}")
    c.os("flavor", "delete", priv)
    c.os("project", "delete", project)
    yield "openstack flavor create --private, flavor set/unset --project"

    key = os.path.join(c.dir, f"key-{tag}")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    kp = c.osj("keypair", "create", "--public-key", key + ".pub", f"kp-{tag}")
    fp = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", key + ".pub"], capture_output=True, text=True,
                        check=True).stdout.split()[1].removeprefix("MD5:")
    check(kp["fingerprint"] == fp, f"keypair create --public-key: {kp} (ssh-keygen says {fp})")
    shown = c.osj("keypair", "show", f"kp-{tag}")
    check(shown["fingerprint"] == fp and shown["type"] == "ssh", f"keypair show: {shown}")
    check(any(r["Name"] == f"kp-{tag}" for r in c.osj("keypair", "list")), "keypair list")
    # Without a public key the client makes one and sends its public half.
    gen = os.path.join(c.dir, f"gen-{tag}")
    c.os("keypair", "create", "--private-key", gen, f"gen-{tag}")
    check(os.path.getsize(gen) > 0, "keypair create --private-key writes the private key")
    c.os("keypair", "delete", f"kp-{tag}", f"gen-{tag}")
    check(not any(r["Name"].endswith(tag) for r in c.osj("keypair", "list")), "keypair delete")
    yield "openstack keypair create --public-key (ssh-keygen's fingerprint), show, list, create --private-key, delete"

    c.os("flavor", "delete", name)
    check(not any(r["Name"] == name for r in c.osj("flavor", "list")), "flavor delete")
    yield "openstack flavor delete"

    yield from server_flows(c, check, tag)


def wait_status(c, check, server, want, timeout=60):
    """Polls `server show` until the server has no task and is `want`."""
    deadline = time.time() + timeout
    shown = {}
    while time.time() < deadline:
        shown = c.osj("server", "show", server)
        if shown["status"] == want and not shown.get("OS-EXT-STS:task_state"):
            return shown
        time.sleep(0.3)
    check(False, f"server {server} did not become {want}: {shown}")


def server_flows(c, check, tag):
    raw = os.path.join(c.dir, f"boot-{tag}.raw")
    with open(raw, "wb") as f:
        f.write(b"\0" * 65536)
    img = c.osj("image", "create", "--file", raw, "--disk-format", "raw", "--container-format", "bare",
                "--public", f"boot-{tag}")
    flavor = f"m1.boot-{tag}"
    bigger = f"m1.bigger-{tag}"
    c.osj("flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "1", flavor)
    c.osj("flavor", "create", "--ram", "512", "--disk", "1", "--vcpus", "2", bigger)

    services = c.osj("compute", "service", "list")
    check(len(services) == 3 and all(s["Binary"] == "nova-compute" and s["State"] == "up" for s in services),
          f"compute service list: {services}")
    hosts = sorted(s["Host"] for s in services)
    hypervisors = c.osj("hypervisor", "list")
    check(len(hypervisors) == 3 and all(h["State"] == "up" for h in hypervisors), f"hypervisor list: {hypervisors}")
    hv = c.osj("hypervisor", "show", hypervisors[0]["Hypervisor Hostname"])
    check(hv.get("hypervisor_hostname") == hypervisors[0]["Hypervisor Hostname"] and hv.get("state") == "up"
          and "aggregates" in hv, f"hypervisor show: {hv}")
    yield "openstack compute service list, hypervisor list, hypervisor show: three fake hosts are up"

    vm = c.osj("server", "create", "--image", img["id"], "--flavor", flavor, "--nic", "none", "--wait",
               f"vm-{tag}")
    check(vm["status"] == "ACTIVE", f"server create --wait: {vm}")
    shown = c.osj("server", "show", vm["id"])
    check(shown["status"] == "ACTIVE" and shown["OS-EXT-SRV-ATTR:host"] in hosts, f"server show: {shown}")
    rows = c.osj("server", "list", "--long")
    check(any(r["ID"] == vm["id"] and r["Status"] == "ACTIVE" for r in rows), f"server list --long: {rows}")
    yield "openstack server create --image --flavor --nic none --wait: ACTIVE; server show, server list --long"

    allocs = c.osj("resource", "provider", "allocation", "show", vm["id"])
    check(len(allocs) == 1, f"allocation show: {allocs}")
    rp = allocs[0]["resource_provider"]
    used = {r["resource_class"]: r["usage"] for r in c.osj("resource", "provider", "usage", "show", rp)}
    check(used.get("MEMORY_MB") == 256 and used.get("VCPU") == 1, f"placement usage while the server runs: {used}")
    yield "the server's allocation in Placement (osc-placement: allocation show, usage show)"

    for action, status in [("stop", "SHUTOFF"), ("start", "ACTIVE"), ("reboot", "ACTIVE"), ("pause", "PAUSED"),
                           ("unpause", "ACTIVE"), ("suspend", "SUSPENDED"), ("resume", "ACTIVE")]:
        c.os("server", action, vm["id"])
        wait_status(c, check, vm["id"], status)
    out = c.os("server", "unpause", vm["id"], expect_fail=True)
    check("Cannot 'unpause' instance" in out and "vm_state active" in out, f"unpause of an active server: {out}")
    c.os("server", "reboot", "--hard", "--wait", vm["id"])
    yield "openstack server stop/start/reboot/pause/unpause/suspend/resume; Nova's 409 for a wrong state"

    source = c.osj("server", "show", vm["id"])["OS-EXT-SRV-ATTR:host"]
    c.os("server", "resize", "--flavor", bigger, "--wait", vm["id"])
    shown = wait_status(c, check, vm["id"], "VERIFY_RESIZE")
    check(shown["OS-EXT-SRV-ATTR:host"] != source, f"resize moves to another host: {shown}")
    c.os("server", "resize", "confirm", vm["id"])
    shown = wait_status(c, check, vm["id"], "ACTIVE")
    check(bigger in str(shown["flavor"]), f"resize confirm: {shown}")
    allocs = c.osj("resource", "provider", "allocation", "show", vm["id"])
    check(len(allocs) == 1 and allocs[0]["resources"].get("VCPU") == 2, f"allocations after the resize: {allocs}")
    yield "openstack server resize --flavor --wait, resize confirm: VERIFY_RESIZE on another host, then ACTIVE"

    snap = c.osj("server", "image", "create", "--name", f"snap-{tag}", "--wait", vm["id"])
    shown = c.osj("image", "show", snap["id"])
    props = shown.get("properties") or {}
    check(shown["status"] == "active" and props.get("instance_uuid") == vm["id"]
          and props.get("image_type") == "snapshot", f"server image create --wait: {shown}")
    child = c.osj("server", "create", "--image", snap["id"], "--flavor", flavor, "--nic", "none", "--wait",
                  f"child-{tag}")
    check(child["status"] == "ACTIVE", f"a server boots from the snapshot: {child}")
    c.os("server", "delete", "--wait", child["id"])
    c.os("image", "delete", snap["id"])
    yield "openstack server image create --wait: an active snapshot image; a server boots from it"

    c.os("server", "shelve", vm["id"])
    shown = wait_status(c, check, vm["id"], "SHELVED_OFFLOADED")
    check(not shown.get("OS-EXT-SRV-ATTR:host"), f"a shelved server is offloaded: {shown}")
    check(c.osj("resource", "provider", "allocation", "show", vm["id"]) == [], "shelve offload frees the claim")
    c.os("server", "unshelve", vm["id"])
    shown = wait_status(c, check, vm["id"], "ACTIVE")
    check(shown.get("OS-EXT-SRV-ATTR:host") in hosts, f"unshelve: {shown}")
    check(not [i for i in c.osj("image", "list") if i["Name"] == f"vm-{tag}-shelved"], "unshelve deletes the image")
    yield "openstack server shelve (offloaded, claim freed), server unshelve (ACTIVE again, shelved image gone)"

    c.os("server", "rebuild", "--image", img["id"], "--name", f"vm-{tag}", "--wait", vm["id"])
    wait_status(c, check, vm["id"], "ACTIVE")
    yield "openstack server rebuild --image --wait"

    before = c.osj("server", "show", vm["id"])["OS-EXT-SRV-ATTR:host"]
    c.os("server", "migrate", "--live-migration", "--wait", vm["id"])
    shown = wait_status(c, check, vm["id"], "ACTIVE")
    after = shown["OS-EXT-SRV-ATTR:host"]
    check(after != before, f"live migration moves the server: {before} -> {after}")
    allocs = c.osj("resource", "provider", "allocation", "show", vm["id"])
    check(len(allocs) == 1, f"one allocation after the live migration: {allocs}")
    rows = c.osj("server", "migration", "list", "--server", vm["id"])
    check(any(r.get("Type") == "live-migration" and r.get("Status") == "completed" for r in rows),
          f"server migration list: {rows}")
    yield "openstack server migrate --live-migration --wait: another host, one allocation, migration completed"

    c.os("--os-compute-api-version", "2.11", "compute", "service", "set", "--down", after, "nova-compute")
    # (`server evacuate --wait` compares "ACTIVE" with a lower-cased status
    # in python-openstackclient 10.5 and never returns, against Nova too.)
    # From 2.95 an evacuated server ends stopped.
    c.os("server", "evacuate", vm["id"])
    shown = wait_status(c, check, vm["id"], "SHUTOFF")
    check(shown["OS-EXT-SRV-ATTR:host"] != after, f"evacuate rebuilds elsewhere: {shown}")
    c.os("--os-compute-api-version", "2.11", "compute", "service", "set", "--up", after, "nova-compute")
    c.os("server", "start", vm["id"])
    wait_status(c, check, vm["id"], "ACTIVE")
    yield "openstack compute service set --down, server evacuate: rebuilt (stopped, as from 2.95) on another host"

    project = f"e2e-lock-{tag}"
    c.os("project", "create", project)
    c.os("user", "create", "--password", "secret", "--project", project, f"locker-{tag}")
    c.os("role", "add", "--user", f"locker-{tag}", "--project", project, "member")
    member = c.user_env(f"locker-{tag}", "secret", project)
    mine = c.osj("server", "create", "--image", img["id"], "--flavor", flavor, "--nic", "none", "--wait",
                 f"locked-{tag}", env=member)
    c.os("--os-compute-api-version", "2.73", "server", "lock", "--reason", "maintenance", mine["id"], env=member)
    shown = c.osj("--os-compute-api-version", "2.73", "server", "show", mine["id"], env=member)
    check(shown.get("locked") is True and shown.get("locked_reason") == "maintenance", f"server lock: {shown}")
    rows = c.osj("--os-compute-api-version", "2.73", "server", "list", "--locked", env=member)
    check([r["ID"] for r in rows] == [mine["id"]], f"server list --locked: {rows}")
    rows = c.osj("--os-compute-api-version", "2.73", "server", "list", "--unlocked", env=member)
    check(mine["id"] not in [r["ID"] for r in rows], f"server list --unlocked: {rows}")
    out = c.os("server", "stop", mine["id"], env=member, expect_fail=True)
    check("is locked" in out, f"a locked server refuses stop: {out}")
    c.os("server", "unlock", mine["id"], env=member)
    c.os("server", "stop", mine["id"], env=member)
    wait_status(c, check, mine["id"], "SHUTOFF")
    yield "openstack server lock --reason / unlock as a project member: a locked server refuses stop; list --locked"

    c.os("quota", "set", "--instances", "1", project)
    quota = c.osj("quota", "show", "--compute", project)
    check(any(r.get("Resource") == "instances" and r.get("Limit") == 1 for r in quota)
          if isinstance(quota, list) else quota.get("instances") == 1, f"quota show: {quota}")
    out = c.os("server", "create", "--image", img["id"], "--flavor", flavor, "--nic", "none",
               f"over-{tag}", env=member, expect_fail=True)
    check("Quota exceeded for instances" in out and "403" in out, f"quota exceeded: {out}")
    c.os("server", "delete", "--wait", mine["id"], env=member)
    yield "openstack quota set --instances, quota show: the next server create is refused with 403"

    limits = {r["Name"]: r["Value"] for r in c.osj("limits", "show", "--absolute")}
    check(limits.get("total_instances_used") == 1 and limits.get("total_ram_used") == 512, f"limits show: {limits}")
    yield "openstack limits show --absolute (usage)"

    group = c.osj("server", "group", "create", "--policy", "anti-affinity", f"anti-{tag}")
    spread = []
    for i in range(2):
        s = c.osj("server", "create", "--image", img["id"], "--flavor", flavor, "--nic", "none", "--wait",
                  "--hint", f"group={group['id']}", f"anti-{tag}-{i}")
        spread.append(c.osj("server", "show", s["id"])["OS-EXT-SRV-ATTR:host"])
    check(len(set(spread)) == 2, f"anti-affinity spreads two servers on two hosts: {spread}")
    shown = c.osj("server", "group", "show", group["id"])
    check(len(shown["members"]) == 2 if isinstance(shown["members"], list) else shown["members"].count(",") == 1,
          f"server group show: {shown}")
    for i in range(2):
        c.os("server", "delete", "--wait", f"anti-{tag}-{i}")
    c.os("server", "group", "delete", group["id"])
    yield "openstack server group create --policy anti-affinity: two members land on two hosts"

    c.os("quota", "set", "--instances", "20", "admin")
    c.os("server", "create", "--image", img["id"], "--flavor", flavor, "--nic", "none", "--min", "10", "--max", "10",
         "--wait", f"many-{tag}")
    many = [r for r in c.osj("server", "list", "--long", "--name", f"^many-{tag}") if r["Status"] == "ACTIVE"]
    check(len(many) == 10, f"server create --min 10: {many}")
    on = {c.osj("server", "show", r["ID"])["OS-EXT-SRV-ATTR:host"] for r in many}
    check(len(on) == 3, f"ten servers spread over the three hosts: {on}")
    c.os("server", "delete", "--wait", *[r["ID"] for r in many])
    yield "openstack server create --min 10 --max 10 on three fake hosts: ten ACTIVE servers on all three"

    # A host without servers: adding a host with servers to a zone is refused.
    busy = c.osj("server", "show", vm["id"])["OS-EXT-SRV-ATTR:host"]
    zone_host = next(h for h in reversed(hosts) if h != busy)
    agg = c.osj("aggregate", "create", "--zone", f"zone-{tag}", f"agg-{tag}")
    c.os("aggregate", "add", "host", agg["name"], zone_host)
    zoned = c.osj("server", "create", "--image", img["id"], "--flavor", flavor, "--nic", "none", "--wait",
                  "--availability-zone", f"zone-{tag}", f"zoned-{tag}")
    shown = c.osj("server", "show", zoned["id"])
    check(shown["OS-EXT-SRV-ATTR:host"] == zone_host and shown["OS-EXT-AZ:availability_zone"] == f"zone-{tag}",
          f"server create --availability-zone: {shown}")
    zones = c.osj("availability", "zone", "list", "--compute")
    check(any(z["Zone Name"] == f"zone-{tag}" for z in zones), f"az list: {zones}")
    hv = c.osj("hypervisor", "show", zone_host)
    check(agg["name"] in str(hv.get("aggregates")), f"hypervisor show lists the aggregate: {hv}")
    c.os("server", "delete", "--wait", zoned["id"])
    c.os("aggregate", "remove", "host", agg["name"], zone_host)
    c.os("aggregate", "delete", agg["name"])
    yield "openstack aggregate create --zone, add host; server create --availability-zone lands there"

    c.os("compute", "service", "set", "--disable", "--disable-reason", "e2e", hosts[0], "nova-compute")
    c.os("compute", "service", "set", "--disable", hosts[1], "nova-compute")
    row = next(r for r in c.osj("compute", "service", "list", "--long") if r["Host"] == hosts[0])
    check(row["Status"] == "disabled" and row["Disabled Reason"] == "e2e", f"service set --disable: {row}")
    third = c.osj("server", "create", "--image", img["id"], "--flavor", flavor, "--nic", "none", "--wait",
                  f"third-{tag}")
    check(c.osj("server", "show", third["id"])["OS-EXT-SRV-ATTR:host"] == hosts[2], "scheduling avoids disabled hosts")
    c.os("compute", "service", "set", "--disable", hosts[2], "nova-compute")
    c.os("server", "create", "--image", img["id"], "--flavor", flavor, "--nic", "none", "--wait",
         f"nohost-{tag}", expect_fail=True)
    err = c.osj("server", "show", f"nohost-{tag}")
    check(err["status"] == "ERROR" and "No valid host" in str(err.get("fault")), f"no host while disabled: {err}")
    c.os("server", "delete", "--wait", f"nohost-{tag}", third["id"])
    for h in hosts:
        c.os("compute", "service", "set", "--enable", h, "nova-compute")
    yield "openstack compute service set --disable: scheduling avoids those hosts (ERROR when none is left); --enable"

    c.os("server", "delete", "--wait", vm["id"])
    check(not any(r["ID"] == vm["id"] for r in c.osj("server", "list")), "server delete --wait")
    for h in hypervisors:
        used = {r["resource_class"]: r["usage"] for r in c.osj("resource", "provider", "usage", "show", h["ID"])}
        check(used.get("MEMORY_MB") == 0 and used.get("VCPU") == 0, f"placement usage after the deletes: {used}")
    yield "openstack server delete --wait releases every allocation (osc-placement usage show)"

    c.os("flavor", "delete", flavor, bigger)
    c.os("image", "delete", img["id"])


def sdk_flows(c, check):
    import openstack

    conn = openstack.connect(cloud="ferrostack", config_files=[os.path.join(c.dir, "clouds.yaml")])
    tag = uuid.uuid4().hex[:8]
    f = conn.compute.create_flavor(name=f"sdk-{tag}", ram=256, vcpus=1, disk=1)
    conn.compute.create_flavor_extra_specs(f, {"hw:mem_page_size": "large"})
    got = conn.compute.fetch_flavor_extra_specs(f)
    check(got.extra_specs.get("hw:mem_page_size") == "large", f"sdk extra specs: {got.extra_specs}")
    check(conn.compute.find_flavor(f"sdk-{tag}").ram == 256, "sdk find_flavor")
    conn.compute.delete_flavor(f)
    check(conn.compute.find_flavor(f"sdk-{tag}") is None, "sdk delete_flavor")
    yield "openstacksdk: flavor create, extra specs, find, delete"
