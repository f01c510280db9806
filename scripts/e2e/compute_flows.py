"""Compute flows for the end-to-end suite: flavors (with properties and
access), keypairs, with the `openstack` CLI and openstacksdk."""
import os
import subprocess
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


def server_flows(c, check, tag):
    raw = os.path.join(c.dir, f"boot-{tag}.raw")
    with open(raw, "wb") as f:
        f.write(b"\0" * 65536)
    img = c.osj("image", "create", "--file", raw, "--disk-format", "raw", "--container-format", "bare",
                f"boot-{tag}")
    flavor = f"m1.boot-{tag}"
    c.osj("flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "1", flavor)

    services = c.osj("compute", "service", "list")
    check(len(services) == 1 and services[0]["Binary"] == "nova-compute" and services[0]["State"] == "up",
          f"compute service list: {services}")
    host = services[0]["Host"]
    hypervisors = c.osj("hypervisor", "list")
    check(len(hypervisors) == 1 and hypervisors[0]["State"] == "up", f"hypervisor list: {hypervisors}")
    yield "openstack compute service list, hypervisor list: the local fake host is up"

    vm = c.osj("server", "create", "--image", img["id"], "--flavor", flavor, "--nic", "none", "--wait",
               f"vm-{tag}")
    check(vm["status"] == "ACTIVE", f"server create --wait: {vm}")
    shown = c.osj("server", "show", vm["id"])
    check(shown["status"] == "ACTIVE" and shown["OS-EXT-SRV-ATTR:host"] == host, f"server show: {shown}")
    rows = c.osj("server", "list", "--long")
    check(any(r["ID"] == vm["id"] and r["Status"] == "ACTIVE" for r in rows), f"server list --long: {rows}")
    yield "openstack server create --image --flavor --nic none --wait: ACTIVE; server show, server list --long"

    usage = c.osj("resource", "provider", "list")
    rp = usage[0]["uuid"]
    used = {r["resource_class"]: r["usage"] for r in c.osj("resource", "provider", "usage", "show", rp)}
    check(used.get("MEMORY_MB") == 256 and used.get("VCPU") == 1, f"placement usage while the server runs: {used}")
    allocs = c.osj("resource", "provider", "allocation", "show", vm["id"])
    check(len(allocs) == 1 and allocs[0]["resource_provider"] == rp, f"allocation show: {allocs}")
    yield "the server's allocation in Placement (osc-placement: usage show, allocation show)"

    limits = {r["Name"]: r["Value"] for r in c.osj("limits", "show", "--absolute")}
    check(limits.get("total_instances_used") == 1 and limits.get("total_ram_used") == 256, f"limits show: {limits}")
    zones = c.osj("availability", "zone", "list", "--compute")
    check(any(z["Zone Name"] == "nova" and z["Zone Status"] == "available" for z in zones), f"az list: {zones}")
    yield "openstack limits show --absolute (usage), availability zone list --compute"

    c.os("compute", "service", "set", "--disable", "--disable-reason", "e2e", host, "nova-compute")
    row = c.osj("compute", "service", "list", "--long")[0]
    check(row["Status"] == "disabled" and row["Disabled Reason"] == "e2e", f"service set --disable: {row}")
    out = c.os("server", "create", "--image", img["id"], "--flavor", flavor, "--nic", "none", "--wait",
               f"nohost-{tag}", expect_fail=True)
    err = c.osj("server", "show", f"nohost-{tag}")
    check(err["status"] == "ERROR" and "No valid host" in str(err.get("fault")), f"no host while disabled: {err} {out}")
    c.os("server", "delete", "--wait", f"nohost-{tag}")
    c.os("compute", "service", "set", "--enable", host, "nova-compute")
    yield "openstack compute service set --disable: scheduling avoids the host (ERROR, No valid host); --enable"

    c.os("server", "delete", "--wait", vm["id"])
    check(not any(r["ID"] == vm["id"] for r in c.osj("server", "list")), "server delete --wait")
    used = {r["resource_class"]: r["usage"] for r in c.osj("resource", "provider", "usage", "show", rp)}
    check(used.get("MEMORY_MB") == 0 and used.get("VCPU") == 0, f"placement usage after the delete: {used}")
    yield "openstack server delete --wait releases the server's allocations"

    c.os("flavor", "delete", flavor)
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
