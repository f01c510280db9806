//! The scheduler: a request spec from the flavor (resources, required and
//! forbidden traits, granular groups, group policy) becomes a Placement
//! allocation-candidates request over Placement's in-memory snapshot; the
//! candidates are filtered (compute service enabled and up, zone, tenant
//! isolation of aggregates, the image's architecture and hypervisor type,
//! server groups and host hints), weighed (free RAM, VCPU and disk, each
//! normalized and multiplied as Nova's weighers, positive to spread and
//! negative to pack; soft group policies) and claimed in that order with
//! `PUT /allocations/{consumer}` semantics (a new consumer), the next
//! alternate on a conflict. Nothing here takes a lock: concurrent requests
//! race only in Placement's claim, which re-checks capacity.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use placement::candidates::{CandidateRequest, GroupPolicy, RequestGroup};
use placement::core::{ConsumerAllocations, ProviderAllocation};

use crate::core::Compute;
use crate::db as q;
use crate::model::{Instance, InstanceFlavor};

pub const NO_VALID_HOST: &str = "No valid host was found. There are not enough hosts available.";

/// How many alternates a claim tries after the first choice.
const ALTERNATES: usize = 10;

/// The compute nodes and which of their hosts take new servers, as the
/// scheduler saw them at most a second ago.
pub struct Hosts {
    pub nodes: HashMap<String, crate::model::Node>,
    pub usable: std::collections::HashSet<String>,
    /// The zone of each host in a zone aggregate (others are in the default).
    pub zones: HashMap<String, String>,
    /// The aggregates (uuids) of each zone.
    pub zone_aggregates: HashMap<String, Vec<String>>,
    /// Hosts in aggregates with `filter_tenant_id*` metadata, and the
    /// projects they take (Nova's AggregateMultiTenancyIsolation).
    pub tenants: HashMap<String, Vec<String>>,
}

/// Nova's ImagePropertiesFilter: an image's `hw_architecture`,
/// `img_hv_type` and `hw_vm_mode` (kept in the instance's system metadata
/// as `image_*`) against what a node supports.
fn image_fits(inst: &Instance, node: &crate::model::Node) -> bool {
    let sys = &inst.system_metadata;
    let fits_arch = sys.get("image_hw_architecture").is_none_or(|a| {
        let arch = serde_json::from_str::<serde_json::Value>(&node.cpu_info)
            .ok()
            .and_then(|v| v["arch"].as_str().map(str::to_string))
            .unwrap_or_else(|| "x86_64".into());
        a.eq_ignore_ascii_case(&arch)
    });
    // A QEMU host runs KVM guests when it can and plain QEMU ones always.
    let fits_hv = sys.get("image_img_hv_type").is_none_or(|t| {
        let (t, hv) = (t.to_ascii_lowercase(), node.hypervisor_type.to_ascii_lowercase());
        t == hv || (t == "qemu" && hv == "kvm")
    });
    let fits_mode = sys.get("image_hw_vm_mode").is_none_or(|m| m.eq_ignore_ascii_case("hvm"));
    fits_arch && fits_hv && fits_mode
}

/// Nova's weigher normalization: each value mapped onto 0..1 between the
/// lowest and the highest among the candidates.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

fn normalized((lo, hi): (f64, f64), v: f64) -> f64 {
    if hi > lo {
        (v - lo) / (hi - lo)
    } else {
        0.0
    }
}

/// A claim for a resize or migration: the instance's current allocations
/// move to the migration (a consumer of its own) and the instance claims
/// `flavor` on the destination, in one Placement write.
pub struct MoveClaim {
    pub migration: String,
    pub flavor: InstanceFlavor,
    pub source: Vec<ProviderAllocation>,
    /// A host the instance may not go to (its own, unless resizing there is allowed).
    pub exclude_host: Option<String>,
    /// The host an admin asked for.
    pub target_host: Option<String>,
}

/// Where an instance was placed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Placed {
    pub host: String,
    pub node: String,
}

#[derive(Default)]
struct Group {
    resources: BTreeMap<String, i64>,
    required: Vec<String>,
    forbidden: Vec<String>,
}

