//! Host aggregates and availability zones: Nova's rules for an aggregate's
//! zone (no host in two zones, no zone change under running servers), the
//! zone of each host, and the mirror of every aggregate in Placement (the
//! aggregate's uuid on the providers of its hosts' nodes) that the
//! scheduler's `member_of` uses.

use std::collections::{BTreeMap, HashMap};

use api_core::{ApiError, ApiResult};

use crate::core::{bad, db_err, Compute};
use crate::db as q;
use crate::model::Aggregate;

/// The zone of hosts in no zone aggregate (`default_availability_zone`).
pub const DEFAULT_AZ: &str = "nova";

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Aggregate {id} could not be found."))
}

fn py_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", "))
}

impl Compute {
    pub async fn aggregates(&self) -> ApiResult<Vec<Aggregate>> {
        q::aggregates(&self.db).await.map_err(db_err)
    }

    /// An aggregate by its id as the URL has it.
    pub async fn aggregate(&self, id: &str) -> ApiResult<Aggregate> {
        let n: i64 = id.parse().map_err(|_| bad("Invalid input received: id must be an integer"))?;
        self.aggregates().await?.into_iter().find(|a| a.id == n).ok_or_else(|| not_found(id))
    }

    /// The zone of every host in a zone aggregate.
    pub async fn host_zones(&self) -> ApiResult<HashMap<String, String>> {
        let mut zones = HashMap::new();
        for a in self.aggregates().await? {
            if let Some(az) = a.availability_zone() {
                for h in &a.hosts {
                    zones.entry(h.clone()).or_insert_with(|| az.to_string());
                }
            }
        }
        Ok(zones)
    }

    /// Zones a server may ask for: the default and every aggregate's.
    pub async fn zone_exists(&self, az: &str) -> ApiResult<bool> {
        Ok(az == DEFAULT_AZ || self.aggregates().await?.iter().any(|a| a.availability_zone() == Some(az)))
    }

