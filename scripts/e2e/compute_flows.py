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