/// The request groups of a flavor, by suffix ("" for the unsuffixed one),
/// as Nova builds them (`resources*:` extra specs override the flavor's
/// own amounts; an amount of 0 drops the class).
fn groups(f: &InstanceFlavor) -> (BTreeMap<String, Group>, Option<GroupPolicy>) {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let base = groups.entry(String::new()).or_default();
    let disk = f.root_gb + f.ephemeral_gb + (f.swap + 1023) / 1024;
    for (rc, amount) in [("VCPU", f.vcpus), ("MEMORY_MB", f.memory_mb), ("DISK_GB", disk)] {
        if amount > 0 {
            base.resources.insert(rc.into(), amount);
        }
    }
    let mut policy = None;
    for (k, v) in &f.extra_specs {
        if k == "group_policy" {
            policy = match v.as_str() {
                "isolate" => Some(GroupPolicy::Isolate),
                "none" => Some(GroupPolicy::None),
                _ => None,
            };
            continue;
        }
        let Some((ns, name)) = k.split_once(':') else { continue };
        if let Some(suffix) = ns.strip_prefix("resources") {
            let g = groups.entry(suffix.to_string()).or_default();
            match v.trim().parse::<i64>() {
                Ok(0) => {
                    g.resources.remove(name);
                }
                Ok(n) if n > 0 => {
                    g.resources.insert(name.to_string(), n);
                }
                _ => {}
            }
        } else if let Some(suffix) = ns.strip_prefix("trait") {
            let g = groups.entry(suffix.to_string()).or_default();
            match v.as_str() {
                "required" => g.required.push(name.to_string()),
                "forbidden" => g.forbidden.push(name.to_string()),
                _ => {}
            }
        }
    }
    (groups, policy)
}

impl Compute {
    /// The Placement request for an instance's flavor; `Err` when it names
    /// a class or trait Placement does not know (no host can have it).
    async fn candidate_request(&self, f: &InstanceFlavor) -> Result<CandidateRequest, String> {
        let (groups, group_policy) = groups(f);
        let p = &self.placement;
        let mut out = CandidateRequest { group_policy, nested: true, ..Default::default() };
        for (suffix, g) in groups {
            let mut resources = Vec::new();
            for (rc, amount) in &g.resources {
                let id = p.class_id(rc).await.map_err(|e| e.message)?.ok_or_else(|| NO_VALID_HOST.to_string())?;
                resources.push((id, *amount));
            }
            if resources.is_empty() && suffix.is_empty() && g.required.is_empty() && g.forbidden.is_empty() {
                continue;
            }
            let mut required = Vec::new();
            for t in &g.required {
                required.push(vec![p
                    .trait_id(t)
                    .await
                    .map_err(|e| e.message)?
                    .ok_or_else(|| NO_VALID_HOST.to_string())?]);
            }
            let mut forbidden = Vec::new();
            for t in &g.forbidden {
                if let Some(id) = p.trait_id(t).await.map_err(|e| e.message)? {
                    forbidden.push(id);
                }
            }
            out.groups.push(RequestGroup {
                suffix,
                resources,
                required_traits: required,
                forbidden_traits: forbidden,
                ..Default::default()
            });
        }
        Ok(out)
    }

    /// The memory, VCPUs and disk a flavor takes on a node.
    fn footprint(f: &InstanceFlavor) -> [i64; 3] {
        [f.memory_mb, f.vcpus, f.root_gb + f.ephemeral_gb + (f.swap + 1023) / 1024]
    }

