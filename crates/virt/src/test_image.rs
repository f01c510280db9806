//! A tiny real guest, built from Debian's packages: the Debian kernel, a
//! few of its modules and busybox-static in an initramfs whose `/init`
//! mounts the config drive and prints one marker line to the serial
//! console. Two forms: a kernel + initramfs pair (for kernel/ramdisk boot)
//! and a bootable qcow2 disk (an MBR, a FAT partition and syslinux), as a
//! cloud image would be.
//!
//! The marker: `FERROSTACK-GUEST-READY uuid=<uuid> hostname=<name>
//! disks=<dev:bytes,...> user_data=<user data on one line>`; then a
//! `FERROSTACK-GUEST-TICK n=<n>` line every two seconds (a running count a
//! suspend, resume or live migration must not restart). The guest powers
//! off on the ACPI power button, or at once when its user data holds the
//! word `poweroff`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The files [`build`] writes into its output directory.
pub const KERNEL: &str = "tiny-vmlinuz";
pub const INITRD: &str = "tiny-initrd.img";
pub const DISK: &str = "tiny.qcow2";

/// The kernel command line the test image wants (`os_command_line`).
pub const CMDLINE: &str = "console=ttyS0 panic=-1 quiet";

/// Modules the guest loads, in dependency order, by their path under
/// `lib/modules/<version>/kernel/`.
const MODULES: &[&str] = &[
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/block/virtio_blk.ko",
    "drivers/cdrom/cdrom.ko",
    "fs/isofs/isofs.ko",
    "fs/fat/fat.ko",
    "fs/fat/vfat.ko",
    "fs/nls/nls_cp437.ko",
    "fs/nls/nls_ascii.ko",
    "drivers/input/evdev.ko",
    "drivers/acpi/button.ko",
    "drivers/scsi/scsi_common.ko",
    "drivers/scsi/scsi_mod.ko",
    "drivers/ata/libata.ko",
    "drivers/ata/libahci.ko",
    "drivers/ata/ahci.ko",
    "drivers/ata/ata_piix.ko",
    "drivers/scsi/sr_mod.ko",
];

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
exec </dev/console >/dev/console 2>&1
for m in MODULES; do insmod /lib/modules/$m.ko 2>/dev/null; done
uuid=$(cat /sys/class/dmi/id/product_uuid 2>/dev/null)
hostname=ferrostack-guest
user_data=
i=0
until dev=$(findfs LABEL=config-2 2>/dev/null); do i=$((i+1)); [ $i -gt 20 ] && break; usleep 100000; done
if [ -n "$dev" ] && { mount -t iso9660 -o ro "$dev" /mnt/config 2>/dev/null || mount -t vfat -o ro "$dev" /mnt/config 2>/dev/null; }; then
  md=/mnt/config/openstack/latest/meta_data.json
  u=$(sed -n 's/.*"uuid": *"\([^"]*\)".*/\1/p' $md); [ -n "$u" ] && uuid=$u
  h=$(sed -n 's/.*"hostname": *"\([^"]*\)".*/\1/p' $md); [ -n "$h" ] && hostname=$h
  [ -f /mnt/config/openstack/latest/user_data ] && user_data=$(tr '\n' ' ' < /mnt/config/openstack/latest/user_data)
