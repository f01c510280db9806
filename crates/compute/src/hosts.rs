//! The controller's side of the agent protocol: hosts and nodes as agents
//! report them (services, compute nodes, and each node's resource provider
//! and inventory in Placement), heartbeats, and commands to agents as
//! durable rows that a step can queue and wait for.

use std::sync::Arc;
use std::time::Duration;

use agent::protocol::{Action, Command, CommandResult, Report};
use api_core::{ApiError, ApiResult};
use axum::http::StatusCode;
use placement::model::InventoryRow;

use crate::core::{db_err, Compute};
use crate::db as q;
use crate::model::Node;

/// How often an agent's polls are written down as its hosts' heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// How long a step waits for an agent to run a command before it fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

impl Compute {
    /// Takes an agent's full report: its services and nodes, each node's
    /// provider and inventory in Placement. Answers where the agent's
    /// commands start.
    pub async fn agent_report(&self, agent_id: &str, report: &Report) -> ApiResult<i64> {
        if report.version != agent::protocol::VERSION {
            return Err(ApiError::bad_request(format!(
                "agent protocol version {} is not {}; run an agent of the controller's release",
                report.version,
                agent::protocol::VERSION
            )));
        }
        for h in &report.hosts {
            let service = q::report_service(&self.db, &h.host, agent_id).await.map_err(db_err)?;
            for n in &h.nodes {
                let before = q::node_by_name(&self.db, &n.name).await.map_err(db_err)?;
                let node = q::report_node(&self.db, &service, n).await.map_err(db_err)?;
                let same = before.is_some_and(|b| {
                    (b.vcpus, b.memory_mb, b.local_gb, b.service_id) == (n.vcpus, n.memory_mb, n.local_gb, service.id)
                });
                // A periodic report of an unchanged node leaves Placement alone.
                if !same || self.placement.get_provider(&node.uuid).await?.is_none() {
                    self.report_inventory(&node).await?;
                }
                self.report_pgpus(&node, &n.pgpus).await?;
            }
            let uuids: Vec<String> = h.instances.iter().map(|i| i.uuid.clone()).collect();
            q::set_reported_instances(&self.db, &h.host, &uuids).await.map_err(db_err)?;
            self.reconcile(agent_id, &h.host, &h.instances).await?;
            tracing::info!(agent = agent_id, host = %h.host, nodes = h.nodes.len(), instances = h.instances.len(), "compute host reported");
        }
        self.hosts_changed().await;
        q::resume_point(&self.db, agent_id).await.map_err(db_err)
    }

    /// Instances a host runs that are not (or no longer) this host's in the
    /// database — left by a crash between a spawn and its record, by a
    /// delete the agent missed, or on a host a server was evacuated from —
    /// are destroyed; both ends of an unfinished move keep theirs.
    async fn reconcile(&self, agent_id: &str, host: &str, reported: &[virt::InstanceInfo]) -> ApiResult<()> {
        let bucket = chrono::Utc::now().timestamp() / 60;
        for r in reported {
            let uuid = &r.uuid;
            let known = q::instance_by_uuid(&self.db, uuid).await.map_err(db_err)?;
            let Some(i) = known.filter(|i| !i.deleted) else {
                self.destroy_stray(agent_id, host, uuid, bucket).await?;
                continue;
            };
            if i.host.as_deref() == Some(host) {
                self.sync_power_state(&i, r.power_state).await?;
                continue;
            }
            // Both ends of a move hold a copy until it is confirmed or done.
            let moving = q::migrations(&self.db, Some(uuid)).await.map_err(db_err)?.into_iter().any(|m| {
                !matches!(
                    m.status.as_str(),
                    "confirmed" | "reverted" | "error" | "completed" | "done" | "failed" | "cancelled"
                ) && (m.source_compute.as_deref() == Some(host) || m.dest_compute.as_deref() == Some(host))
            });
            if !moving {
                self.destroy_stray(agent_id, host, uuid, bucket).await?;
            }
        }
        Ok(())
    }

    /// Nova's power-state sync: an instance no task is working on takes
    /// the power state its host reports, and an active one whose guest is
    /// off (it powered itself off, or died while its agent was down) is
    /// stopped.
    async fn sync_power_state(&self, i: &crate::model::Instance, power: virt::PowerState) -> ApiResult<()> {
        let p = u8::from(power) as i64;
        if i.task_state.is_some() || power == virt::PowerState::NoState || i.power_state == p {
            return Ok(());
        }
        let off = matches!(power, virt::PowerState::Shutdown | virt::PowerState::Crashed);
        let vm_state = if i.vm_state == "active" && off { "stopped" } else { i.vm_state.as_str() };
        if q::finish_task(&self.db, &i.uuid, None, vm_state, Some(p)).await.map_err(db_err)? {
            tracing::warn!(instance = %i.uuid, power_state = p, vm_state, "the host reports another power state than recorded; the record follows the host");
        }
        Ok(())
    }

