//! The fake driver: instances are entries in a map, every operation is
//! instant, and one driver can stand for many nodes (`--fake-nodes N`).

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::future::BoxFuture;

use crate::{Driver, DriverError, DriverResult, InstanceInfo, InstanceSpec, NodeResources, PowerState, SnapshotInfo};

pub struct FakeDriver {
    nodes: Vec<NodeResources>,
    instances: Mutex<HashMap<String, InstanceInfo>>,
    passwords: Mutex<HashMap<String, String>>,
}

impl FakeDriver {
    /// `count` nodes named `<prefix>-0` ... each with the given size.
    pub fn new(prefix: &str, count: usize, vcpus: i64, memory_mb: i64, local_gb: i64) -> FakeDriver {
        let nodes = (0..count)
            .map(|i| NodeResources {
                name: if count == 1 { prefix.to_string() } else { format!("{prefix}-{i}") },
                vcpus,
                memory_mb,
                local_gb,
                hypervisor_type: "fake".into(),
                hypervisor_version: 1000,
                cpu_info: "{\"arch\": \"x86_64\", \"model\": \"fake\"}".into(),
                pgpus: Vec::new(),
            })
            .collect();
        FakeDriver { nodes, instances: Mutex::new(HashMap::new()), passwords: Mutex::new(HashMap::new()) }
    }

    /// Gives every node `count` physical GPUs of `vgpus` virtual GPUs each.
    pub fn with_pgpus(mut self, count: usize, vgpus: i64) -> FakeDriver {
        for n in &mut self.nodes {
            n.pgpus =
                (0..count).map(|i| crate::Pgpu { name: format!("pci_0000_{:02x}_00_0", 0x84 + i), vgpus }).collect();
        }
        self
    }

    /// The administrator password last set on an instance.
    pub fn admin_password(&self, uuid: &str) -> Option<String> {
        self.passwords.lock().expect("fake driver lock").get(uuid).cloned()
    }

    fn has(&self, uuid: &str) -> DriverResult<InstanceInfo> {
        let all = self.instances.lock().expect("fake driver lock");
        all.get(uuid).cloned().ok_or_else(|| DriverError::new(format!("instance {uuid} is not on this host")))
    }

    fn set(&self, uuid: &str, state: PowerState) -> DriverResult<InstanceInfo> {
        let mut all = self.instances.lock().expect("fake driver lock");
        let i = all.get_mut(uuid).ok_or_else(|| DriverError::new(format!("instance {uuid} is not on this host")))?;
        i.power_state = state;
        Ok(i.clone())
    }
}

impl Driver for FakeDriver {
    fn nodes(&self) -> Vec<NodeResources> {
        self.nodes.clone()
    }

