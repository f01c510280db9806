//! The messages between controllers and agents, versioned. Paths are under
//! `/compute-agent/v1/agents/{agent}`:
//!
//! - `POST report` ([`Report`]): the hosts, nodes and instances the agent
//!   holds; answered with [`ReportReply`]. Sent on start and on reconnect.
//! - `GET commands?after=SEQ&wait=SECONDS`: the agent's pending commands
//!   after SEQ ([`Commands`]), waiting up to SECONDS for one; every call is
//!   also the agent's heartbeat.
//! - `POST commands/{seq}` ([`CommandResult`]): how a command went.
//! - `PUT images/{image}`: the data of a snapshot a `snapshot` command
//!   asked for (raw bytes; the controller stores it in the Image service).

use serde::{Deserialize, Serialize};
use virt::{InstanceInfo, InstanceSpec, NodeResources};

pub const VERSION: u32 = 1;

/// One host (one `nova-compute` service) an agent serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    pub host: String,
    pub nodes: Vec<NodeResources>,
    pub instances: Vec<InstanceInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    pub hosts: Vec<HostReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportReply {
    /// Commands after this sequence number are the agent's to run.
    pub after: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Spawn {
        spec: InstanceSpec,
    },
    Destroy {
        uuid: String,
    },
    PowerOn {
        uuid: String,
    },
    PowerOff {
        uuid: String,
    },
    Reboot {
        uuid: String,
        hard: bool,
    },
    Pause {
        uuid: String,
    },
    Unpause {
        uuid: String,
    },
    Suspend {
        uuid: String,
    },
    Resume {
        uuid: String,
    },
    ConsoleOutput {
        uuid: String,
    },
    Rescue {
        uuid: String,
        image_ref: String,
    },
    Unrescue {
        uuid: String,
    },
    Resize {
        spec: InstanceSpec,
    },
    TriggerCrashDump {
        uuid: String,
    },
    /// Snapshot the root disk and upload it to the queued image `image_id`.
    Snapshot {
        uuid: String,
        image_id: String,
    },
    SetAdminPassword {
        uuid: String,
        password: String,
    },
    /// Live migration on the destination; the result's `output` is the URI.
    PrepareLiveMigration {
        spec: InstanceSpec,
    },
    /// Live migration on the source, to the destination's URI.
    LiveMigrate {
        uuid: String,
        uri: String,
    },
    FinishLiveMigration {
        uuid: String,
        paused: bool,
    },
    RollbackLiveMigration {
        uuid: String,
    },
    /// Cold migration or resize to another host, on the destination: get
    /// ready to receive the instance's disks; the result's `output` is the
    /// URI the source sends them to.
    PrepareDiskTransfer {
        uuid: String,
    },
    /// Cold migration or resize to another host, on the (powered-off)
    /// source: send the disks to the destination's URI.
    SendDisks {
        uuid: String,
        uri: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub seq: i64,
    pub host: String,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Commands {
    pub commands: Vec<Command>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    /// `None` when the command succeeded.
    pub error: Option<String>,
    /// The instance after the command, when it still exists.
    pub instance: Option<InstanceInfo>,
    /// Console output, for `console_output`.
    pub output: Option<String>,
    /// The error means the instance cannot be built from what it asks for
    /// anywhere ([`virt::DriverError::abort_build`]): no reschedule.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub abort_build: bool,
}

impl CommandResult {
    pub fn failed(e: virt::DriverError) -> CommandResult {
        CommandResult { error: Some(e.message), abort_build: e.abort_build, ..Default::default() }
    }
}