    async fn destroy_stray(&self, agent_id: &str, host: &str, uuid: &str, bucket: i64) -> ApiResult<()> {
        tracing::warn!(host, instance = %uuid, "the host runs an instance it should not; destroying it");
        let action = Action::Destroy { uuid: uuid.to_string() };
        let body = serde_json::to_string(&action).expect("action serializes");
        q::insert_command(&self.db, agent_id, host, &format!("reconcile-{uuid}-{bucket}"), &body)
            .await
            .map_err(db_err)?;
        self.commands_queued.notify_waiters();
        Ok(())
    }

    /// The node's resource provider (same uuid as the node) with VCPU,
    /// MEMORY_MB and DISK_GB as configured.
    async fn report_inventory(&self, node: &Node) -> ApiResult<()> {
        let p = &self.placement;
        if p.get_provider(&node.uuid).await?.is_none() {
            p.create_provider(&node.uuid, &node.hypervisor_hostname, None).await?;
        }
        let c = &self.config;
        let class = |name: &str| placement::standard::standard_resource_class_id(name).expect("standard class");
        let inv = |rc: i64, total: i64, reserved: i64, ratio: f64| InventoryRow {
            resource_provider_id: 0,
            resource_class_id: rc,
            total,
            reserved: reserved.min(total),
            min_unit: 1,
            max_unit: total.max(1),
            step_size: 1,
            allocation_ratio: ratio,
            updated_at: String::new(),
        };
        let rows = vec![
            inv(class("VCPU"), node.vcpus, c.reserved_host_cpus, c.cpu_allocation_ratio),
            inv(class("MEMORY_MB"), node.memory_mb, c.reserved_host_memory_mb, c.ram_allocation_ratio),
            inv(class("DISK_GB"), node.local_gb, c.reserved_host_disk_mb / 1024, c.disk_allocation_ratio),
        ];
        p.change_inventories(&node.uuid, None, placement::core::InventoryChange::ReplaceAll(rows)).await?;
        Ok(())
    }

    /// A child provider under the node's for each physical GPU, with its
    /// VGPU inventory (`<node>_<pci address>`, as Nova names them).
    async fn report_pgpus(&self, node: &Node, pgpus: &[virt::Pgpu]) -> ApiResult<()> {
        let p = &self.placement;
        let class = placement::standard::standard_resource_class_id("VGPU").expect("standard class");
        for g in pgpus {
            let uuid = pgpu_uuid(&node.uuid, &g.name);
            if p.get_provider(&uuid).await?.is_some() {
                continue;
            }
            p.create_provider(&uuid, &format!("{}_{}", node.hypervisor_hostname, g.name), Some(&node.uuid)).await?;
            let row = InventoryRow {
                resource_provider_id: 0,
                resource_class_id: class,
                total: g.vgpus,
                reserved: 0,
                min_unit: 1,
                max_unit: g.vgpus.max(1),
                step_size: 1,
                allocation_ratio: 1.0,
                updated_at: String::new(),
            };
            p.change_inventories(&uuid, None, placement::core::InventoryChange::ReplaceAll(vec![row])).await?;
        }
        Ok(())
    }

    /// Pending commands of an agent after `after`, waiting up to `wait` for
    /// one to be queued. Every call counts as the agent's heartbeat.
    pub async fn agent_commands(&self, agent_id: &str, after: i64, wait: Duration) -> ApiResult<Vec<Command>> {
        // A busy agent polls many times a second; its hosts' heartbeat is
        // written at most every few seconds (it updates every host's row).
        let due = {
            let mut beats = self.heartbeats.lock().expect("heartbeats lock");
            let now = std::time::Instant::now();
            let last = beats.get(agent_id).copied();
            let due = last.is_none_or(|t| now.duration_since(t) >= HEARTBEAT_EVERY);
            if due {
                beats.insert(agent_id.to_string(), now);
            }
            due
        };
        if due {
            q::heartbeat(&self.db, agent_id).await.map_err(db_err)?;
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let queued = self.commands_queued.notified();
            tokio::pin!(queued);
            queued.as_mut().enable();
            let rows = q::pending_commands(&self.db, agent_id, after).await.map_err(db_err)?;
            if !rows.is_empty() || tokio::time::Instant::now() >= deadline {
                let mut out = Vec::with_capacity(rows.len());
                for (seq, host, body) in rows {
                    match serde_json::from_str::<Action>(&body) {
                        Ok(action) => out.push(Command { seq, host, action }),
                        Err(e) => tracing::error!(seq, error = %e, "unreadable agent command skipped"),
                    }
                }
                return Ok(out);
            }
            // Commands queued by other controllers are seen within a second.
            let pause = deadline.saturating_duration_since(tokio::time::Instant::now()).min(Duration::from_secs(1));
            let _ = tokio::time::timeout(pause, queued).await;
        }
    }