    /// The image's required and forbidden traits (`trait:<T>` properties,
    /// kept as `image_trait:<T>` in system metadata) join the unsuffixed group.
    async fn add_image_traits(&self, inst: &Instance, request: &mut CandidateRequest) -> Result<(), String> {
        let traits: Vec<(&str, &str)> = inst
            .system_metadata
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("image_trait:").map(|t| (t, v.as_str())))
            .collect();
        if traits.is_empty() {
            return Ok(());
        }
        if !request.groups.iter().any(|g| g.suffix.is_empty()) {
            request.groups.insert(0, RequestGroup::default());
        }
        let group = request.groups.iter_mut().find(|g| g.suffix.is_empty()).expect("unsuffixed group");
        for (t, how) in traits {
            let id = self.placement.trait_id(t).await.map_err(|e| e.message)?;
            match (how, id) {
                ("required", Some(id)) => group.required_traits.push(vec![id]),
                ("required", None) => return Err(NO_VALID_HOST.to_string()),
                ("forbidden", Some(id)) => group.forbidden_traits.push(id),
                _ => {}
            }
        }
        Ok(())
    }

    /// Chooses a host for `inst` and claims its resources in Placement
    /// (the instance's uuid is the consumer). Claiming again for the same
    /// instance finds its existing allocations and answers where they are.
    /// Nodes and usable hosts, reloaded when older than a second.
    async fn hosts(&self) -> Result<Arc<Hosts>, String> {
        let mut cache = self.hosts_cache.lock().await;
        if let Some((at, h)) = cache.as_ref() {
            if at.elapsed() < std::time::Duration::from_secs(1) {
                return Ok(h.clone());
            }
        }
        let nodes = q::nodes(&self.db).await.map_err(|e| e.to_string())?;
        let services = q::services(&self.db).await.map_err(|e| e.to_string())?;
        let usable = services.iter().filter(|s| !s.disabled && self.service_is_up(s)).map(|s| s.host.clone()).collect();
        let mut zones = HashMap::new();
        let mut zone_aggregates: HashMap<String, Vec<String>> = HashMap::new();
        let mut tenants: HashMap<String, Vec<String>> = HashMap::new();
        for a in q::aggregates(&self.db).await.map_err(|e| e.to_string())? {
            let allowed: Vec<String> = a
                .metadata
                .iter()
                .filter(|(k, _)| k.starts_with("filter_tenant_id"))
                .flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_string()))
                .collect();
            if !allowed.is_empty() {
                for h in &a.hosts {
                    tenants.entry(h.clone()).or_default().extend(allowed.iter().cloned());
                }
            }
            if let Some(az) = a.availability_zone() {
                zone_aggregates.entry(az.to_string()).or_default().push(a.uuid.clone());
                for h in &a.hosts {
                    zones.entry(h.clone()).or_insert_with(|| az.to_string());
                }
            }
        }
        let h = Arc::new(Hosts {
            nodes: nodes.into_iter().map(|n| (n.uuid.clone(), n)).collect(),
            usable,
            zones,
            zone_aggregates,
            tenants,
        });
        *cache = Some((std::time::Instant::now(), h.clone()));
        Ok(h)
    }

    /// The zone of a host as the scheduler saw it at most a second ago.
    pub async fn scheduled_zone(&self, host: &str) -> Result<String, String> {
        let hosts = self.hosts().await?;
        Ok(hosts.zones.get(host).cloned().unwrap_or_else(|| crate::aggregates::DEFAULT_AZ.to_string()))
    }

    /// Forgets the scheduler's view of the hosts (after an admin changed one).
    pub async fn hosts_changed(&self) {
        *self.hosts_cache.lock().await = None;
    }

    pub async fn schedule_and_claim(&self, inst: &Instance, moving: Option<&MoveClaim>) -> Result<Placed, String> {
        let hosts = self.hosts().await?;
        let by_uuid = &hosts.nodes;
        // A repeated step: the claim is already there.
        let claimed = match moving {
            Some(m) if self.placement.consumer_providers(&m.migration).await.map_err(|e| e.message)?.is_empty() => None,
            _ => self.claimed_node(&inst.uuid, by_uuid).await?,
        };
        if let Some(placed) = claimed {
            return Ok(placed);
        }
        let flavor = moving.map(|m| &m.flavor).unwrap_or(&inst.flavor);
        let snapshot = self.placement.snapshot().await.map_err(|e| e.message)?;
        let mut request = self.candidate_request(flavor).await?;
        self.add_image_traits(inst, &mut request).await?;
        let forced_host = moving.and_then(|m| m.target_host.as_ref()).or(inst.system_metadata.get("forced_host"));
        let forced_node = inst.system_metadata.get("forced_node");
        let zone = inst.availability_zone.as_deref();
        if let Some(aggs) = zone.and_then(|z| hosts.zone_aggregates.get(z)) {
            // Nova's map_az_to_placement_aggregate prefilter.
            if let Some(g) = request.groups.first_mut() {
                g.member_of.push(aggs.clone());
            }
        }
        let rules = self.placement_rules(inst).await?;
        let zone_of = |host: &str| hosts.zones.get(host).map(String::as_str).unwrap_or(crate::aggregates::DEFAULT_AZ);
        let excluded = moving.and_then(|m| m.exclude_host.as_deref());
        // Hosts where this build already failed (rescheduling).
        let failed: Vec<&str> =
            inst.system_metadata.get("failed_hosts").map(|f| f.split(',').collect()).unwrap_or_default();
        let wanted = |node: &crate::model::Node| {
            excluded != Some(node.host.as_str())
                && !failed.contains(&node.host.as_str())
                && match forced_host {
                    // A forced host skips the filters, as in Nova.
                    Some(h) => *h == node.host && forced_node.is_none_or(|n| *n == node.hypervisor_hostname),
                    None => {
                        hosts.usable.contains(&node.host)
                            && zone.is_none_or(|z| zone_of(&node.host) == z)
                            && hosts.tenants.get(&node.host).is_none_or(|t| t.contains(&inst.project_id))
                            && image_fits(inst, node)
                            && rules.allows(&node.host)
                    }
                }
        };
        let found = placement::candidates::choices(&snapshot, &request, &Default::default());
        let class = |name: &str| placement::standard::standard_resource_class_id(name).expect("standard class");
        let (memory, vcpu, disk) = (class("MEMORY_MB"), class("VCPU"), class("DISK_GB"));
        // (free memory, VCPU, disk, group weight, candidate, root provider):
        // cheap to gather for every candidate; the allocations are built for
        // the one claimed.
        let mut raw: Vec<([f64; 4], usize, &str)> = Vec::with_capacity(found.len());
        for i in 0..found.len() {
            let root = &snapshot.providers[found.root(i)];
            let Some(node) = by_uuid.get(root.uuid.as_str()) else { continue };
            if !wanted(node) {
                continue;
            }
            let free = |rc| {
                root.inventories.iter().find(|i| i.resource_class == rc).map(|i| i.capacity() - i.used).unwrap_or(0)
            };
            let group = rules.weight(&node.host);
            raw.push(([free(memory) as f64, free(vcpu) as f64, free(disk) as f64, group], i, root.uuid.as_str()));
        }
        let c = &self.config;
        let multipliers = [
            c.ram_weight_multiplier,
            c.cpu_weight_multiplier,
            c.disk_weight_multiplier,
            if rules.soft >= 0 { c.soft_affinity_weight_multiplier } else { c.soft_anti_affinity_weight_multiplier },
        ];
        let ranges: Vec<(f64, f64)> = (0..4).map(|k| bounds(raw.iter().map(|r| r.0[k]))).collect();
        // What claims in flight take off a node's weight, per unit of each
        // resource (equal nodes still tell apart by what is in flight).
        let per_unit: [f64; 3] = std::array::from_fn(|k| {
            let (lo, hi) = ranges[k];
            multipliers[k] / if hi > lo { hi - lo } else { hi.max(1.0) }
        });
        let mut choices: Vec<Choice> = raw
            .into_iter()
            .map(|(v, i, root)| ((0..4).map(|k| multipliers[k] * normalized(ranges[k], v[k])).sum(), i, root))
            .collect();
        for _ in 0..=ALTERNATES {
            // Spread: the most free memory first, less what this controller
            // is claiming or just claimed there (choosing and marking the
            // choice are one step, so concurrent builds see each other).
            let Some((claiming, (_, i, root))) =
                Inflight::choose(self, &mut choices, Self::footprint(flavor), per_unit)
            else {
                break;
            };
            let node = &by_uuid[root];
            let placed = Placed { host: node.host.clone(), node: node.hypervisor_hostname.clone() };
            let allocations = found
                .materialize(i)
                .allocations
                .iter()
                .map(|(idx, res)| ProviderAllocation {
                    provider_uuid: snapshot.providers[*idx].uuid.clone(),
                    resources: res.iter().map(|(rc, n)| (self.placement.class_name(*rc), *n)).collect(),
                })
                .collect();
            let claim = ConsumerAllocations {
                consumer_uuid: inst.uuid.clone(),
                project_id: Some(inst.project_id.clone()),
                user_id: Some(inst.user_id.clone()),
                consumer_generation: if moving.is_some() { None } else { Some(None) },
                consumer_type: Some("INSTANCE".into()),
                allocations,
            };
            let mut writes = vec![claim];
            if let Some(m) = moving {
                writes.push(ConsumerAllocations {
                    consumer_uuid: m.migration.clone(),
                    project_id: Some(inst.project_id.clone()),
                    user_id: Some(inst.user_id.clone()),
                    consumer_generation: Some(None),
                    consumer_type: Some("MIGRATION".into()),
                    allocations: m.source.clone(),
                });
            }
            match self.placement.set_allocations(&writes, None).await {
                Ok(()) => {
                    claiming.landed();
                    return Ok(placed);
                }
                Err(e) if e.status == axum::http::StatusCode::CONFLICT => {
                    // Our own earlier claim (a repeated step) is a success.
                    let mine = match moving {
                        Some(m) => {
                            !self.placement.consumer_providers(&m.migration).await.map_err(|e| e.message)?.is_empty()
                        }
                        None => true,
                    };
                    if let Some(node) = self.claimed_node(&inst.uuid, by_uuid).await?.filter(|_| mine) {
                        return Ok(node);
                    }
                    tracing::info!(instance = %inst.uuid, host = %placed.host, error = %e.message, "claim lost a race; trying the next host");
                }
                Err(e) => return Err(e.message),
            }
        }
        Err(NO_VALID_HOST.into())
    }

    /// Where the consumer's allocations already are, if it has some.
    async fn claimed_node(
        &self,
        consumer: &str,
        by_uuid: &HashMap<String, crate::model::Node>,
    ) -> Result<Option<Placed>, String> {
        let held = self.placement.consumer_providers(consumer).await.map_err(|e| e.message)?;
        Ok(held
            .iter()
            .find_map(|u| by_uuid.get(u.as_str()))
            .map(|n| Placed { host: n.host.clone(), node: n.hypervisor_hostname.clone() }))
    }

    /// Gives back an instance's claim (idempotent).
    pub async fn release_claim(&self, uuid: &str) -> Result<(), String> {
        self.placement.delete_allocations(uuid).await.map(|_| ()).map_err(|e| e.message)
    }
}

