//! A real QEMU driver over a temporary data dir, the test guest built once
//! per machine (under a lock: nextest runs tests as separate processes),
//! and an image source serving files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use md5::Digest;
use virt::qemu::{QemuConfig, QemuDriver};
use virt::{ConfigDrive, Driver, DriverError, DriverResult, ImageMeta, ImageSource, InstanceSpec};

/// The directory holding the test guest, built on first use.
pub fn test_image() -> PathBuf {
    let cache = std::env::var_os("FERROSTACK_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/ferrostack")
    });
    let dir = cache.join("test-image");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join(".lock")).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: flock on an open file; released when `lock` is closed.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    if !virt::test_image::is_built(&dir) {
        virt::test_image::build(&dir, &mut |l| eprintln!("build-test-image: {l}")).expect("test image");
    }
    dir
}

/// Images served from files, with md5 checksums as the Image service gives.
#[derive(Default)]
pub struct Files {
    images: Mutex<HashMap<String, (PathBuf, ImageMeta)>>,
    pub downloads: Mutex<Vec<String>>,
}

impl Files {
    pub fn add(&self, id: &str, path: &Path, disk_format: &str, props: &[(&str, &str)]) {
        let data = std::fs::read(path).unwrap();
        let checksum = md5::Md5::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
        let meta = ImageMeta {
            id: id.into(),
            status: "active".into(),
            disk_format: Some(disk_format.into()),
            container_format: Some("bare".into()),
            size: Some(data.len() as u64),
            checksum: Some(checksum),
            properties: props.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect(),
            ..Default::default()
        };
        self.images.lock().unwrap().insert(id.into(), (path.to_path_buf(), meta));
    }
}

impl ImageSource for Files {
    fn meta<'a>(&'a self, id: &'a str) -> BoxFuture<'a, DriverResult<ImageMeta>> {
        Box::pin(async move {
            let m = self.images.lock().unwrap().get(id).map(|(_, m)| m.clone());
            m.ok_or_else(|| DriverError::new(format!("image {id} not found")))
        })
    }

    fn download<'a>(&'a self, id: &'a str, dest: &'a Path) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(async move {
            let path = self.images.lock().unwrap().get(id).map(|(p, _)| p.clone()).unwrap();
            self.downloads.lock().unwrap().push(id.to_string());
            std::fs::copy(path, dest).map(|_| ()).map_err(|e| DriverError::new(e.to_string()))
        })
    }
}

pub struct Host {
    pub dir: tempfile::TempDir,
    pub files: Arc<Files>,
    pub driver: QemuDriver,
    pub node: String,
}

/// Image ids every host has: `disk` (the bootable qcow2), `kernel`,
/// `ramdisk`, and `ami` (an empty disk that boots the kernel and ramdisk).
pub async fn host(node: &str) -> Host {
    let image = test_image();
    let dir = tempfile::Builder::new().prefix("fsv").tempdir_in("/tmp").unwrap();
    let files = Arc::new(Files::default());
    files.add("disk", &image.join(virt::test_image::DISK), "qcow2", &[]);
    files.add("kernel", &image.join(virt::test_image::KERNEL), "aki", &[]);
    files.add("ramdisk", &image.join(virt::test_image::INITRD), "ari", &[]);
    let ami = dir.path().join("ami.raw");
    std::fs::write(&ami, vec![0u8; 1 << 20]).unwrap();
    files.add(
        "ami",
        &ami,
        "ami",
        &[("kernel_id", "kernel"), ("ramdisk_id", "ramdisk"), ("os_command_line", virt::test_image::CMDLINE)],
    );
    let driver = driver(dir.path(), node, files.clone()).await;
    Host { dir, files, driver, node: node.into() }
}

pub async fn driver(data_dir: &Path, node: &str, files: Arc<Files>) -> QemuDriver {
    let mut cfg = QemuConfig::new(data_dir.to_path_buf(), node);
    cfg.accel = "tcg".into();
    cfg.shutdown_timeout = Duration::from_secs(30);
    QemuDriver::new(cfg, files).await.expect("QEMU driver")
}

impl Host {
    pub fn spec(&self, image: &str) -> InstanceSpec {
        let uuid = uuid::Uuid::new_v4().to_string();
        InstanceSpec {
            uuid: uuid.clone(),
            name: "vm".into(),
            node: self.node.clone(),
            vcpus: 1,
            memory_mb: 192,
            root_gb: 1,
            image_ref: image.into(),
            user_data: None,
            key_data: None,
            ephemeral_gb: 0,
            swap_mb: 0,
            config_drive: None,
            stopped: false,
        }
    }

    pub fn instance_dir(&self, uuid: &str) -> PathBuf {
        self.dir.path().join("instances").join(uuid)
    }

    /// Waits for the `n`th line of the console holding `needle`; answers it.
    pub async fn wait_console(&self, uuid: &str, needle: &str, n: usize) -> String {
        let until = Instant::now() + Duration::from_secs(180);
        loop {
            let out = self.driver.console_output(uuid).await.unwrap();
            if let Some(l) = out.lines().filter(|l| l.contains(needle)).nth(n - 1) {
                return l.to_string();
            }
            assert!(Instant::now() < until, "no {needle:?} #{n} on the console within 180 s:\n{out}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn count(&self, uuid: &str, needle: &str) -> usize {
        self.driver.console_output(uuid).await.unwrap().lines().filter(|l| l.contains(needle)).count()
    }

    /// The last tick number on the console.
    pub async fn last_tick(&self, uuid: &str) -> u64 {
        let out = self.driver.console_output(uuid).await.unwrap();
        out.lines()
            .filter_map(|l| l.split("FERROSTACK-GUEST-TICK n=").nth(1))
            .filter_map(|n| n.trim().parse().ok())
            .next_back()
            .unwrap_or(0)
    }

    pub async fn qemu_pid(&self, uuid: &str) -> Option<i32> {
        std::fs::read_to_string(self.instance_dir(uuid).join("qemu.pid")).ok()?.trim().parse().ok()
    }
}

pub fn config_drive(uuid: &str, hostname: &str) -> ConfigDrive {
    ConfigDrive {
        meta_data: serde_json::json!({"uuid": uuid, "hostname": hostname, "name": "vm", "launch_index": 0,
            "availability_zone": "nova", "project_id": "p", "devices": []}),
        ec2_meta_data: serde_json::json!({"instance-id": "i-00000001", "hostname": hostname}),
        network_data: serde_json::json!({}),
    }
}

pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !matches!(s.rsplit_once(')').map(|(_, r)| r.trim_start().as_bytes()[0]), Some(b'Z') | Some(b'X')))
        .unwrap_or(false)
}

impl Drop for Host {
    fn drop(&mut self) {
        // Leave no QEMU behind, whatever the test did.
        if let Ok(entries) = std::fs::read_dir(self.dir.path().join("instances")) {
            for e in entries.flatten() {
                if let Some(pid) =
                    std::fs::read_to_string(e.path().join("qemu.pid")).ok().and_then(|p| p.trim().parse::<i32>().ok())
                {
                    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    if String::from_utf8_lossy(&cmdline).contains(&*e.file_name().to_string_lossy()) {
                        // SAFETY: a QEMU this test started (its cmdline names the instance).
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
        }
    }
}