    /// Records the result an agent sent for a command.
    pub async fn agent_result(&self, agent_id: &str, seq: i64, result: &CommandResult) -> ApiResult<()> {
        let text = serde_json::to_string(result).expect("result serializes");
        if q::finish_command(&self.db, seq, agent_id, result.error.is_some(), &text).await.map_err(db_err)? {
            let waiter = self.result_waiters.lock().expect("waiters lock").get(&seq).cloned();
            if let Some(w) = waiter {
                w.notify_one();
            }
        }
        Ok(())
    }

    /// Queues `action` for the agent serving `host` (once per `key`) and
    /// waits for its result.
    pub async fn run_on_host(&self, host: &str, key: &str, action: &Action) -> Result<CommandResult, String> {
        let service = q::service_by_host(&self.db, host)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("compute host {host} is not known"))?;
        let agent = service.agent.ok_or_else(|| format!("no agent serves compute host {host}"))?;
        let body = serde_json::to_string(action).expect("action serializes");
        let seq = q::insert_command(&self.db, &agent, host, key, &body).await.map_err(|e| e.to_string())?;
        self.commands_queued.notify_waiters();
        let deadline = tokio::time::Instant::now() + COMMAND_TIMEOUT;
        let arrived = Arc::new(tokio::sync::Notify::new());
        self.result_waiters.lock().expect("waiters lock").insert(seq, arrived.clone());
        let _registered = Waiter { c: self, seq };
        loop {
            match q::command_state(&self.db, seq).await.map_err(|e| e.to_string())? {
                Some((state, Some(result))) if state != "pending" => {
                    return serde_json::from_str(&result).map_err(|e| format!("unreadable command result: {e}"));
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "the agent {agent} of host {host} did not run command {seq} within {} s; check that it runs and reaches the controller",
                    COMMAND_TIMEOUT.as_secs()
                ));
            }
            // Results that reach another controller are seen within a second.
            let _ = tokio::time::timeout(Duration::from_secs(1), arrived.notified()).await;
        }
    }

    /// Whether a service counts as up: not forced down and seen within
    /// `service_down_time`.
    pub fn service_is_up(&self, s: &crate::model::Service) -> bool {
        if s.forced_down {
            return false;
        }
        let Some(seen) = s.last_seen_up.as_deref() else { return false };
        let Ok(seen) = chrono::NaiveDateTime::parse_from_str(seen, "%Y-%m-%dT%H:%M:%S%.f") else { return false };
        let age = chrono::Utc::now().naive_utc() - seen;
        age.num_seconds() <= self.config.service_down_time
    }
}

impl Compute {
    /// Instances (not deleted) on a host, every project's.
    pub async fn instances_on_host(&self, host: &str) -> ApiResult<Vec<crate::model::Instance>> {
        q::instances_on_host(&self.db, host).await.map_err(db_err)
    }

    /// Removes a compute service, its nodes and their providers; refused
    /// while it hosts instances.
    pub async fn delete_service(&self, s: &crate::model::Service) -> ApiResult<()> {
        if !self.instances_on_host(&s.host).await?.is_empty() {
            return Err(ApiError::conflict(
                "Unable to delete compute service that is hosting instances. Migrate or delete the instances first.",
            ));
        }
        let nodes = q::nodes(&self.db).await.map_err(db_err)?;
        for n in nodes.iter().filter(|n| n.service_id == s.id) {
            if let Err(e) = self.placement.delete_provider(&n.uuid).await {
                tracing::warn!(node = %n.hypervisor_hostname, error = %e.message, "cannot delete the node's resource provider; delete it with the Placement API");
            }
        }
        q::delete_service(&self.db, s.id).await.map_err(db_err)?;
        tracing::info!(host = %s.host, "compute service deleted");
        Ok(())
    }
}

/// A registered result waiter, removed when the wait ends.
struct Waiter<'a> {
    c: &'a Compute,
    seq: i64,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.c.result_waiters.lock().expect("waiters lock").remove(&self.seq);
    }
}

pub fn agent_forbidden() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "Only the admin or service role may speak the agent protocol.")
}

/// The provider uuid of a node's physical GPU: the same on every report.
fn pgpu_uuid(node: &str, pgpu: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("{node}/{pgpu}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}