/// Memory being claimed on a node by this controller: counted against the
/// node from the moment it is chosen until the claim failed, or for a
/// moment after it landed (until Placement's snapshot has it).
struct Inflight<'a> {
    c: &'a Compute,
    node: String,
    amounts: [i64; 3],
    landed: bool,
}

/// (weight, index of the candidate, root provider uuid).
type Choice<'s> = (f64, usize, &'s str);

impl<'a> Inflight<'a> {
    /// Takes the best remaining choice out of `choices` and counts its
    /// memory as in flight, under one short lock.
    /// `amounts`: the build's memory, VCPUs and disk; `per_unit`: what a
    /// unit of each in flight takes off a node's weight.
    fn choose<'s>(
        c: &'a Compute,
        choices: &mut Vec<Choice<'s>>,
        amounts: [i64; 3],
        per_unit: [f64; 3],
    ) -> Option<(Inflight<'a>, Choice<'s>)> {
        let mut map = c.inflight.lock().expect("inflight lock");
        let score = |ch: &Choice| {
            let held = map.get(ch.2).copied().unwrap_or_default();
            ch.0 - (0..3).map(|k| per_unit[k] * held[k] as f64).sum::<f64>()
        };
        let best = (0..choices.len()).max_by(|a, b| score(&choices[*a]).total_cmp(&score(&choices[*b])))?;
        let choice = choices.swap_remove(best);
        let held = map.entry(choice.2.to_string()).or_default();
        for k in 0..3 {
            held[k] += amounts[k];
        }
        Some((Inflight { c, node: choice.2.to_string(), amounts, landed: false }, choice))
    }

    fn landed(mut self) {
        self.landed = true;
    }
}

fn release(c: &Compute, node: &str, amounts: [i64; 3]) {
    let mut map = c.inflight.lock().expect("inflight lock");
    if let Some(v) = map.get_mut(node) {
        for k in 0..3 {
            v[k] -= amounts[k];
        }
        if v[0] <= 0 && v[1] <= 0 && v[2] <= 0 {
            map.remove(node);
        }
    }
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        if !self.landed {
            release(self.c, &self.node, self.amounts);
            return;
        }
        // A landed claim shows in the next snapshot; keep counting it until
        // then so a build that read the older snapshot does not pile on.
        let Some(c) = self.c.engine_context() else {
            release(self.c, &self.node, self.amounts);
            return;
        };
        let (node, amounts) = (std::mem::take(&mut self.node), self.amounts);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            release(&c, &node, amounts);
        });
    }
}
