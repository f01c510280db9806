//! The QEMU driver: one `qemu-system-x86_64` process per instance, started
//! without a shell and driven over QMP (no libvirt).
//!
//! Each instance has a directory `<data dir>/instances/<uuid>/` with
//! `domain.json` (what to run: the spec, its disks and boot files),
//! `disk` (a qcow2 overlay on the cached base image), `disk.eph0`,
//! `disk.swap`, `disk.config` (the config drive), `console.log`,
//! `qemu.log` (QEMU's own messages), `qemu.pid` and `qmp.sock`, and
//! `state` while suspended. The directory is the truth: an agent that
//! restarts finds its guests there (pid file, `/proc`, QMP) and re-adopts
//! them; a guest whose QEMU is gone is shut off.
//!
//! A snapshot waits in `<data dir>/snapshots/` while the agent uploads it.
//! A cold migration or a resize to another host carries `disk` and
//! `disk.eph0` over TCP (see [`transfer`]); the destination rebases the
//! overlay onto its own cached copy of the base image.

pub mod accel;
mod config_drive;
mod images;
mod qmp;
mod transfer;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use accel::Accel;
use images::ImageCache;
use qmp::Qmp;

use crate::{
    Driver, DriverError, DriverResult, ImageSource, InstanceInfo, InstanceSpec, NodeResources, PowerState, SnapshotInfo,
};

/// How the QEMU driver runs.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// Instances live in `<data_dir>/instances`, base images in `<data_dir>/_base`.
    pub data_dir: PathBuf,
    /// The node's name (`hypervisor_hostname`).
    pub node_name: String,
    pub qemu_binary: String,
    pub qemu_img: String,
    /// `auto`, `kvm` or `tcg`.
    pub accel: String,
    pub image_cache_max_bytes: u64,
    /// How long a guest gets to power off on the ACPI button before it is
    /// stopped hard (Nova's `shutdown_timeout`).
    pub shutdown_timeout: Duration,
    /// The address other hosts reach this one on for live migration and for the disks of a cold migration or resize.
    pub migration_address: String,
}

impl QemuConfig {
    pub fn new(data_dir: PathBuf, node_name: &str) -> QemuConfig {
        QemuConfig {
            data_dir,
            node_name: node_name.to_string(),
            qemu_binary: "qemu-system-x86_64".into(),
            qemu_img: "qemu-img".into(),
            accel: "auto".into(),
            image_cache_max_bytes: 20 << 30,
            shutdown_timeout: Duration::from_secs(60),
            migration_address: "127.0.0.1".into(),
        }
    }
}

/// What to run for one instance (`domain.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Domain {
    spec: InstanceSpec,
    /// Image ids of the bases the disks use (kept by the cache clean-up).
    bases: Vec<String>,
    boot: Boot,
    config_drive: bool,
    /// Set while rescued: the rescue image boots, the own disk comes second.
    rescue: Option<Boot>,
    #[serde(default)]
    rescue_bases: Vec<String>,
}

/// How a disk or kernel boots.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Boot {
    kernel: Option<PathBuf>,
    ramdisk: Option<PathBuf>,
    cmdline: Option<String>,
}

pub struct QemuDriver {
    cfg: QemuConfig,
    accel: Accel,
    qemu_version: i64,
    images: ImageCache,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The last state each instance was seen in, for reports made while an
    /// operation holds the instance.
    seen: Mutex<HashMap<String, PowerState>>,
}

fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> DriverError {
    DriverError::new(format!("cannot {what} {}: {e}", path.display()))
}

impl QemuDriver {
    /// Checks QEMU, chooses the accelerator and adopts the instances
    /// already in the data dir.
    pub async fn new(cfg: QemuConfig, source: Arc<dyn ImageSource>) -> Result<QemuDriver, String> {
        let out = tokio::process::Command::new(&cfg.qemu_binary).arg("--version").output().await.map_err(|e| {
            format!("cannot run {} ({e}); install QEMU (apt-get install qemu-system-x86)", cfg.qemu_binary)
        })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let qemu_version = text
            .split_whitespace()
            .nth(3)
            .and_then(|v| {
                let mut p = v.split('.').map(|x| x.parse::<i64>().unwrap_or(0));
                Some(p.next()? * 1_000_000 + p.next().unwrap_or(0) * 1000 + p.next().unwrap_or(0))
            })
            .unwrap_or(0);
        let instances = cfg.data_dir.join("instances");
        std::fs::create_dir_all(&instances).map_err(|e| format!("cannot create {}: {e}", instances.display()))?;
        let accel = accel::choose(&cfg.qemu_binary, &cfg.accel, &cfg.data_dir).await?;
        let images = ImageCache::new(cfg.data_dir.join("_base"), source, cfg.image_cache_max_bytes);
        let d = QemuDriver {
            cfg,
            accel,
            qemu_version,
            images,
            locks: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
        };
        let mut running = 0;
        for uuid in d.uuids() {
            let dir = d.dir(&uuid);
            match pid_of(&dir, &uuid) {
                Some(_) => running += 1,
                None => {
                    let _ = std::fs::remove_file(dir.join("qemu.pid"));
                    let _ = std::fs::remove_file(dir.join("qmp.sock"));
                }
            }
        }
        tracing::info!(
            accel = d.accel.name(),
            qemu_version = d.qemu_version,
            instances = d.uuids().len(),
            running,
            "QEMU driver ready"
        );
        Ok(d)
    }

