"""Image end-to-end checks with the real `openstack image ...` commands and
openstacksdk's image proxy. The images are small real qcow2 files made
with qemu-img."""
import hashlib
import json
import os
import subprocess
import time
import uuid


def _qcow2(path, size="64M", fill=True):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, size], check=True)
    if fill:
        # Some data in the image so it is not all zero clusters.
        raw = path + ".raw"
        with open(raw, "wb") as f:
            f.write(os.urandom(1 << 20))
        subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, path], check=True)
        os.remove(raw)


def _md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def flows(c, check):
    tag = uuid.uuid4().hex[:8]
    src = os.path.join(c.dir, f"img-{tag}.qcow2")
    _qcow2(src)
    img = c.osj("image", "create", "--file", src, "--disk-format", "qcow2", "--container-format", "bare",
                "--property", "os_distro=cirros", f"e2e-{tag}")
    check(img["status"] == "active" and img["disk_format"] == "qcow2", f"image create --file: {img}")
    check(img["checksum"] == _md5(src), "image checksum is the file's md5")
    yield "openstack image create --file --disk-format qcow2 --container-format bare"

    rows = c.osj("image", "list", "--long")
    row = next((r for r in rows if r["ID"] == img["id"]), None)
    check(row is not None and row["Disk Format"] == "qcow2" and row["Status"] == "active", f"image list --long: {row}")
    shown = c.osj("image", "show", img["id"])
    check(shown["size"] == os.path.getsize(src) and shown["virtual_size"] == 1 << 20, f"image show: {shown}")
    yield "openstack image list --long, image show (size and virtual size)"

    c.os("image", "set", "--property", "hw_disk_bus=virtio", "--name", f"e2e-{tag}-x", img["id"])
    shown = c.osj("image", "show", img["id"])
    props = shown.get("properties") or {}
    check(shown["name"] == f"e2e-{tag}-x" and props.get("hw_disk_bus") == "virtio", f"image set: {shown}")
    yield "openstack image set --property --name"

    out = os.path.join(c.dir, f"saved-{tag}.qcow2")
    c.os("image", "save", "--file", out, img["id"])
    check(_md5(out) == _md5(src) and os.path.getsize(out) == os.path.getsize(src), "image save: bytes equal")
    yield "openstack image save --file: bit-identical"

    # Share with another project: add, accept, see it.
    project = f"share-{tag}"
    c.os("project", "create", project)
    c.os("user", "create", "--password", "pw-" + tag, f"u-{tag}")
    c.os("role", "add", "--project", project, "--user", f"u-{tag}", "member")
    c.os("image", "set", "--shared", img["id"])
    c.os("image", "add", "project", img["id"], project)
    env = c.user_env(f"u-{tag}", "pw-" + tag, project=project)
    pid = c.osj("project", "show", project)["id"]
    c.os("image", "set", "--accept", "--project", pid, img["id"], env=env)
    theirs = {r["ID"] for r in c.osj("image", "list", env=env)}
    check(img["id"] in theirs, "an accepted shared image is listed for the member")
    members = c.osj("image", "member", "list", img["id"])
    check(any(m["Member ID"] == pid and m["Status"] == "accepted" for m in members), f"image member list: {members}")
    yield "openstack image add project + image set --accept (member sees the image)"

    c.os("image", "delete", img["id"])
    check(img["id"] not in {r["ID"] for r in c.osj("image", "list")}, "image delete")
    yield "openstack image delete"

    # Interoperable import: create, stage, import (glance-direct) in one command.
    imported = c.osj("image", "create", "--import", "--file", src, "--disk-format", "qcow2",
                     "--container-format", "bare", f"imp-{tag}")
    check(imported["status"] in ("uploading", "importing", "active"), f"image create --import: {imported}")
    for _ in range(100):
        shown = c.osj("image", "show", imported["id"])
        if shown["status"] not in ("uploading", "importing"):
            break
        time.sleep(0.2)
    check(shown["status"] == "active" and shown["checksum"] == _md5(src), f"imported image: {shown}")
    out = os.path.join(c.dir, f"imported-{tag}.qcow2")
    c.os("image", "save", "--file", out, imported["id"])
    check(_md5(out) == _md5(src), "imported image saves bit-identical")
    c.os("image", "delete", imported["id"])
    yield "openstack image create --import (glance-direct): staged, imported, active, bytes equal"

    bad = os.path.join(c.dir, f"bad-{tag}.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", src, "-F", "qcow2", bad], check=True)
    err = c.os("image", "create", "--file", bad, "--disk-format", "qcow2", "--container-format", "bare",
               f"bad-{tag}", expect_fail=True)
    check("415" in err or "backing" in err.lower() or "not supported" in err.lower(), f"backing file refused: {err}")
    left = [r for r in c.osj("image", "list") if r["Name"] == f"bad-{tag}"]
    check(all(r["Status"] == "queued" for r in left), f"a refused upload leaves no active image: {left}")
    yield "a qcow2 with a backing file is refused; no active image is left"


def sdk_flows(c, check):
    import openstack

    conn = openstack.connect(cloud="ferrostack", config_files=[os.path.join(c.dir, "clouds.yaml")])
    tag = uuid.uuid4().hex[:8]
    data = os.urandom(300_000)
    img = conn.image.create_image(name=f"sdk-{tag}", data=data, disk_format="raw", container_format="bare",
                                  validate_checksum=True)
    img = conn.image.get_image(img.id)
    check(img.status == "active" and img.size == len(data), f"sdk create_image: {img.status} {img.size}")
    got = conn.image.download_image(img.id).content
    check(got == data, "sdk download_image: bytes equal")
    conn.image.update_image(img.id, hw_scsi_model="virtio-scsi")
    check(conn.image.get_image(img.id).hw_scsi_model == "virtio-scsi", "sdk update_image")
    conn.image.delete_image(img.id)
    check(conn.image.find_image(f"sdk-{tag}") is None, "sdk delete_image")
    yield "openstacksdk: image create (upload), get, download, update, delete"
