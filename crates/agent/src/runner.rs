//! The agent's loop: authenticate, report, long-poll commands, run them,
//! report results; on any failure of the controller, wait and reconnect
//! (with a full report again).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;
use virt::Driver;

use crate::protocol::{Action, Command, CommandResult, Commands, HostReport, Report, ReportReply, VERSION};

/// How an agent reaches and authenticates to its controllers.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Base URL of a controller, e.g. `http://127.0.0.1:5000`.
    pub controller: String,
    /// Stable name of this agent (usually the machine's host name).
    pub agent_id: String,
    pub username: String,
    pub password: String,
    pub project: String,
    /// Seconds a long poll waits for a command.
    pub poll_wait: u64,
    /// Seconds between full-state reports (besides the one on connect).
    pub report_interval: u64,
}

pub struct Agent {
    config: AgentConfig,
    hosts: Vec<(String, Arc<dyn Driver>)>,
    client: reqwest::Client,
    token: crate::TokenCell,
}

impl Agent {
    /// An agent for `hosts`: each a host name (a `nova-compute` service)
    /// and the driver of its nodes.
    pub fn new(config: AgentConfig, hosts: Vec<(String, Arc<dyn Driver>)>) -> Agent {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.poll_wait + 30))
            .build()
            .expect("HTTP client");
        Agent { config, hosts, client, token: crate::TokenCell::default() }
    }

    /// Shares the agent's token with `cell` (its drivers' image source).
    pub fn with_token_cell(mut self, cell: crate::TokenCell) -> Agent {
        self.token = cell;
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}/compute-agent/v1/agents/{}{path}", self.config.controller, self.config.agent_id)
    }

    async fn token(&self) -> anyhow::Result<String> {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.config.username, "domain": {"id": "default"}, "password": self.config.password}}},
            "scope": {"project": {"name": self.config.project, "domain": {"id": "default"}}},
        }});
        let r = self
            .client
            .post(format!("{}/identity/v3/auth/tokens", self.config.controller))
            .json(&body)
            .send()
            .await
            .context("cannot reach the controller's identity service")?;
        if !r.status().is_success() {
            bail!(
                "the controller refused the agent's credentials ({}); check the agent's username, password and project",
                r.status()
            );
        }
        let token = r.headers().get("x-subject-token").and_then(|v| v.to_str().ok()).context("no token")?;
        Ok(token.to_string())
    }

    async fn report(&self, token: &str) -> anyhow::Result<i64> {
        let mut hosts = Vec::new();
        for (host, driver) in &self.hosts {
            let instances = driver.list_instances().await.map_err(|e| anyhow::anyhow!(e.message))?;
            hosts.push(HostReport { host: host.clone(), nodes: driver.nodes(), instances });
        }
        let r = self
            .client
            .post(self.url("/report"))
            .timeout(Duration::from_secs(600))
            .header("X-Auth-Token", token)
            .json(&Report { version: VERSION, hosts })
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("the controller refused the agent's report: {} {}", r.status(), r.text().await.unwrap_or_default());
        }
        Ok(r.json::<ReportReply>().await?.after)
    }

    /// Runs until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let me = Arc::new(self);
        tokio::pin!(shutdown);
        tokio::select! {
            _ = &mut shutdown => {}
            _ = me.clone().serve() => {}
        }
    }

    async fn serve(self: Arc<Self>) {
        let drivers: HashMap<String, Arc<dyn Driver>> = self.hosts.iter().cloned().collect();
        let drivers = Arc::new(drivers);
        let mut pause = Duration::from_millis(100);
        loop {
            let started = tokio::time::Instant::now();
            if let Err(e) = self.session(&drivers).await {
                // A session that ran a while starts the backoff over.
                if started.elapsed() > Duration::from_secs(30) {
                    pause = Duration::from_millis(100);
                }
                tracing::warn!(agent = %self.config.agent_id, error = %e, retry_in_ms = pause.as_millis() as u64, "agent cannot reach its controller; check that the controller runs and the agent's credentials");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }

    /// One connection: report, then poll and run commands until an error.
    async fn session(self: &Arc<Self>, drivers: &Arc<HashMap<String, Arc<dyn Driver>>>) -> anyhow::Result<()> {
        let token = self.token().await?;
        self.token.set(&token);
        let mut after = self.report(&token).await?;
        tracing::info!(agent = %self.config.agent_id, hosts = self.hosts.len(), "agent reported to its controller");
        let mut reported = tokio::time::Instant::now();
        loop {
            if reported.elapsed().as_secs() >= self.config.report_interval.max(1) {
                self.report(&token).await?;
                reported = tokio::time::Instant::now();
            }
            let r = self
                .client
                .get(self.url("/commands"))
                .query(&[
                    ("after", after.to_string()),
                    ("wait", self.config.poll_wait.min(self.config.report_interval.max(1)).to_string()),
                ])
                .header("X-Auth-Token", &token)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("polling commands answered {}", r.status());
            }
            let Commands { commands } = r.json().await?;
            for c in commands {
                after = after.max(c.seq);
                let me = self.clone();
                let drivers = drivers.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    let result = me.execute(&drivers, &c, &token).await;
                    // A result the controller never got leaves its step waiting;
                    // keep trying for about two minutes.
                    for attempt in 0..30u64 {
                        let sent = me
                            .client
                            .post(me.url(&format!("/commands/{}", c.seq)))
                            .header("X-Auth-Token", &token)
                            .json(&result)
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status().is_success() => return,
                            Ok(r) => {
                                tracing::warn!(seq = c.seq, status = %r.status(), "the controller refused a command result")
                            }
                            Err(e) => tracing::warn!(seq = c.seq, error = %e, "cannot send a command result; retrying"),
                        }
                        tokio::time::sleep(Duration::from_millis((200 * (attempt + 1)).min(5000))).await;
                    }
                });
            }
        }
    }

    async fn execute(&self, drivers: &HashMap<String, Arc<dyn Driver>>, c: &Command, token: &str) -> CommandResult {
        let Some(d) = drivers.get(&c.host) else {
            return CommandResult {
                error: Some(format!("host {} is not served by agent {}", c.host, self.config.agent_id)),
                ..Default::default()
            };
        };
        let done = |r: virt::DriverResult<virt::InstanceInfo>| match r {
            Ok(i) => CommandResult { instance: Some(i), ..Default::default() },
            Err(e) => CommandResult::failed(e),
        };
        let unit = |r: virt::DriverResult<()>| match r {
            Ok(()) => CommandResult::default(),
            Err(e) => CommandResult::failed(e),
        };
        match &c.action {
            Action::Spawn { spec } => done(d.spawn(spec).await),
            Action::Destroy { uuid } => unit(d.destroy(uuid).await),
            Action::PowerOn { uuid } => done(d.power_on(uuid).await),
            Action::PowerOff { uuid } => done(d.power_off(uuid).await),
            Action::Reboot { uuid, hard } => done(d.reboot(uuid, *hard).await),
            Action::Pause { uuid } => done(d.pause(uuid).await),
            Action::Unpause { uuid } => done(d.unpause(uuid).await),
            Action::Suspend { uuid } => done(d.suspend(uuid).await),
            Action::Resume { uuid } => done(d.resume(uuid).await),
            Action::Rescue { uuid, image_ref } => done(d.rescue(uuid, image_ref).await),
            Action::Unrescue { uuid } => done(d.unrescue(uuid).await),
            Action::Resize { spec } => done(d.resize(spec).await),
            Action::TriggerCrashDump { uuid } => unit(d.trigger_crash_dump(uuid).await),
            Action::ConsoleOutput { uuid } => match d.console_output(uuid).await {
                Ok(out) => CommandResult { output: Some(out), ..Default::default() },
                Err(e) => CommandResult::failed(e),
            },
            Action::Snapshot { uuid, image_id } => unit(self.snapshot(d.as_ref(), uuid, image_id, token).await),
            Action::SetAdminPassword { uuid, password } => unit(d.set_admin_password(uuid, password).await),
            Action::PrepareLiveMigration { spec } => match d.prepare_live_migration(spec).await {
                Ok(uri) => CommandResult { output: Some(uri), ..Default::default() },
                Err(e) => CommandResult::failed(e),
            },
            Action::LiveMigrate { uuid, uri } => unit(d.live_migrate(uuid, uri).await),
            Action::FinishLiveMigration { uuid, paused } => done(d.finish_live_migration(uuid, *paused).await),
            Action::RollbackLiveMigration { uuid } => unit(d.rollback_live_migration(uuid).await),
            Action::PrepareDiskTransfer { uuid } => match d.prepare_disk_transfer(uuid).await {
                Ok(uri) => CommandResult { output: Some(uri), ..Default::default() },
                Err(e) => CommandResult::failed(e),
            },
            Action::SendDisks { uuid, uri } => unit(d.send_disks(uuid, uri).await),
        }
    }

    /// Has the driver write the snapshot to a file, then sends the file to
    /// the controller, which stores it as the image's data.
    async fn snapshot(&self, d: &dyn Driver, uuid: &str, image_id: &str, token: &str) -> virt::DriverResult<()> {
        let dir = d.scratch_dir();
        let path = dir.join(format!("ferrostack-snapshot-{uuid}-{image_id}"));
        let result = async {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| virt::DriverError::new(format!("cannot create {}: {e}", dir.display())))?;
            let info = d.snapshot(uuid, &path).await?;
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| virt::DriverError::new(format!("cannot read the snapshot {}: {e}", path.display())))?;
            let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
            tracing::info!(instance = %uuid, image = %image_id, bytes = size, "uploading a snapshot");
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
            let r = self
                .client
                .put(self.url(&format!("/images/{image_id}")))
                .query(&[("disk_format", &info.disk_format), ("container_format", &info.container_format)])
                .header("X-Auth-Token", token)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", size)
                .body(body)
                .send()
                .await
                .map_err(|e| virt::DriverError::new(format!("cannot upload the snapshot to the controller: {e}")))?;
            if !r.status().is_success() {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                return Err(virt::DriverError::new(format!("the controller refused the snapshot ({status}): {text}")));
            }
            Ok(())
        }
        .await;
        let _ = tokio::fs::remove_file(&path).await;
        result
    }
}