    fn spawn<'a>(&'a self, spec: &'a InstanceSpec) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(async move {
            if !self.nodes.iter().any(|n| n.name == spec.node) {
                return Err(DriverError::new(format!("node {} is not managed by this host", spec.node)));
            }
            // Failure injection for tests: a server named `... fail-on:a,b`
            // fails to spawn on nodes a and b.
            if let Some(list) = spec.name.split_once("fail-on:").map(|(_, l)| l.split_whitespace().next().unwrap_or(""))
            {
                if list.split(',').any(|n| n == spec.node) {
                    return Err(DriverError::new(format!(
                        "fake spawn failure on {} (the server's name asks for it)",
                        spec.node
                    )));
                }
            }
            // A server named `... abort-build` cannot be built anywhere.
            if spec.name.contains("abort-build") {
                return Err(DriverError::abort_build(format!(
                    "fake build abort on {} (the server's name asks for it)",
                    spec.node
                )));
            }
            let mut all = self.instances.lock().expect("fake driver lock");
            let info = all
                .entry(spec.uuid.clone())
                .or_insert_with(|| InstanceInfo {
                    uuid: spec.uuid.clone(),
                    node: spec.node.clone(),
                    power_state: if spec.stopped { PowerState::Shutdown } else { PowerState::Running },
                })
                .clone();
            Ok(info)
        })
    }

    fn destroy<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(async move {
            self.instances.lock().expect("fake driver lock").remove(uuid);
            Ok(())
        })
    }

    fn power_on<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(async move { self.set(uuid, PowerState::Running) })
    }

    fn power_off<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(async move { self.set(uuid, PowerState::Shutdown) })
    }

    fn reboot<'a>(&'a self, uuid: &'a str, _hard: bool) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(async move { self.set(uuid, PowerState::Running) })
    }

    fn pause<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(async move { self.set(uuid, PowerState::Paused) })
    }

    fn unpause<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(async move { self.set(uuid, PowerState::Running) })
    }

    fn suspend<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(async move { self.set(uuid, PowerState::Suspended) })
    }

    fn resume<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(async move { self.set(uuid, PowerState::Running) })
    }

    fn rescue<'a>(&'a self, uuid: &'a str, _image_ref: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(async move { self.set(uuid, PowerState::Running) })
    }

    fn unrescue<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(async move { self.set(uuid, PowerState::Running) })
    }

    fn resize<'a>(&'a self, spec: &'a InstanceSpec) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(async move {
            let all = self.instances.lock().expect("fake driver lock");
            all.get(&spec.uuid)
                .cloned()
                .ok_or_else(|| DriverError::new(format!("instance {} is not on this host", spec.uuid)))
        })
    }

    fn scratch_dir(&self) -> std::path::PathBuf {
        std::env::temp_dir()
    }

    fn snapshot<'a>(&'a self, uuid: &'a str, dest: &'a std::path::Path) -> BoxFuture<'a, DriverResult<SnapshotInfo>> {
        Box::pin(async move {
            self.has(uuid)?;
            let data = format!("FAKE SNAPSHOT OF {uuid}\n");
            tokio::fs::write(dest, data)
                .await
                .map_err(|e| DriverError::new(format!("cannot write the snapshot to {}: {e}", dest.display())))?;
            Ok(SnapshotInfo { disk_format: "raw".into(), container_format: "bare".into() })
        })
    }

    fn set_admin_password<'a>(&'a self, uuid: &'a str, password: &'a str) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(async move {
            self.has(uuid)?;
            self.passwords.lock().expect("fake driver lock").insert(uuid.to_string(), password.to_string());
            Ok(())
        })
    }

    fn prepare_live_migration<'a>(&'a self, spec: &'a InstanceSpec) -> BoxFuture<'a, DriverResult<String>> {
        Box::pin(async move {
            if !self.nodes.iter().any(|n| n.name == spec.node) {
                return Err(DriverError::new(format!("node {} is not managed by this host", spec.node)));
            }
            let mut all = self.instances.lock().expect("fake driver lock");
            all.entry(spec.uuid.clone()).or_insert_with(|| InstanceInfo {
                uuid: spec.uuid.clone(),
                node: spec.node.clone(),
                power_state: PowerState::Paused,
            });
            Ok(format!("fake://{}/{}", spec.node, spec.uuid))
        })
    }

    fn live_migrate<'a>(&'a self, uuid: &'a str, _uri: &'a str) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(async move {
            let all = self.instances.lock().expect("fake driver lock");
            match all.get(uuid) {
                Some(_) => Ok(()),
                None => Err(DriverError::new(format!("instance {uuid} is not on this host"))),
            }
        })
    }

    fn finish_live_migration<'a>(&'a self, uuid: &'a str, paused: bool) -> BoxFuture<'a, DriverResult<InstanceInfo>> {
        Box::pin(async move { self.set(uuid, if paused { PowerState::Paused } else { PowerState::Running }) })
    }

    fn rollback_live_migration<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<()>> {
        self.destroy(uuid)
    }

    fn prepare_disk_transfer<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<String>> {
        Box::pin(async move { Ok(format!("fake-disks://{uuid}")) })
    }

    fn send_disks<'a>(&'a self, uuid: &'a str, uri: &'a str) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(async move {
            if uri != format!("fake-disks://{uuid}") {
                return Err(DriverError::new(format!("{uri:?} is not where the disks of {uuid} go")));
            }
            if self.has(uuid)?.power_state == PowerState::Running {
                return Err(DriverError::new(format!(
                    "instance {uuid} is running; power it off before its disks move"
                )));
            }
            Ok(())
        })
    }

    fn trigger_crash_dump<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(async move { self.set(uuid, PowerState::Running).map(|_| ()) })
    }

    fn console_output<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<String>> {
        Box::pin(async move {
            if self.instances.lock().expect("fake driver lock").contains_key(uuid) {
                Ok("FAKE CONSOLE OUTPUT\nANOTHER\nLAST LINE".into())
            } else {
                Err(DriverError::new(format!("instance {uuid} is not on this host")))
            }
        })
    }

    fn get_info<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, DriverResult<Option<InstanceInfo>>> {
        Box::pin(async move { Ok(self.instances.lock().expect("fake driver lock").get(uuid).cloned()) })
    }

    fn list_instances(&self) -> BoxFuture<'_, DriverResult<Vec<InstanceInfo>>> {
        Box::pin(async move { Ok(self.instances.lock().expect("fake driver lock").values().cloned().collect()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(uuid: &str, node: &str) -> InstanceSpec {
        InstanceSpec {
            uuid: uuid.into(),
            name: "vm".into(),
            node: node.into(),
            vcpus: 1,
            memory_mb: 64,
            root_gb: 1,
            image_ref: "img".into(),
            user_data: None,
            key_data: None,
            ephemeral_gb: 0,
            swap_mb: 0,
            config_drive: None,
            stopped: false,
        }
    }

    #[tokio::test]
    async fn operations_are_idempotent_and_change_power_state() {
        let d = FakeDriver::new("fake", 3, 4, 4096, 40);
        assert_eq!(d.nodes().iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["fake-0", "fake-1", "fake-2"]);
        let a = d.spawn(&spec("u1", "fake-1")).await.unwrap();
        assert_eq!(a.power_state, PowerState::Running);
        assert_eq!(d.spawn(&spec("u1", "fake-1")).await.unwrap(), a, "a second spawn finds the first");
        assert!(d.spawn(&spec("u2", "elsewhere")).await.is_err());
        assert_eq!(d.power_off("u1").await.unwrap().power_state, PowerState::Shutdown);
        assert_eq!(d.pause("u1").await.unwrap().power_state, PowerState::Paused);
        assert_eq!(d.list_instances().await.unwrap().len(), 1);
        d.destroy("u1").await.unwrap();
        d.destroy("u1").await.unwrap();
        assert_eq!(d.get_info("u1").await.unwrap(), None);
        assert!(d.power_on("u1").await.is_err());
        assert_eq!(u8::from(PowerState::Suspended), 7, "Nova's numbers on the wire");
    }
}
