//! Hypervisor drivers behind one interface, [`Driver`]: what a host agent
//! asks of the machine it runs on (spawn, destroy, power operations,
//! snapshots, consoles, what is running). The `fake` driver keeps its
//! instances in memory and answers at once, like Nova's fake driver, for
//! control-plane tests and scale tests; the `qemu` driver runs each
//! instance as a QEMU process driven over QMP.
//!
//! It knows nothing of the database or the API; the agent calls it, and
//! hands the QEMU driver an [`ImageSource`] to fetch images with.

pub mod fake;
pub mod qemu;
pub mod test_image;

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// Nova's power states (`nova/compute/power_state.py`), as numbers on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum PowerState {
    NoState = 0,
    Running = 1,
    Paused = 3,
    Shutdown = 4,
    Crashed = 6,
    Suspended = 7,
}

impl From<PowerState> for u8 {
    fn from(p: PowerState) -> u8 {
        p as u8
    }
}

impl TryFrom<u8> for PowerState {
    type Error = String;
    fn try_from(v: u8) -> Result<PowerState, String> {
        Ok(match v {
            0 => PowerState::NoState,
            1 => PowerState::Running,
            3 => PowerState::Paused,
            4 => PowerState::Shutdown,
            6 => PowerState::Crashed,
            7 => PowerState::Suspended,
            other => return Err(format!("unknown power state {other}")),
        })
    }
}

/// What a node (a hypervisor) offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeResources {
    /// The node's name (`hypervisor_hostname`).
    pub name: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub hypervisor_type: String,
    pub hypervisor_version: i64,
    pub cpu_info: String,
    /// Physical GPUs that offer virtual GPUs (a child resource provider
    /// with VGPU inventory each, as Nova reports them).
    #[serde(default)]
    pub pgpus: Vec<Pgpu>,
}

/// A physical GPU and how many virtual GPUs it can hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pgpu {
    /// Its PCI address in Nova's provider-name form, e.g. `pci_0000_84_00_0`.
    pub name: String,
    pub vgpus: i64,
}

/// An instance as the controller asks for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceSpec {
    pub uuid: String,
    pub name: String,
    pub node: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub root_gb: i64,
    pub image_ref: String,
    #[serde(default)]
    pub user_data: Option<String>,
    #[serde(default)]
    pub key_data: Option<String>,
    #[serde(default)]
    pub ephemeral_gb: i64,
    #[serde(default)]
    pub swap_mb: i64,
    /// The config drive's contents, when the instance has one.
    #[serde(default)]
    pub config_drive: Option<ConfigDrive>,
    /// Create the instance without starting it (a stopped server rebuilt
    /// or moved to another host stays off, as Nova's `power_on=False`).
    #[serde(default)]
    pub stopped: bool,
}

/// What a config drive holds besides the user data (which is the spec's):
/// Nova's `openstack/latest/meta_data.json` as a JSON object, the EC2
/// `meta-data.json` and `network_data.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigDrive {
    pub meta_data: serde_json::Value,
    pub ec2_meta_data: serde_json::Value,
    pub network_data: serde_json::Value,
}

/// An image as the Image service describes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageMeta {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub disk_format: Option<String>,
    #[serde(default)]
    pub container_format: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    /// md5 of the data.
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub os_hash_algo: Option<String>,
    #[serde(default)]
    pub os_hash_value: Option<String>,
    /// Every other property (`kernel_id`, `ramdisk_id`, `os_command_line`...).
    #[serde(flatten)]
    pub properties: BTreeMap<String, serde_json::Value>,
}

impl ImageMeta {
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).and_then(|v| v.as_str()).filter(|s| !s.is_empty())
    }
}

/// Where a driver gets images from (the agent: the Image service).
pub trait ImageSource: Send + Sync {
    fn meta<'a>(&'a self, id: &'a str) -> BoxFuture<'a, DriverResult<ImageMeta>>;
    /// Writes the image's data to `dest`.
    fn download<'a>(&'a self, id: &'a str, dest: &'a std::path::Path) -> BoxFuture<'a, DriverResult<()>>;
}

/// An instance as the driver sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceInfo {
    pub uuid: String,
    pub node: String,
    pub power_state: PowerState,
}

/// A snapshot a driver wrote: its file and the formats to upload it as.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub disk_format: String,
    pub container_format: String,
}