    pub async fn create_aggregate(&self, name: &str, az: Option<&str>) -> ApiResult<Aggregate> {
        let all = self.aggregates().await?;
        if all.iter().any(|a| a.name == name) {
            return Err(ApiError::conflict(format!("Aggregate {name} already exists.")));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        let id = q::insert_aggregate(&self.db, &uuid, name).await.map_err(db_err)?;
        if let Some(az) = az {
            let m = BTreeMap::from([("availability_zone".to_string(), Some(az.to_string()))]);
            q::set_aggregate_metadata(&self.db, id, &m).await.map_err(db_err)?;
        }
        self.aggregate(&id.to_string()).await
    }

    /// Nova's `is_safe_to_update_az`: the reason a zone change is refused.
    async fn zone_change_refused(
        &self,
        a: &Aggregate,
        az: Option<&str>,
        hosts: &[String],
        changes_zone: bool,
    ) -> ApiResult<Option<String>> {
        let Some(az) = az.filter(|z| !z.is_empty()) else {
            return Ok(Some(format!("Aggregate {} does not support empty named availability zone", a.name)));
        };
        let mut conflicting: Vec<String> = self
            .aggregates()
            .await?
            .iter()
            .filter(|o| o.id != a.id && o.hosts.iter().any(|h| hosts.contains(h)))
            .filter_map(|o| o.availability_zone().filter(|z| *z != az).map(str::to_string))
            .collect();
        conflicting.dedup();
        if !conflicting.is_empty() {
            return Ok(Some(format!("One or more hosts already in availability zone(s) {}", py_list(&conflicting))));
        }
        if changes_zone && a.availability_zone() != Some(az) {
            for h in &a.hosts {
                if !self.instances_on_host(h).await?.is_empty() {
                    return Ok(Some("One or more hosts contain instances in this zone".into()));
                }
            }
        }
        Ok(None)
    }

    /// Renames and/or moves an aggregate to another zone.
    pub async fn update_aggregate(
        &self,
        a: &Aggregate,
        name: Option<&str>,
        az: Option<Option<&str>>,
    ) -> ApiResult<Aggregate> {
        if let Some(name) = name {
            if self.aggregates().await?.iter().any(|o| o.name == name && o.id != a.id) {
                return Err(ApiError::conflict(format!("Aggregate {name} already exists.")));
            }
        }
        if let Some(az) = az {
            if let Some(reason) = self.zone_change_refused(a, az, &a.hosts, true).await? {
                return Err(bad(format!("Cannot update aggregate {}. Reason: {reason}.", a.id)));
            }
        }
        if let Some(name) = name {
            q::rename_aggregate(&self.db, a.id, name).await.map_err(db_err)?;
        }
        if let Some(az) = az {
            let m = BTreeMap::from([("availability_zone".to_string(), az.map(str::to_string))]);
            q::set_aggregate_metadata(&self.db, a.id, &m).await.map_err(db_err)?;
        }
        self.hosts_changed().await;
        self.aggregate(&a.id.to_string()).await
    }

    pub async fn set_aggregate_metadata(
        &self,
        a: &Aggregate,
        changes: &BTreeMap<String, Option<String>>,
    ) -> ApiResult<Aggregate> {
        if let Some(az) = changes.get("availability_zone") {
            if let Some(reason) = self.zone_change_refused(a, az.as_deref(), &a.hosts, true).await? {
                return Err(bad(format!("Cannot update metadata of aggregate {}. Reason: {reason}.", a.id)));
            }
        }
        q::set_aggregate_metadata(&self.db, a.id, changes).await.map_err(db_err)?;
        self.hosts_changed().await;
        self.aggregate(&a.id.to_string()).await
    }

    pub async fn add_aggregate_host(&self, a: &Aggregate, host: &str) -> ApiResult<Aggregate> {
        if q::service_by_host(&self.db, host).await.map_err(db_err)?.is_none() {
            return Err(ApiError::not_found(format!("Compute host {host} could not be found.")));
        }
        if a.hosts.iter().any(|h| h == host) {
            return Err(ApiError::conflict(format!("Aggregate {} already has host {host}.", a.id)));
        }
        let refuse =
            |reason: String| ApiError::conflict(format!("Cannot add host to aggregate {}. Reason: {reason}.", a.id));
        if let Some(az) = a.availability_zone() {
            if let Some(reason) = self.zone_change_refused(a, Some(az), &[host.to_string()], false).await? {
                return Err(refuse(reason));
            }
        }
        let zones = self.host_zones().await?;
        let old = zones.get(host).cloned();
        let new = old.clone().or_else(|| a.availability_zone().map(str::to_string));
        if old != new {
            let n = self.instances_on_host(host).await?.len();
            if n > 0 {
                return Err(refuse(moving_zone("added to", old.as_deref(), new.as_deref(), n)));
            }
        }
        q::aggregate_host(&self.db, a.id, host, true).await.map_err(db_err)?;
        self.mirror_in_placement(host).await?;
        self.hosts_changed().await;
        self.aggregate(&a.id.to_string()).await
    }

    pub async fn remove_aggregate_host(&self, a: &Aggregate, host: &str) -> ApiResult<Aggregate> {
        if !a.hosts.iter().any(|h| h == host) {
            return Err(ApiError::not_found(format!("Cannot remove host {host} in aggregate {}", a.id)));
        }
        if let Some(az) = a.availability_zone() {
            let others = self
                .aggregates()
                .await?
                .into_iter()
                .filter(|o| o.id != a.id && o.hosts.iter().any(|h| h == host))
                .find_map(|o| o.availability_zone().map(str::to_string));
            if others.as_deref() != Some(az) {
                let n = self.instances_on_host(host).await?.len();
                if n > 0 {
                    return Err(ApiError::conflict(format!(
                        "Cannot remove host from aggregate {}. Reason: {}.",
                        a.id,
                        moving_zone("removed from", Some(az), others.as_deref(), n)
                    )));
                }
            }
        }
        q::aggregate_host(&self.db, a.id, host, false).await.map_err(db_err)?;
        self.mirror_in_placement(host).await?;
        self.hosts_changed().await;
        self.aggregate(&a.id.to_string()).await
    }

    pub async fn delete_aggregate(&self, a: &Aggregate) -> ApiResult<()> {
        if !a.hosts.is_empty() {
            return Err(bad(format!(
                "Cannot remove host from aggregate {}. Reason: Host aggregate is not empty.",
                a.id
            )));
        }
        q::delete_aggregate(&self.db, a.id).await.map_err(db_err)?;
        self.hosts_changed().await;
        Ok(())
    }

    /// Puts on the Placement providers of a host's nodes exactly the
    /// aggregates the host is in (keeping aggregates Compute does not own).
    pub async fn mirror_in_placement(&self, host: &str) -> ApiResult<()> {
        let all = self.aggregates().await?;
        let ours: Vec<&str> = all.iter().map(|a| a.uuid.as_str()).collect();
        let member: Vec<String> =
            all.iter().filter(|a| a.hosts.iter().any(|h| h == host)).map(|a| a.uuid.clone()).collect();
        for node in q::nodes(&self.db).await.map_err(db_err)?.into_iter().filter(|n| n.host == host) {
            for _ in 0..5 {
                let Some((generation, current)) = self.placement.provider_aggregates(&node.uuid).await? else { break };
                let mut want: Vec<String> = current.into_iter().filter(|u| !ours.contains(&u.as_str())).collect();
                want.extend(member.iter().cloned());
                match self.placement.set_provider_aggregates(&node.uuid, Some(generation), &want).await {
                    Ok(_) => break,
                    Err(e) if e.status == axum::http::StatusCode::CONFLICT => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

fn moving_zone(verb: &str, old: Option<&str>, new: Option<&str>, n: usize) -> String {
    format!(
        "The host cannot be {verb} the aggregate as the availability zone of the host would change from '{}' to '{}' \
         but the host already has {n} instance(s). Changing the AZ of an existing instance is not supported by this \
         action. Move the instances away from this host then try again. If you need to move the instances between \
         AZs then you can use shelve_offload and unshelve to achieve this.",
        old.unwrap_or("None"),
        new.unwrap_or("None")
    )
}