    pub fn accel(&self) -> Accel {
        self.accel
    }

    fn dir(&self, uuid: &str) -> PathBuf {
        self.cfg.data_dir.join("instances").join(uuid)
    }

    fn uuids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.cfg.data_dir.join("instances")) else { return Vec::new() };
        entries
            .flatten()
            .filter(|e| e.path().join("domain.json").is_file())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect()
    }

    fn lock(&self, uuid: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.lock().expect("driver lock").entry(uuid.to_string()).or_default().clone()
    }

    fn domain(&self, uuid: &str) -> DriverResult<Domain> {
        let p = self.dir(uuid).join("domain.json");
        let bytes = std::fs::read(&p).map_err(|_| DriverError::new(format!("instance {uuid} is not on this host")))?;
        serde_json::from_slice(&bytes).map_err(|e| io("parse", &p, e))
    }

    fn save_domain(&self, d: &Domain) -> DriverResult<()> {
        let p = self.dir(&d.spec.uuid).join("domain.json");
        let tmp = p.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(d).expect("json")).map_err(|e| io("write", &tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| io("write", &p, e))
    }

    fn bases_in_use(&self) -> HashSet<String> {
        self.uuids()
            .iter()
            .filter_map(|u| self.domain(u).ok())
            .flat_map(|d| d.bases.into_iter().chain(d.rescue_bases))
            .collect()
    }

    async fn qemu_img(&self, args: &[&str]) -> DriverResult<String> {
        let out = tokio::process::Command::new(&self.cfg.qemu_img)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| DriverError::new(format!("cannot run {}: {e}; install qemu-utils", self.cfg.qemu_img)))?;
        if !out.status.success() {
            return Err(DriverError::new(format!(
                "qemu-img {} failed: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// A qcow2 overlay at `dest` on `base` (of the base's size unless `size`).
    async fn overlay(&self, base: &images::Base, dest: &Path, size: Option<&str>) -> DriverResult<()> {
        let (backing, dest) = (base.path.to_string_lossy(), dest.to_string_lossy());
        let mut args = vec!["create", "-q", "-f", "qcow2", "-F", &base.format, "-b", &backing, &dest];
        args.extend(size);
        self.qemu_img(&args).await.map(|_| ())
    }

    /// The kernel/ramdisk files of an image's `kernel_id`/`ramdisk_id`.
    async fn boot_of(
        &self,
        meta: &crate::ImageMeta,
        in_use: &HashSet<String>,
        bases: &mut Vec<String>,
    ) -> DriverResult<Boot> {
        let mut boot = Boot::default();
        if let Some(k) = meta.property("kernel_id") {
            boot.kernel = Some(self.images.get(k, in_use).await?.path);
            bases.push(k.to_string());
            if let Some(r) = meta.property("ramdisk_id") {
                boot.ramdisk = Some(self.images.get(r, in_use).await?.path);
                bases.push(r.to_string());
            }
            boot.cmdline = Some(
                meta.property("os_command_line").unwrap_or("root=/dev/vda console=tty0 console=ttyS0").to_string(),
            );
        }
        Ok(boot)
    }

    /// Writes the instance's disks and `domain.json`.
    async fn prepare(&self, spec: &InstanceSpec) -> DriverResult<Domain> {
        if spec.node != self.cfg.node_name {
            return Err(DriverError::new(format!(
                "node {} is not managed by this host ({})",
                spec.node, self.cfg.node_name
            )));
        }
        let dir = self.dir(&spec.uuid);
        let sock = dir.join("qmp.sock");
        if sock.as_os_str().len() > 100 {
            return Err(DriverError::new(format!(
                "the instance path {} is too long for a unix socket; use a shorter --data-dir",
                sock.display()
            )));
        }
        std::fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
        let migrated = dir.join(transfer::COMPLETE).is_file();
        let in_use = self.bases_in_use();
        let base = self.images.get(&spec.image_ref, &in_use).await?;
        let mut bases = vec![spec.image_ref.clone()];
        let boot = self.boot_of(&base.meta, &in_use, &mut bases).await?;
        if boot.kernel.is_none() {
            if matches!(base.meta.disk_format.as_deref(), Some("aki" | "ari")) {
                return Err(DriverError::abort_build(format!(
                    "image {} is a kernel or ramdisk (disk_format {}), not a bootable disk",
                    spec.image_ref,
                    base.meta.disk_format.as_deref().unwrap_or("")
                )));
            }
            if !migrated {
                self.check_bootable(&base, &dir.join("disk.mbr")).await?;
            }
        }
        let root_bytes = spec.root_gb.max(0) as u64 * (1 << 30);
        let disk = dir.join("disk");
        if migrated {
            // The overlay names the source's copy of the base; point it at ours.
            let (backing, path) = (base.path.to_string_lossy(), disk.to_string_lossy());
            self.qemu_img(&["rebase", "-u", "-f", "qcow2", "-F", &base.format, "-b", &backing, &path]).await?;
            self.grow(&disk, root_bytes).await?;
        } else {
            let virtual_size = self.virtual_size(&base.path, &base.format).await?;
            if spec.root_gb > 0 && virtual_size > root_bytes {
                return Err(DriverError::abort_build(format!(
                    "the flavor's root disk ({} GiB) is smaller than image {} ({} bytes); choose a larger flavor",
                    spec.root_gb, spec.image_ref, virtual_size
                )));
            }
            let size = if spec.root_gb > 0 { root_bytes.to_string() } else { virtual_size.to_string() };
            self.overlay(&base, &disk, Some(&size)).await?;
        }
        if spec.ephemeral_gb > 0 && !(migrated && dir.join("disk.eph0").is_file()) {
            let p = dir.join("disk.eph0");
            self.qemu_img(&["create", "-q", "-f", "qcow2", &p.to_string_lossy(), &format!("{}G", spec.ephemeral_gb)])
                .await?;
        }
        if spec.swap_mb > 0 {
            let p = dir.join("disk.swap");
            self.qemu_img(&["create", "-q", "-f", "raw", &p.to_string_lossy(), &format!("{}M", spec.swap_mb)]).await?;
        }
        if let Some(cd) = &spec.config_drive {
            let (cd, ud, dest) = (cd.clone(), spec.user_data.clone(), dir.join("disk.config"));
            tokio::task::spawn_blocking(move || config_drive::build(&cd, ud.as_deref(), &dest))
                .await
                .map_err(|e| DriverError::new(e.to_string()))??;
        }
        let d = Domain {
            spec: spec.clone(),
            bases,
            boot,
            config_drive: spec.config_drive.is_some(),
            rescue: None,
            rescue_bases: Vec::new(),
        };
        self.save_domain(&d)?;
        if migrated {
            std::fs::remove_file(dir.join(transfer::COMPLETE)).map_err(|e| io("remove", &dir, e))?;
        }
        Ok(d)
    }

    /// Grows the qcow2 disk at `path` to `bytes` when it is smaller.
    async fn grow(&self, path: &Path, bytes: u64) -> DriverResult<()> {
        if bytes > self.virtual_size(path, "qcow2").await? {
            self.qemu_img(&["resize", "-q", &path.to_string_lossy(), &bytes.to_string()]).await?;
        }
        Ok(())
    }

    async fn virtual_size(&self, path: &Path, format: &str) -> DriverResult<u64> {
        let out = self.qemu_img(&["info", "--output=json", "-f", format, &path.to_string_lossy()]).await?;
        let v: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| DriverError::new(format!("qemu-img info: {e}")))?;
        v["virtual-size"].as_u64().ok_or_else(|| DriverError::new("qemu-img info gave no virtual size"))
    }

    /// A disk image boots only when its first sector has the boot signature.
    /// `tmp` is a scratch file of this instance's own, so concurrent spawns
    /// of one image never read each other's sector.
    async fn check_bootable(&self, base: &images::Base, tmp: &Path) -> DriverResult<()> {
        let r = self
            .qemu_img(&[
                "dd",
                "-f",
                &base.format,
                "-O",
                "raw",
                "bs=512",
                "count=1",
                &format!("if={}", base.path.display()),
                &format!("of={}", tmp.display()),
            ])
            .await;
        let sector = std::fs::read(tmp).unwrap_or_default();
        let _ = std::fs::remove_file(tmp);
        r?;
        if sector.len() < 512 || sector[510] != 0x55 || sector[511] != 0xaa {
            return Err(DriverError::abort_build(format!(
                "image {} is not bootable: its first sector has no boot signature (and it names no kernel_id); upload a bootable disk image",
                base.meta.id
            )));
        }
        Ok(())
    }

    fn argv(&self, d: &Domain, incoming: bool) -> Vec<String> {
        let dir = self.dir(&d.spec.uuid);
        let p = |f: &str| dir.join(f).to_string_lossy().replace(',', ",,");
        let uuid = &d.spec.uuid;
        let mut a: Vec<String> = Vec::new();
        let mut push = |xs: &[&str]| a.extend(xs.iter().map(|x| x.to_string()));
        push(&["-name", &format!("guest=instance-{uuid},debug-threads=on"), "-S", "-no-user-config", "-nodefaults"]);
        push(&["-machine", "q35,usb=off,dump-guest-core=off", "-accel", self.accel.name()]);
        push(&["-cpu", if self.accel == Accel::Kvm { "host" } else { "max" }]);
        push(&["-smp", &d.spec.vcpus.max(1).to_string(), "-m", &format!("{}M", d.spec.memory_mb.max(16))]);
        push(&["-uuid", uuid]);
        push(&[
            "-smbios",
            &format!("type=1,manufacturer=ferrostack,product=OpenStack Compute,serial={uuid},uuid={uuid},family=Virtual Machine"),
        ]);
        push(&["-display", "none", "-vga", "none", "-no-shutdown", "-rtc", "base=utc", "-boot", "strict=on"]);
        push(&[
            "-chardev",
            &format!("socket,id=qmp,path={},server=on,wait=off", p("qmp.sock")),
            "-mon",
            "chardev=qmp,mode=control",
        ]);
        push(&[
            "-chardev",
            &format!("file,id=serial0,path={},append=on", p("console.log")),
            "-serial",
            "chardev:serial0",
        ]);
        push(&["-pidfile", &dir.join("qemu.pid").to_string_lossy()]);
        push(&["-global", "ICH9-LPC.disable_s3=1", "-global", "ICH9-LPC.disable_s4=1"]);
        let boot = d.rescue.as_ref().unwrap_or(&d.boot);
        if let Some(k) = &boot.kernel {
            push(&["-kernel", &k.to_string_lossy()]);
            if let Some(r) = &boot.ramdisk {
                push(&["-initrd", &r.to_string_lossy()]);
            }
            push(&["-append", boot.cmdline.as_deref().unwrap_or("console=ttyS0")]);
        }
        let mut disks: Vec<(&str, String, &str)> = Vec::new();
        if d.rescue.is_some() {
            disks.push(("rescue", p("disk.rescue"), "qcow2"));
        }
        disks.push(("root", p("disk"), "qcow2"));
        if d.spec.ephemeral_gb > 0 {
            disks.push(("eph0", p("disk.eph0"), "qcow2"));
        }
        if d.spec.swap_mb > 0 {
            disks.push(("swap", p("disk.swap"), "raw"));
        }
        // -drive rather than -blockdev: live migration copies the disks
        // with QEMU's block migration, which finds them by drive id.
        for (i, (name, path, format)) in disks.iter().enumerate() {
            push(&["-drive", &format!("file={path},format={format},if=none,id=drive-{name},discard=unmap")]);
            let boot = if i == 0 { ",bootindex=1" } else { "" };
            push(&[
                "-device",
                &format!(
                    "virtio-blk-pci,bus=pcie.0,addr={:#x},drive=drive-{name},id=virtio-disk{i},serial={name}{boot}",
                    4 + i
                ),
            ]);
        }
        if d.config_drive {
            push(&[
                "-drive",
                &format!("file={},format=raw,if=none,id=drive-config,readonly=on,media=cdrom", p("disk.config")),
            ]);
            push(&["-device", "ide-cd,bus=ide.0,drive=drive-config,id=sata0-0-0"]);
        }
        push(&["-device", "virtio-balloon-pci,id=balloon0,bus=pcie.0,addr=0x3"]);
        if incoming {
            push(&["-incoming", "defer"]);
        }
        push(&["-msg", "timestamp=on"]);
        a
    }

    /// Starts QEMU for `d` (paused when `incoming`, waiting for a migration
    /// stream; running otherwise).
    async fn start(&self, d: &Domain, incoming: bool) -> DriverResult<()> {
        let dir = self.dir(&d.spec.uuid);
        let sock = dir.join("qmp.sock");
        let _ = std::fs::remove_file(&sock);
        let _ = std::fs::remove_file(dir.join("qemu.pid"));
        let log_path = dir.join("qemu.log");
        let log = std::fs::File::create(&log_path).map_err(|e| io("write", &log_path, e))?;
        let log2 = log.try_clone().map_err(|e| io("write", &log_path, e))?;
        let mut child = tokio::process::Command::new(&self.cfg.qemu_binary)
            .args(self.argv(d, incoming))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(|e| {
                DriverError::new(format!(
                    "cannot start {} ({e}); install QEMU (apt-get install qemu-system-x86) or set [compute] qemu_binary",
                    self.cfg.qemu_binary
                ))
            })?;
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let msg = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(DriverError::new(format!(
                    "QEMU exited at start ({status}): {}",
                    msg.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("no message; see qemu.log").trim()
                )));
            }
            if sock.exists() {
                if let Ok(mut q) = Qmp::connect(&sock).await {
                    if !incoming {
                        q.execute("cont", None).await?;
                    }
                    break;
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.start_kill();
                return Err(DriverError::new("QEMU did not open its monitor within 30 s; see qemu.log"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The child is not waited for here: tokio reaps it when it exits,
        // and it outlives this agent when the agent stops first.
        drop(child);
        Ok(())
    }

    async fn qmp(&self, uuid: &str) -> DriverResult<Qmp> {
        Qmp::connect(&self.dir(uuid).join("qmp.sock")).await
    }

    /// The instance's power state, from QEMU when it runs.
    async fn state(&self, uuid: &str) -> DriverResult<PowerState> {
        let dir = self.dir(uuid);
        let state = if pid_of(&dir, uuid).is_none() {
            if dir.join("state").exists() {
                PowerState::Suspended
            } else {
                PowerState::Shutdown
            }
        } else {
            match self.qmp(uuid).await {
                Ok(mut q) => match q.status().await?.as_str() {
                    "running" => PowerState::Running,
                    "shutdown" => PowerState::Shutdown,
                    "guest-panicked" | "internal-error" => PowerState::Crashed,
                    "suspended" => PowerState::Suspended,
                    _ => PowerState::Paused,
                },
                // A QEMU that is exiting.
                Err(_) if pid_of(&dir, uuid).is_none() => PowerState::Shutdown,
                Err(e) => return Err(e),
            }
        };
        self.seen.lock().expect("driver lock").insert(uuid.to_string(), state);
        Ok(state)
    }

    async fn info(&self, uuid: &str) -> DriverResult<InstanceInfo> {
        Ok(InstanceInfo {
            uuid: uuid.to_string(),
            node: self.cfg.node_name.clone(),
            power_state: self.state(uuid).await?,
        })
    }

    /// Ends the QEMU process: `quit`, then SIGTERM, then SIGKILL.
    async fn kill(&self, uuid: &str) -> DriverResult<()> {
        let dir = self.dir(uuid);
        let Some(pid) = pid_of(&dir, uuid) else { return Ok(()) };
        let started_at = proc_start_time(pid);
        if let Ok(mut q) = self.qmp(uuid).await {
            let _ = q.execute("quit", None).await;
        }
        for (signal, wait) in [(0, 5), (libc::SIGTERM, 5), (libc::SIGKILL, 10)] {
            if signal != 0 && pid_of(&dir, uuid).is_some() {
                // SAFETY: kill(2) on a pid whose cmdline names this instance.
                unsafe { libc::kill(pid, signal) };
            }
            let until = Instant::now() + Duration::from_secs(wait);
            while Instant::now() < until {
                // Not only out of pid_of's sight (an exiting process loses its
                // cmdline first): gone, so its disk locks are released too.
                if exited(pid, started_at) {
                    let _ = std::fs::remove_file(dir.join("qemu.pid"));
                    let _ = std::fs::remove_file(dir.join("qmp.sock"));
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Err(DriverError::new(format!("QEMU (pid {pid}) of instance {uuid} does not exit even on SIGKILL")))
    }

    /// Presses the ACPI power button and waits up to the shutdown timeout
    /// for the guest to power off, then ends QEMU.
    async fn clean_shutdown(&self, uuid: &str) -> DriverResult<()> {
        let dir = self.dir(uuid);
        if pid_of(&dir, uuid).is_none() {
            return Ok(());
        }
        if let Ok(mut q) = self.qmp(uuid).await {
            if q.status().await? == "running" && q.execute("system_powerdown", None).await.is_ok() {
                let until = Instant::now() + self.cfg.shutdown_timeout;
                while Instant::now() < until {
                    match q.status().await {
                        Ok(s) if s == "shutdown" => break,
                        Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                        Err(_) => break,
                    }
                }
            }
        }
        self.kill(uuid).await
    }

    async fn do_spawn(&self, spec: &InstanceSpec) -> DriverResult<InstanceInfo> {
        let dir = self.dir(&spec.uuid);
        if let Ok(d) = self.domain(&spec.uuid) {
            // Spawned before (a command run again): make sure it runs.
            if pid_of(&dir, &spec.uuid).is_none() && !spec.stopped {
                self.start(&d, false).await?;
            }
            return self.info(&spec.uuid).await;
        }
        let started = Instant::now();
        let result = async {
            let d = self.prepare(spec).await?;
            if spec.stopped {
                return Ok(());
            }
            self.start(&d, false).await
        }
        .await;
        if let Err(e) = result {
            let _ = self.kill(&spec.uuid).await;
            let _ = std::fs::remove_dir_all(&dir);
            tracing::warn!(instance = %spec.uuid, error = %e, "spawn failed; its files are removed");
            return Err(e);
        }
        let what = if spec.stopped { "guest created, not started (the server is stopped)" } else { "guest started" };
        tracing::info!(instance = %spec.uuid, elapsed_ms = started.elapsed().as_millis() as u64, accel = self.accel.name(), "{what}");
        self.info(&spec.uuid).await
    }

    /// Saves the guest's state to `state` in its directory: QEMU sends a
    /// migration stream to a unix socket the driver copies into the file.
    async fn save(&self, uuid: &str) -> DriverResult<()> {
        let dir = self.dir(uuid);
        let sock = dir.join("save.sock");
        let _ = std::fs::remove_file(&sock);
        let listener = tokio::net::UnixListener::bind(&sock).map_err(|e| io("listen on", &sock, e))?;
        let mut q = self.qmp(uuid).await?;
        q.execute("stop", None).await?;
        q.execute("migrate-set-parameters", Some(json!({"max-bandwidth": 10u64 << 30}))).await?;
        q.execute("migrate", Some(json!({"uri": format!("unix:{}", sock.display())}))).await?;
        let (mut conn, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
            .await
            .map_err(|_| DriverError::new("QEMU did not connect to save its state"))?
            .map_err(|e| io("accept on", &sock, e))?;
        let part = dir.join("state.part");
        let mut file = tokio::fs::File::create(&part).await.map_err(|e| io("write", &part, e))?;
        tokio::io::copy(&mut conn, &mut file).await.map_err(|e| io("write", &part, e))?;
        let _ = std::fs::remove_file(&sock);
        loop {
            let m = q.execute("query-migrate", None).await?;
            match m["status"].as_str().unwrap_or("") {
                "completed" => break,
                "failed" | "cancelled" => {
                    q.execute("cont", None).await?;
                    let _ = std::fs::remove_file(&part);
                    return Err(DriverError::new(format!(
                        "QEMU failed to save the guest's state: {}",
                        m["error-desc"].as_str().unwrap_or("no reason given")
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        file.sync_all().await.map_err(|e| io("write", &part, e))?;
        std::fs::rename(&part, dir.join("state")).map_err(|e| io("write", &part, e))?;
        drop(q);
        self.kill(uuid).await
    }

    /// Starts the guest from its saved `state`.
    async fn restore(&self, d: &Domain) -> DriverResult<()> {
        let uuid = &d.spec.uuid;
        let dir = self.dir(uuid);
        let sock = dir.join("restore.sock");
        let _ = std::fs::remove_file(&sock);
        self.start(d, true).await?;
        let mut q = self.qmp(uuid).await?;
        q.execute("migrate-incoming", Some(json!({"uri": format!("unix:{}", sock.display())}))).await?;
        let mut conn = tokio::net::UnixStream::connect(&sock).await.map_err(|e| io("connect to", &sock, e))?;
        let mut file = tokio::fs::File::open(dir.join("state")).await.map_err(|e| io("read", &dir.join("state"), e))?;
        tokio::io::copy(&mut file, &mut conn).await.map_err(|e| io("send", &dir.join("state"), e))?;
        drop(conn);
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let s = q.status().await?;
            if s != "inmigrate" {
                break;
            }
            if Instant::now() > until {
                return Err(DriverError::new("QEMU did not load the saved state within 60 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        q.execute("cont", None).await?;
        let _ = std::fs::remove_file(&sock);
        let _ = std::fs::remove_file(dir.join("state"));
        Ok(())
    }

    /// Runs `f` holding the instance's lock.
    async fn with<T>(&self, uuid: &str, f: impl std::future::Future<Output = DriverResult<T>>) -> DriverResult<T> {
        let lock = self.lock(uuid);
        let _held = lock.lock().await;
        f.await
    }
}

/// The pid of the instance's live QEMU, from its pid file, when that
/// process still runs and is this instance's QEMU.
fn pid_of(dir: &Path, uuid: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir.join("qemu.pid")).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(')').map(|(_, r)| r.trim_start().chars().next().unwrap_or('?'))?;
    let mine = String::from_utf8_lossy(&cmdline).contains(uuid);
    (mine && state != 'Z' && state != 'X').then_some(pid)
}

/// The start time of a process (field 22 of `/proc/<pid>/stat`), which
/// tells it apart from a later process given the same pid.
fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that had `pid` and started at `started_at` has
/// ended: gone from /proc, a zombie, or its pid taken by another process.
fn exited(pid: i32, started_at: Option<u64>) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return true };
    let Some((_, rest)) = stat.rsplit_once(')') else { return true };
    let mut fields = rest.split_whitespace();
    if matches!(fields.next(), Some("Z" | "X")) {
        return true;
    }
    fields.nth(18).and_then(|t| t.parse::<u64>().ok()) != started_at
}

/// How much of the console log `console_output` answers (Nova's libvirt
/// driver: 100 KiB).
const CONSOLE_BYTES: u64 = 100 * 1024;

fn console_tail(path: &Path) -> DriverResult<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else { return Ok(String::new()) };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(CONSOLE_BYTES);
    f.seek(SeekFrom::Start(start)).map_err(|e| io("read", path, e))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(|e| io("read", path, e))?;
    let mut text = String::from_utf8_lossy(&buf).to_string();
    if start > 0 {
        if let Some(i) = text.find('\n') {
            text.drain(..=i);
        }
    }
    Ok(text.replace('\r', ""))
}

fn host_memory_mb() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<i64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

fn disk_gb(path: &Path) -> i64 {
    let Ok(c) = std::ffi::CString::new(path.to_string_lossy().as_bytes()) else { return 0 };
    // SAFETY: statvfs fills the zeroed struct for a NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return 0;
    }
    (s.f_blocks as u64 * s.f_frsize as u64 / (1 << 30)) as i64
}

impl Driver for QemuDriver {
    fn nodes(&self) -> Vec<NodeResources> {
        let vcpus = std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1);
        let cpu_info = json!({
            "arch": std::env::consts::ARCH,
            "model": if self.accel == Accel::Kvm { "host" } else { "max" },
            "vendor": "QEMU",
            "topology": {"cells": 1, "sockets": 1, "cores": vcpus, "threads": 1},
            "features": [],
            "accelerator": self.accel.name(),
        });
        vec![NodeResources {
            name: self.cfg.node_name.clone(),
            vcpus,
            memory_mb: host_memory_mb(),
            local_gb: disk_gb(&self.cfg.data_dir),
            hypervisor_type: if self.accel == Accel::Kvm { "KVM" } else { "QEMU" }.into(),
            hypervisor_version: self.qemu_version,
            cpu_info: cpu_info.to_string(),
            pgpus: Vec::new(),
        }]
    }

    fn spawn<'a>(&'a self, spec: &'a InstanceSpec) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(self.with(&spec.uuid, self.do_spawn(spec)))
    }

    fn destroy<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(self.with(uuid, async move {
            self.kill(uuid).await?;
            let dir = self.dir(uuid);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| io("remove", &dir, e))?;
            }
            self.seen.lock().expect("driver lock").remove(uuid);
            Ok(())
        }))
    }

    fn power_on<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(self.with(uuid, async move {
            let d = self.domain(uuid)?;
            let dir = self.dir(uuid);
            if pid_of(&dir, uuid).is_some() {
                let mut q = self.qmp(uuid).await?;
                match q.status().await?.as_str() {
                    "shutdown" => {
                        drop(q);
                        self.kill(uuid).await?;
                        self.start(&d, false).await?;
                    }
                    "running" => {}
                    _ => {
                        q.execute("cont", None).await?;
                    }
                }
            } else if dir.join("state").exists() {
                self.restore(&d).await?;
            } else {
                self.start(&d, false).await?;
            }
            self.info(uuid).await
        }))
    }

    fn power_off<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(self.with(uuid, async move {
            self.domain(uuid)?;
            self.clean_shutdown(uuid).await?;
            self.info(uuid).await
        }))
    }

    fn reboot<'a>(&'a self, uuid: &'a str, hard: bool) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(self.with(uuid, async move {
            let d = self.domain(uuid)?;
            if hard {
                self.kill(uuid).await?;
                let _ = std::fs::remove_file(self.dir(uuid).join("state"));
            } else {
                self.clean_shutdown(uuid).await?;
            }
            self.start(&d, false).await?;
            self.info(uuid).await
        }))
    }

    fn pause<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(self.with(uuid, async move {
            self.qmp(uuid).await?.execute("stop", None).await?;
            self.info(uuid).await
        }))
    }

    fn unpause<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(self.with(uuid, async move {
            self.qmp(uuid).await?.execute("cont", None).await?;
            self.info(uuid).await
        }))
    }

    fn suspend<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(self.with(uuid, async move {
            self.domain(uuid)?;
            if pid_of(&self.dir(uuid), uuid).is_some() {
                self.save(uuid).await?;
            } else if !self.dir(uuid).join("state").exists() {
                return Err(DriverError::new(format!(
                    "instance {uuid} is not running; only a running guest can be suspended"
                )));
            }
            self.info(uuid).await
        }))
    }

    fn resume<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(self.with(uuid, async move {
            let d = self.domain(uuid)?;
            let dir = self.dir(uuid);
            if pid_of(&dir, uuid).is_none() {
                if dir.join("state").exists() {
                    self.restore(&d).await?;
                } else {
                    self.start(&d, false).await?;
                }
            }
            self.info(uuid).await
        }))
    }

    fn rescue<'a>(&'a self, uuid: &'a str, image_ref: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(self.with(uuid, async move {
            let mut d = self.domain(uuid)?;
            let in_use = self.bases_in_use();
            let base = self.images.get(image_ref, &in_use).await?;
            let mut bases = vec![image_ref.to_string()];
            let boot = self.boot_of(&base.meta, &in_use, &mut bases).await?;
            self.kill(uuid).await?;
            let rescue = self.dir(uuid).join("disk.rescue");
            let _ = std::fs::remove_file(&rescue);
            self.overlay(&base, &rescue, None).await?;
            d.rescue_bases = bases;
            d.rescue = Some(boot);
            self.save_domain(&d)?;
            self.start(&d, false).await?;
            self.info(uuid).await
        }))
    }

    fn unrescue<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(self.with(uuid, async move {
            let mut d = self.domain(uuid)?;
            if d.rescue.is_some() {
                self.kill(uuid).await?;
                let _ = std::fs::remove_file(self.dir(uuid).join("disk.rescue"));
                d.rescue = None;
                d.rescue_bases.clear();
                self.save_domain(&d)?;
                self.start(&d, false).await?;
            }
            self.info(uuid).await
        }))
    }

    fn resize<'a>(&'a self, spec: &'a InstanceSpec) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(self.with(&spec.uuid, async move {
            let mut d = self.domain(&spec.uuid)?;
            let dir = self.dir(&spec.uuid);
            let was_running = pid_of(&dir, &spec.uuid).is_some();
            self.clean_shutdown(&spec.uuid).await?;
            self.grow(&dir.join("disk"), spec.root_gb.max(0) as u64 * (1 << 30)).await?;
            d.spec.vcpus = spec.vcpus;
            d.spec.memory_mb = spec.memory_mb;
            d.spec.root_gb = spec.root_gb;
            self.save_domain(&d)?;
            if was_running {
                self.start(&d, false).await?;
            }
            self.info(&spec.uuid).await
        }))
    }

    fn scratch_dir(&self) -> PathBuf {
        self.cfg.data_dir.join("snapshots")
    }

    fn snapshot<'a>(&'a self, uuid: &'a str, dest: &'a Path) -> BoxFuture<'a, DriverResult<SnapshotInfo>> {
        Box::pin(self.with(uuid, async move {
            self.domain(uuid)?;
            let disk = self.dir(uuid).join("disk");
            let mut paused_here = None;
            if pid_of(&self.dir(uuid), uuid).is_some() {
                let mut q = self.qmp(uuid).await?;
                if q.status().await? == "running" {
                    // `stop` drains and flushes every disk, so the copy is consistent.
                    q.execute("stop", None).await?;
                    paused_here = Some(q);
                }
            }
            let started = Instant::now();
            let r = self
                .qemu_img(&["convert", "-U", "-f", "qcow2", "-O", "qcow2", &disk.to_string_lossy(), &dest.to_string_lossy()])
                .await;
            if let Some(mut q) = paused_here {
                q.execute("cont", None).await?;
            }
            r?;
            tracing::info!(instance = %uuid, elapsed_ms = started.elapsed().as_millis() as u64, "root disk copied for a snapshot");
            Ok(SnapshotInfo { disk_format: "qcow2".into(), container_format: "bare".into() })
        }))
    }

    fn set_admin_password<'a>(&'a self, uuid: &'a str, _password: &'a str) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(async move {
            Err(DriverError::new(format!(
                "setting the password of instance {uuid} needs a guest agent, which the QEMU driver does not run"
            )))
        })
    }

    fn prepare_live_migration<'a>(&'a self, spec: &'a InstanceSpec) -> BoxFuture<'a, DriverResult<String>> {
        Box::pin(self.with(&spec.uuid, async move {
            if pid_of(&self.dir(&spec.uuid), &spec.uuid).is_some() {
                self.kill(&spec.uuid).await?;
            }
            let _ = std::fs::remove_dir_all(self.dir(&spec.uuid));
            let result = async {
                let d = self.prepare(spec).await?;
                self.start(&d, true).await?;
                let port = {
                    let l = std::net::TcpListener::bind((self.cfg.migration_address.as_str(), 0))
                        .map_err(|e| DriverError::new(format!("cannot find a free migration port: {e}")))?;
                    l.local_addr().map_err(|e| DriverError::new(e.to_string()))?.port()
                };
                let uri = format!("tcp:{}:{port}", self.cfg.migration_address);
                self.qmp(&spec.uuid).await?.execute("migrate-incoming", Some(json!({"uri": uri}))).await?;
                Ok(uri)
            }
            .await;
            if result.is_err() {
                let _ = self.kill(&spec.uuid).await;
                let _ = std::fs::remove_dir_all(self.dir(&spec.uuid));
            }
            result
        }))
    }

    fn live_migrate<'a>(&'a self, uuid: &'a str, uri: &'a str) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(self.with(uuid, async move {
            if pid_of(&self.dir(uuid), uuid).is_none() {
                return Err(DriverError::new(format!("instance {uuid} is not running here")));
            }
            let mut q = self.qmp(uuid).await?;
            q.execute("migrate-set-parameters", Some(json!({"max-bandwidth": 10u64 << 30, "downtime-limit": 300})))
                .await?;
            // The disks go with the memory: the destination has its own
            // overlay on the same base image, so only the overlay is copied.
            q.execute("migrate", Some(json!({"uri": uri, "blk": true, "inc": true}))).await?;
            let started = Instant::now();
            loop {
                let m = q.execute("query-migrate", None).await?;
                match m["status"].as_str().unwrap_or("") {
                    "completed" => break,
                    "failed" | "cancelled" => {
                        let _ = q.execute("cont", None).await;
                        return Err(DriverError::new(format!(
                            "the live migration failed: {}",
                            m["error-desc"].as_str().unwrap_or("no reason given")
                        )));
                    }
                    _ if started.elapsed() > Duration::from_secs(600) => {
                        let _ = q.execute("migrate_cancel", None).await;
                        return Err(DriverError::new("the live migration did not complete within 10 minutes"));
                    }
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            tracing::info!(instance = %uuid, elapsed_ms = started.elapsed().as_millis() as u64, "live migration sent");
            drop(q);
            self.kill(uuid).await
        }))
    }

    fn finish_live_migration<'a>(&'a self, uuid: &'a str, paused: bool) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(self.with(uuid, async move {
            let mut q = self.qmp(uuid).await?;
            let until = Instant::now() + Duration::from_secs(60);
            while q.status().await? == "inmigrate" {
                if Instant::now() > until {
                    return Err(DriverError::new("the migrated guest did not arrive within 60 s"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if !paused {
                q.execute("cont", None).await?;
            }
            drop(q);
            self.info(uuid).await
        }))
    }

    fn rollback_live_migration<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(self.with(uuid, async move {
            self.kill(uuid).await?;
            let _ = std::fs::remove_dir_all(self.dir(uuid));
            Ok(())
        }))
    }

    fn prepare_disk_transfer<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<String>> {
        Box::pin(self.with(uuid, async move {
            if self.domain(uuid).is_ok() {
                return Err(DriverError::new(format!("instance {uuid} is already on this host")));
            }
            let dir = self.dir(uuid);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
            transfer::listen(&self.cfg.migration_address, dir, Duration::from_secs(600)).await
        }))
    }

    fn send_disks<'a>(&'a self, uuid: &'a str, uri: &'a str) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(self.with(uuid, async move {
            self.domain(uuid)?;
            let dir = self.dir(uuid);
            if pid_of(&dir, uuid).is_some() {
                return Err(DriverError::new(format!("instance {uuid} is running; power it off before its disks move")));
            }
            let files: Vec<(String, PathBuf)> = transfer::FILES
                .iter()
                .map(|n| (n.to_string(), dir.join(n)))
                .filter(|(_, p)| p.is_file())
                .collect();
            let started = Instant::now();
            let bytes = transfer::send(uri, &files).await?;
            tracing::info!(instance = %uuid, bytes, elapsed_ms = started.elapsed().as_millis() as u64, "disks sent to the destination host");
            Ok(())
        }))
    }

    fn trigger_crash_dump<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(self.with(uuid, async move {
            self.qmp(uuid).await?.execute("inject-nmi", None).await?;
            Ok(())
        }))
    }

    fn console_output<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<String>> {
        Box::pin(async move {
            self.domain(uuid)?;
            console_tail(&self.dir(uuid).join("console.log"))
        })
    }

    fn get_info<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<Option<InstanceInfo>>> {
        Box::pin(async move {
            if self.domain(uuid).is_err() {
                return Ok(None);
            }
            let lock = self.lock(uuid);
            let Ok(_held) = lock.try_lock() else {
                // An operation holds the instance: its last known state.
                let seen = self.seen.lock().expect("driver lock").get(uuid).copied();
                return Ok(Some(InstanceInfo {
                    uuid: uuid.to_string(),
                    node: self.cfg.node_name.clone(),
                    power_state: seen.unwrap_or(PowerState::NoState),
                }));
            };
            self.info(uuid).await.map(Some)
        })
    }

    fn list_instances(&self) -> BoxFuture<'_, DriverResult<Vec<InstanceInfo>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for uuid in self.uuids() {
                if let Some(i) = self.get_info(&uuid).await? {
                    out.push(i);
                }
            }
            Ok(out)
        })
    }
}