fi
hostname "$hostname"
disks=
for b in /sys/block/vd*; do [ -e "$b" ] && disks="$disks${disks:+,}${b##*/}:$(( $(cat $b/size) * 512 ))"; done
echo "FERROSTACK-GUEST-READY uuid=$uuid hostname=$hostname disks=$disks user_data=$user_data"
case "$user_data" in *poweroff*) sleep 1; poweroff -f;; esac
for e in /sys/class/input/event*; do
  grep -q 'Power Button' $e/device/name 2>/dev/null && pb=/dev/input/${e##*/}
done
if [ -n "$pb" ]; then
  ( dd if=$pb of=/dev/null bs=24 count=1 2>/dev/null; echo FERROSTACK-GUEST-POWERDOWN; sleep 1; poweroff -f ) &
fi
n=0
while true; do n=$((n+1)); echo "FERROSTACK-GUEST-TICK n=$n"; sleep 2; done
"#;

const SYSLINUX_CFG: &str = "DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n KERNEL /vmlinuz\n INITRD /initrd.img\n APPEND console=ttyS0 panic=-1 quiet\n";

/// Size of the disk image's FAT partition, in MiB.
const PARTITION_MIB: u64 = 32;

type Progress<'a> = &'a mut dyn FnMut(&str);

/// Builds the test image into `out`: [`KERNEL`], [`INITRD`] and [`DISK`].
/// Debian packages are downloaded with `apt-get download` into
/// `out/.debs` (kept for the next build). `progress` gets one line per
/// step.
pub fn build(out: &Path, progress: Progress<'_>) -> Result<(), String> {
    const STEPS: usize = 5;
    let mut step = 0;
    let mut run_step = |what: &str, f: &mut dyn FnMut() -> Result<(), String>| -> Result<(), String> {
        step += 1;
        progress(&format!("[{step}/{STEPS}] {what}"));
        let t = Instant::now();
        f()?;
        progress(&format!("[{step}/{STEPS}] done in {:.1} s", t.elapsed().as_secs_f64()));
        Ok(())
    };
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let debs = out.join(".debs");
    let work = tempfile_dir(out)?;
    let result = (|| {
        let mut kernel_pkg = String::new();
        run_step("downloading the Debian kernel and busybox-static (apt-get download)", &mut || {
            kernel_pkg = kernel_package()?;
            download(&debs, &[&kernel_pkg, "busybox-static"])
        })?;
        let version = kernel_pkg.trim_start_matches("linux-image-").to_string();
        let root = work.join("root");
        run_step("extracting the kernel, its modules and busybox", &mut || {
            let mut members = vec![format!("./boot/vmlinuz-{version}")];
            members.extend(MODULES.iter().map(|m| format!("./lib/modules/{version}/kernel/{m}")));
            extract(&find_deb(&debs, &kernel_pkg)?, &root, &members)?;
            extract(&find_deb(&debs, "busybox-static")?, &root, &["./bin/busybox".to_string()])
        })?;
        run_step("writing the initramfs", &mut || {
            let cpio = initramfs(&root, &version)?;
            std::fs::write(out.join(INITRD), cpio).map_err(|e| format!("cannot write the initramfs: {e}"))?;
            std::fs::copy(root.join(format!("boot/vmlinuz-{version}")), out.join(KERNEL))
                .map(|_| ())
                .map_err(|e| format!("cannot copy the kernel: {e}"))
        })?;
        let raw = work.join("disk.raw");
        run_step("writing the boot disk (MBR, FAT partition, syslinux)", &mut || boot_disk(out, &work, &raw))?;
        run_step("converting the boot disk to qcow2", &mut || {
            let tmp = out.join(format!("{DISK}.tmp"));
            run(Command::new("qemu-img").args(["convert", "-f", "raw", "-O", "qcow2"]).arg(&raw).arg(&tmp))?;
            std::fs::rename(&tmp, out.join(DISK)).map_err(|e| format!("cannot rename the disk: {e}"))
        })?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// Whether `out` holds a complete test image.
pub fn is_built(out: &Path) -> bool {
    [KERNEL, INITRD, DISK].iter().all(|f| out.join(f).is_file())
}

fn tempfile_dir(out: &Path) -> Result<PathBuf, String> {
    let dir = out.join(format!(".build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let name = cmd.get_program().to_string_lossy().to_string();
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("{name} is not installed; install it (scripts/test installs every tool the test image needs)")
        } else {
            format!("cannot run {name}: {e}")
        }
    })?;
    if !out.status.success() {
        return Err(format!("{name} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// The versioned kernel package `linux-image-amd64` points at.
fn kernel_package() -> Result<String, String> {
    let deps = run(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
    deps.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-") && p.ends_with("-amd64"))
        .map(str::to_string)
        .ok_or_else(|| "apt knows no linux-image-amd64 package; run apt-get update".to_string())
}

fn find_deb(dir: &Path, package: &str) -> Result<PathBuf, String> {
    let prefix = format!("{package}_");
    std::fs::read_dir(dir)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with(&prefix) && n.ends_with(".deb")
        })
        .max()
        .ok_or_else(|| format!("no {package} package in {}", dir.display()))
}

fn download(dir: &Path, packages: &[&str]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let missing: Vec<&str> = packages.iter().copied().filter(|p| find_deb(dir, p).is_err()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    run(Command::new("apt-get").arg("download").args(&missing).current_dir(dir))
        .map_err(|e| format!("{e} (run apt-get update if the package lists are stale)"))?;
    Ok(())
}

fn extract(deb: &Path, root: &Path, members: &[String]) -> Result<(), String> {
    std::fs::create_dir_all(root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run dpkg-deb: {e}"))?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(root)
        .args(members)
        .stdin(dpkg.stdout.take().expect("piped"))
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let dpkg = dpkg.wait().map_err(|e| format!("dpkg-deb: {e}"))?;
    if !dpkg.success() || !tar.status.success() {
        return Err(format!(
            "cannot extract {} from {}: {}",
            members.join(" "),
            deb.display(),
            String::from_utf8_lossy(&tar.stderr).trim()
        ));
    }
    Ok(())
}

/// The initramfs as an uncompressed newc cpio archive (the kernel reads it
/// as is, and a guest under TCG saves the seconds of decompressing it).
fn initramfs(root: &Path, version: &str) -> Result<Vec<u8>, String> {
    let mut c = Cpio::default();
    for d in ["bin", "dev", "proc", "sys", "tmp", "mnt", "mnt/config", "lib", "lib/modules"] {
        c.dir(d);
    }
    c.node("dev/console", 0o020600, (5, 1));
    let read = |p: PathBuf| std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    c.file("bin/busybox", 0o755, &read(root.join("bin/busybox"))?);
    let mut names = Vec::new();
    for m in MODULES {
        let name = Path::new(m).file_name().unwrap_or_default().to_string_lossy().to_string();
        c.file(&format!("lib/modules/{name}"), 0o644, &read(root.join(format!("lib/modules/{version}/kernel/{m}")))?);
        names.push(name.trim_end_matches(".ko").to_string());
    }
    c.file("init", 0o755, INIT.replace("MODULES", &names.join(" ")).as_bytes());
    Ok(c.finish())
}

fn boot_disk(out: &Path, work: &Path, raw: &Path) -> Result<(), String> {
    let part = work.join("part.img");
    let sectors = PARTITION_MIB * 1024 * 2;
    run(Command::new("mkfs.fat")
        .args(["-C", "-n", "BOOT", "-h", "2048"])
        .arg(&part)
        .arg((PARTITION_MIB * 1024).to_string()))?;
    let cfg = work.join("syslinux.cfg");
    std::fs::write(&cfg, SYSLINUX_CFG).map_err(|e| format!("cannot write syslinux.cfg: {e}"))?;
    let mcopy = |src: PathBuf, dst: &str| {
        run(Command::new("mcopy").env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(&part).arg(src).arg(format!("::/{dst}")))
    };
    mcopy(out.join(KERNEL), "vmlinuz")?;
    mcopy(out.join(INITRD), "initrd.img")?;
    mcopy(cfg, "syslinux.cfg")?;
    run(Command::new("syslinux").arg("--install").arg(&part))?;

    // An MBR with one bootable FAT partition from sector 2048.
    let mbr_code = ["/usr/lib/syslinux/mbr/mbr.bin", "/usr/lib/SYSLINUX/mbr.bin"]
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or("syslinux's mbr.bin is missing; install syslinux-common")?;
    let mut disk = vec![0u8; 1024 * 1024];
    disk[..mbr_code.len().min(440)].copy_from_slice(&mbr_code[..mbr_code.len().min(440)]);
    let entry = &mut disk[446..462];
    entry[0] = 0x80; // bootable
    entry[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]); // CHS: use LBA
    entry[4] = 0x0c; // FAT32 (LBA); the BIOS does not care, syslinux neither
    entry[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    entry[8..12].copy_from_slice(&2048u32.to_le_bytes());
    entry[12..16].copy_from_slice(&(sectors as u32).to_le_bytes());
    disk[510] = 0x55;
    disk[511] = 0xaa;
    let mut f = std::fs::File::create(raw).map_err(|e| format!("cannot write {}: {e}", raw.display()))?;
    f.write_all(&disk).map_err(|e| e.to_string())?;
    let mut p = std::fs::File::open(&part).map_err(|e| e.to_string())?;
    std::io::copy(&mut p, &mut f).map_err(|e| format!("cannot write the boot disk: {e}"))?;
    Ok(())
}

/// A newc ("070701") cpio writer.
#[derive(Default)]
struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            if mode & 0o040000 != 0 { 2 } else { 1 },
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, (0, 0), &[]);
    }

    fn node(&mut self, name: &str, mode: u32, rdev: (u32, u32)) {
        self.entry(name, mode, rdev, &[]);
    }

    fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, 0o100000 | perm, (0, 0), data);
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_entries_are_aligned_and_end_with_the_trailer() {
        let mut c = Cpio::default();
        c.dir("bin");
        c.file("init", 0o755, b"#!/bin/sh\n");
        let out = c.finish();
        assert_eq!(&out[..6], b"070701");
        assert_eq!(out.len() % 4, 0);
        // The second header starts on a 4-byte boundary after "bin\0".
        let second = 116;
        assert_eq!(&out[second..second + 6], b"070701");
        assert_eq!(&out[second + 6..second + 14], b"00000002");
        let tail = String::from_utf8_lossy(&out[out.len() - 16..]).to_string();
        assert!(tail.contains("TRAILER!!!"), "{tail:?}");
    }
}