/// A driver failure: the message says what went wrong and what to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriverError {
    pub message: String,
    /// The instance cannot be built from what it asks for (its image, or a
    /// flavor too small for it): another host would fail the same way, so
    /// the build ends without a reschedule (Nova's BuildAbortException).
    pub abort_build: bool,
}

impl DriverError {
    pub fn new(message: impl Into<String>) -> DriverError {
        DriverError { message: message.into(), abort_build: false }
    }

    pub fn abort_build(message: impl Into<String>) -> DriverError {
        DriverError { message: message.into(), abort_build: true }
    }
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type DriverResult<T> = Result<T, DriverError>;

/// A hypervisor driver. Every operation is idempotent: spawning an instance
/// that runs, or destroying one that is gone, succeeds.
pub trait Driver: Send + Sync {
    /// The nodes this driver manages.
    fn nodes(&self) -> Vec<NodeResources>;
    fn spawn<'a>(&'a self, spec: &'a InstanceSpec) -> BoxFuture<'a, DriverResult<InstanceInfo>>;
    fn destroy<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<()>>;
    fn power_on<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>>;
    fn power_off<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>>;
    fn reboot<'a>(&'a self, uuid: &'a str, hard: bool) -> BoxFuture<'a, DriverResult<InstanceInfo>>;
    fn pause<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>>;
    fn unpause<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>>;
    fn suspend<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>>;
    fn resume<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>>;
    /// Boots the instance from a rescue image, its own disk attached second.
    fn rescue<'a>(&'a self, uuid: &'a str, image_ref: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>>;
    fn unrescue<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>>;
    /// Gives a running or stopped instance on this host the sizes of `spec`
    /// (a resize that stays on its host; a resize or migration to another
    /// host sends the disks there, spawns there and destroys here).
    fn resize<'a>(&'a self, spec: &'a InstanceSpec) -> BoxFuture<'a, DriverResult<InstanceInfo>>;
    /// Where the agent writes files on the driver's behalf (a snapshot before
    /// its upload): on the disk that holds the instances, not in /tmp.
    fn scratch_dir(&self) -> std::path::PathBuf;
    /// Writes a consistent copy of the instance's root disk to `dest`.
    fn snapshot<'a>(&'a self, uuid: &'a str, dest: &'a std::path::Path) -> BoxFuture<'a, DriverResult<SnapshotInfo>>;
    /// Sets the guest's administrator password (through its guest agent).
    fn set_admin_password<'a>(&'a self, uuid: &'a str, password: &'a str) -> BoxFuture<'a, DriverResult<()>>;
    /// Live migration, on the destination: gets ready to receive `spec`'s
    /// instance; answers the address the source sends it to.
    fn prepare_live_migration<'a>(&'a self, spec: &'a InstanceSpec) -> BoxFuture<'a, DriverResult<String>>;
    /// Live migration, on the source: sends the running instance to `uri`;
    /// when it returns, the destination holds the guest and the copy here
    /// is stopped (the caller destroys it).
    fn live_migrate<'a>(&'a self, uuid: &'a str, uri: &'a str) -> BoxFuture<'a, DriverResult<()>>;
    /// Live migration, on the destination: the received guest runs (or stays
    /// paused, when it was paused).
    fn finish_live_migration<'a>(&'a self, uuid: &'a str, paused: bool) -> BoxFuture<'a, DriverResult<InstanceInfo>>;
    /// Live migration, on the destination after a failure: forgets what
    /// `prepare_live_migration` set up.
    fn rollback_live_migration<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<()>>;
    /// Cold migration or resize to another host, on the destination: gets
    /// ready to receive the disks of instance `uuid`; answers the URI the
    /// source sends them to (empty when the driver keeps no disks).
    fn prepare_disk_transfer<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<String>>;
    /// Cold migration or resize to another host, on the source: sends the
    /// powered-off instance's disks to `uri`; the copy here stays until the
    /// move is confirmed (a revert starts it again).
    fn send_disks<'a>(&'a self, uuid: &'a str, uri: &'a str) -> BoxFuture<'a, DriverResult<()>>;
    /// Sends the guest an NMI so its kernel writes a crash dump.
    fn trigger_crash_dump<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<()>>;
    /// The tail of the instance's serial console log.
    fn console_output<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<String>>;
    fn get_info<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<Option<InstanceInfo>>>;
    /// Every instance the driver holds.
    fn list_instances(&self) -> BoxFuture<'_, DriverResult<Vec<InstanceInfo>>>;
}
