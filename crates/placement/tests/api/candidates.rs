//! `GET /allocation_candidates` (1.10+), ported from allocation-candidates.yaml,
//! granular.yaml, shared-resources.yaml, allocation-candidates-member-of.yaml,
//! allocation-candidates-root-required.yaml, granular-same-subtree.yaml,
//! allocation-candidates-mappings-numa.yaml and
//! allocation-candidates-any-traits.yaml, on the same provider trees as
//! Placement's gabbi fixtures (SharedStorageFixture, GranularFixture,
//! NUMANetworkFixture).
//!
//! Allocation requests are compared as sorted lists of strings such as
//! `cn1(MEMORY_MB=1024,VCPU=1) ss(DISK_GB=100)`: provider names in order,
//! each with its resources in order.

use std::collections::{BTreeMap, HashMap};

use reqwest::Method;
use serde_json::{json, Value};

use super::root::assert_http_date;
use crate::common::*;

/// A provider tree built through the API, with names for its uuids.
pub struct Fx {
    pub pl: Pl,
    uuids: HashMap<String, String>,
    names: HashMap<String, String>,
}

impl Fx {
    pub async fn new() -> Fx {
        Fx { pl: Pl::start().await, uuids: HashMap::new(), names: HashMap::new() }
    }

    /// Creates provider `name` with its aggregates, inventory and traits.
    pub async fn add(&mut self, name: &str, parent: Option<&str>, aggs: &[&str], inventory: Value, traits: &[&str]) {
        let parent_uuid = parent.map(|p| self.u(p).to_string());
        let uuid = self.pl.provider(name, parent_uuid.as_deref()).await;
        let base = format!("/resource_providers/{uuid}");
        let mut generation = 0;
        if !aggs.is_empty() {
            let r = self
                .pl
                .put(
                    "1.19",
                    &format!("{base}/aggregates"),
                    json!({"resource_provider_generation": generation, "aggregates": aggs}),
                )
                .await;
            r.expect(200, &format!("aggregates of {name}"));
            generation += 1;
        }
        if inventory.as_object().is_some_and(|m| !m.is_empty()) {
            let r = self
                .pl
                .put(
                    LATEST,
                    &format!("{base}/inventories"),
                    json!({"resource_provider_generation": generation, "inventories": inventory}),
                )
                .await;
            r.expect(200, &format!("inventory of {name}"));
            generation += 1;
        }
        if !traits.is_empty() {
            let r = self
                .pl
                .put(
                    LATEST,
                    &format!("{base}/traits"),
                    json!({"resource_provider_generation": generation, "traits": traits}),
                )
                .await;
            r.expect(200, &format!("traits of {name}"));
        }
        self.uuids.insert(name.to_string(), uuid.clone());
        self.names.insert(uuid, name.to_string());
    }

    pub fn u(&self, name: &str) -> &str {
        self.uuids.get(name).unwrap_or_else(|| panic!("no provider {name}"))
    }

    fn name(&self, uuid: &str) -> String {
        self.names.get(uuid).cloned().unwrap_or_else(|| format!("?{uuid}"))
    }

    /// Replaces `{name}` in a query with that provider's uuid.
    fn fill(&self, query: &str) -> String {
        let mut q = query.to_string();
        for (name, uuid) in &self.uuids {
            q = q.replace(&format!("{{{name}}}"), uuid);
        }
        q
    }

    pub async fn get(&self, mv: &str, query: &str) -> Resp {
        self.pl.get(mv, &format!("/allocation_candidates?{}", self.fill(query))).await
    }

    /// `GET /allocation_candidates?{query}`, expecting 200.
    pub async fn ac(&self, mv: &str, query: &str) -> Value {
        let r = self.get(mv, query).await;
        assert_eq!(r.status, 200, "{query} at {mv}: {}", r.text);
        r.body
    }

    /// The allocation requests, normalized and sorted.
    pub fn reqs(&self, v: &Value) -> Vec<String> {
        let mut out: Vec<String> = v["allocation_requests"]
            .as_array()
            .unwrap_or_else(|| panic!("no allocation_requests in {v}"))
            .iter()
            .map(|ar| {
                let mut per_rp: BTreeMap<String, String> = BTreeMap::new();
                let mut add = |uuid: &str, res: &Value| {
                    let res: BTreeMap<String, i64> =
                        res.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_i64().unwrap())).collect();
                    let r: Vec<String> = res.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let prev = per_rp.insert(self.name(uuid), r.join(","));
                    assert!(prev.is_none(), "provider {uuid} twice in {ar}");
                };
                match &ar["allocations"] {
                    Value::Object(m) => m.iter().for_each(|(uuid, a)| add(uuid, &a["resources"])),
                    Value::Array(l) => {
                        l.iter().for_each(|a| add(a["resource_provider"]["uuid"].as_str().unwrap(), &a["resources"]))
                    }
                    other => panic!("allocations is {other}"),
                }
                per_rp.iter().map(|(n, r)| format!("{n}({r})")).collect::<Vec<_>>().join(" ")
            })
            .collect();
        out.sort();
        out
    }

    /// Mappings of each allocation request as `suffix=name,name` joined by
    /// spaces, sorted.
    pub fn mappings(&self, v: &Value) -> Vec<String> {
        let mut out: Vec<String> = v["allocation_requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ar| {
                let m = ar["mappings"].as_object().unwrap_or_else(|| panic!("no mappings in {ar}"));
                let mut parts: Vec<String> = m
                    .iter()
                    .map(|(s, rps)| {
                        let mut n: Vec<String> =
                            rps.as_array().unwrap().iter().map(|u| self.name(u.as_str().unwrap())).collect();
                        n.sort();
                        format!("{s}={}", n.join(","))
                    })
                    .collect();
                parts.sort();
                parts.join(" ")
            })
            .collect();
        out.sort();
        out
    }

    /// Names of the providers in `provider_summaries`, sorted.
    pub fn summaries(&self, v: &Value) -> Vec<String> {
        let mut out: Vec<String> = keys(&v["provider_summaries"]).iter().map(|u| self.name(u)).collect();
        out.sort();
        out
    }

    pub fn summary<'a>(&self, v: &'a Value, name: &str) -> &'a Value {
        &v["provider_summaries"][self.u(name)]
    }

    pub async fn stop(self) {
        self.pl.stop().await;
    }
}

fn s(v: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    out.sort();
    out
}

/// Placement's SharedStorageFixture: cn1 and cn2 share ss and ss2 by
/// aggregate; each compute node has two NUMA children with a PF each.
pub async fn shared_storage() -> Fx {
    let mut fx = Fx::new().await;
    let agg = new_uuid();
    let cn = json!({"VCPU": {"total": 24, "allocation_ratio": 16.0}, "MEMORY_MB": {"total": 131072, "allocation_ratio": 1.5}});
    fx.add("cn1", None, &[&agg], cn.clone(), &["HW_CPU_X86_SSE", "HW_CPU_X86_SSE2"]).await;
    let mut cn2 = cn.clone();
    cn2["DISK_GB"] = json!({"total": 2000, "reserved": 100, "allocation_ratio": 1.0});
    fx.add("cn2", None, &[&agg], cn2, &[]).await;
    for ss in ["ss", "ss2"] {
        fx.add(ss, None, &[&agg], json!({"DISK_GB": {"total": 2000, "reserved": 100}}), &["MISC_SHARES_VIA_AGGREGATE"])
            .await;
    }
    for (numa, cn) in [("numa1_1", "cn1"), ("numa1_2", "cn1"), ("numa2_1", "cn2"), ("numa2_2", "cn2")] {
        fx.add(numa, Some(cn), &[], json!({}), &[]).await;
    }
    for (pf, numa) in [("pf1_1", "numa1_1"), ("pf1_2", "numa1_2"), ("pf2_1", "numa2_1"), ("pf2_2", "numa2_2")] {
        fx.add(pf, Some(numa), &[], json!({"SRIOV_NET_VF": {"total": 8}}), &[]).await;
    }
    fx
}

pub const AGGA: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
pub const AGGB: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
pub const AGGC: &str = "cccccccc-0000-4000-8000-00000000000c";

/// Placement's GranularFixture.
pub async fn granular() -> Fx {
    let mut fx = Fx::new().await;
    fx.pl.class("CUSTOM_NET_MBPS").await;
    for t in ["CUSTOM_FOO", "CUSTOM_DISK_SSD"] {
        fx.pl.req(Method::PUT, LATEST, &format!("/traits/{t}"), None).await.expect(201, t);
    }
    fx.add(
        "cn_left",
        None,
        &[AGGA],
        json!({"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096}, "DISK_GB": {"total": 500}, "VGPU": {"total": 8},
            "SRIOV_NET_VF": {"total": 8}, "CUSTOM_NET_MBPS": {"total": 4000}}),
        &["HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_GPU_API_DXVA", "HW_NIC_DCB_PFC", "CUSTOM_FOO"],
    )
    .await;
    fx.add(
        "cn_middle",
        None,
        &[AGGA, AGGB],
        json!({"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096}, "SRIOV_NET_VF": {"total": 8}, "CUSTOM_NET_MBPS": {"total": 4000}}),
        &["HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE", "HW_NIC_ACCEL_TLS"],
    )
    .await;
    fx.add(
        "cn_right",
        None,
        &[AGGB, AGGC],
        json!({"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096}, "DISK_GB": {"total": 500}, "VGPU": {"total": 8, "max_unit": 2}}),
        &["HW_CPU_X86_MMX", "HW_GPU_API_DXVA", "CUSTOM_DISK_SSD"],
    )
    .await;
    fx.add(
        "shr_disk_1",
        None,
        &[AGGA],
        json!({"DISK_GB": {"total": 1000}}),
        &["MISC_SHARES_VIA_AGGREGATE", "CUSTOM_DISK_SSD"],
    )
    .await;
    fx.add("shr_disk_2", None, &[AGGA, AGGB], json!({"DISK_GB": {"total": 1000}}), &["MISC_SHARES_VIA_AGGREGATE"])
        .await;
    fx.add(
        "shr_net",
        None,
        &[AGGC],
        json!({"SRIOV_NET_VF": {"total": 16}, "CUSTOM_NET_MBPS": {"total": 40000}}),
        &["MISC_SHARES_VIA_AGGREGATE"],
    )
    .await;
    fx
}

/// Placement's NUMANetworkFixture (see its picture in Placement's
/// `tests/functional/fixtures/gabbits.py`).
pub async fn numa_network() -> Fx {
    let mut fx = Fx::new().await;
    fx.pl.class("CUSTOM_VF").await;
    for t in [
        "CUSTOM_FOO",
        "CUSTOM_VNIC_TYPE_DIRECT",
        "CUSTOM_VNIC_TYPE_NORMAL",
        "CUSTOM_PHYSNET0",
        "CUSTOM_PHYSNET1",
        "CUSTOM_PHYSNET2",
        "CUSTOM_HW_NIC_ROOT",
    ] {
        fx.pl.req(Method::PUT, LATEST, &format!("/traits/{t}"), None).await.expect(201, t);
    }
    let agg = AGGA;
    fx.add("ss1", None, &[agg], json!({"DISK_GB": {"total": 2000}}), &["MISC_SHARES_VIA_AGGREGATE"]).await;
    fx.add("cn1", None, &[agg], json!({}), &["COMPUTE_VOLUME_MULTI_ATTACH"]).await;
    fx.add(
        "numa0",
        Some("cn1"),
        &[],
        json!({"VCPU": {"total": 4}, "MEMORY_MB": {"total": 2048, "min_unit": 512, "step_size": 256}}),
        &["HW_NUMA_ROOT"],
    )
    .await;
    fx.add(
        "numa1",
        Some("cn1"),
        &[],
        json!({"VCPU": {"total": 4}, "MEMORY_MB": {"total": 2048, "min_unit": 256, "max_unit": 1024}}),
        &["HW_NUMA_ROOT", "CUSTOM_FOO"],
    )
    .await;
    fx.pl.allocate(&new_uuid(), on(fx.u("numa0"), json!({"VCPU": 2}))).await;
    fx.add("fpga0", Some("numa0"), &[], json!({"FPGA": {"total": 1}}), &[]).await;
    fx.add("pgpu0", Some("numa0"), &[], json!({"VGPU": {"total": 8}}), &[]).await;
    fx.add("fpga1_0", Some("numa1"), &[], json!({"FPGA": {"total": 1}}), &[]).await;
    fx.add("fpga1_1", Some("numa1"), &[], json!({"FPGA": {"total": 1}}), &[]).await;
    fx.add("sriov_agent", Some("cn1"), &[], json!({}), &["CUSTOM_VNIC_TYPE_DIRECT"]).await;
    fx.add(
        "esn1",
        Some("sriov_agent"),
        &[],
        json!({"NET_BW_EGR_KILOBIT_PER_SEC": {"total": 10000}}),
        &["CUSTOM_PHYSNET1"],
    )
    .await;
    fx.add(
        "esn2",
        Some("sriov_agent"),
        &[],
        json!({"NET_BW_EGR_KILOBIT_PER_SEC": {"total": 20000}}),
        &["CUSTOM_PHYSNET2"],
    )
    .await;
    fx.add("ovs_agent", Some("cn1"), &[], json!({}), &["CUSTOM_VNIC_TYPE_NORMAL"]).await;
    fx.add(
        "br_int",
        Some("ovs_agent"),
        &[],
        json!({"NET_BW_EGR_KILOBIT_PER_SEC": {"total": 1000}}),
        &["CUSTOM_PHYSNET0"],
    )
    .await;
    fx.add(
        "cn2",
        None,
        &[agg],
        json!({"VCPU": {"total": 8}, "MEMORY_MB": {"total": 2048, "min_unit": 1024, "step_size": 128}, "DISK_GB": {"total": 1000}}),
        &["CUSTOM_FOO"],
    )
    .await;
    fx.pl.allocate(&new_uuid(), on(fx.u("cn2"), json!({"VCPU": 3}))).await;
    for nic in ["nic1", "nic2", "nic3"] {
        fx.add(nic, Some("cn2"), &[], json!({}), &["CUSTOM_HW_NIC_ROOT"]).await;
    }
    fx.add("pf1_1", Some("nic1"), &[], json!({"CUSTOM_VF": {"total": 4}}), &["CUSTOM_PHYSNET1"]).await;
    fx.add("pf1_2", Some("nic1"), &[], json!({"CUSTOM_VF": {"total": 4}}), &["CUSTOM_PHYSNET2"]).await;
    for (i, pf) in ["pf2_1", "pf2_2", "pf2_3", "pf2_4"].iter().enumerate() {
        let net = format!("CUSTOM_PHYSNET{}", (i % 2) + 1);
        fx.add(pf, Some("nic2"), &[], json!({"CUSTOM_VF": {"total": 2}}), &[&net]).await;
    }
    fx.add("pf3_1", Some("nic3"), &[], json!({"CUSTOM_VF": {"total": 8}}), &["CUSTOM_PHYSNET1"]).await;
    fx
}

// ---------------------------------------------------------------------------
// allocation-candidates.yaml (SharedStorageFixture)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn query_errors() {
    let fx = shared_storage().await;
    let cases: &[(&str, &str, &str, &str)] = &[
        ("1.9", "resources=VCPU:1", "", ""),
        ("1.10", "resources=", UNDEFINED, "Badly formed resources parameter. Expected resources query string parameter in form"),
        ("1.10", "", UNDEFINED, "'resources' is a required property"),
        ("1.10", "resources=MCPU:99", UNDEFINED, "Invalid resource class in resources parameter"),
        ("1.15", "resources=VCPU:1&limit=5", UNDEFINED, "Invalid query string parameters"),
        ("1.16", "resources=VCPU:1&limit=cow", UNDEFINED, "does not match"),
        ("1.16", "resources=VCPU:1&limit=-99", UNDEFINED, "does not match"),
        ("1.16", "resources=VCPU:1&limit=0", UNDEFINED, "does not match"),
        ("1.16", "resources=VCPU:1&required=HW_CPU_X86_SSE", UNDEFINED, "Invalid query string parameters"),
        ("1.17", "resources=VCPU:1&required=INVALID_TRAIT", UNDEFINED, "No such trait(s)"),
        (
            "1.17",
            "resources=VCPU:1&required=",
            UNDEFINED,
            "Invalid query string parameters: Expected 'required' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC.",
        ),
        (
            "1.22",
            "resources=VCPU:1&required=",
            UNDEFINED,
            "Invalid query string parameters: Expected 'required' parameter value of the form: HW_CPU_X86_VMX,!CUSTOM_MAGIC.",
        ),
        (
            "1.17",
            "resources=VCPU:1&required=,,",
            UNDEFINED,
            "Invalid query string parameters: Expected 'required' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC.",
        ),
        (
            "1.17",
            "resources=VCPU:1&required=!CUSTOM_MAGIC",
            UNDEFINED,
            "Invalid query string parameters: Expected 'required' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC.",
        ),
        ("1.20", "resources=VCPU:1&member_of=in:{cn1}", UNDEFINED, "Invalid query string parameters"),
        ("1.30", "resources=VCPU:1&in_tree={cn1}", UNDEFINED, "Invalid query string parameters"),
        ("1.31", "resources=VCPU:1&in_tree=life-is-beautiful", UNDEFINED, "Expected 'in_tree' parameter to be a format of uuid"),
        ("1.31", "resources=VCPU:1&in_tree1={cn1}", UNDEFINED, "All request groups must specify resources."),
        ("1.10", "resources=VCPU", UNDEFINED, "Badly formed resources parameter"),
        ("1.10", "resources=VCPU:0", UNDEFINED, "Requested resource VCPU requires amount >= 1. Got: 0."),
        ("1.10", "resources=VCPU:x", UNDEFINED, "Requested resource VCPU expected positive integer amount. Got: x."),
        ("1.10", "resources=VCPU:1&cow=moo", UNDEFINED, "Invalid query string parameters"),
    ];
    for (mv, q, code, needle) in cases {
        let r = fx.get(mv, q).await;
        if code.is_empty() {
            r.error(404, UNDEFINED, &format!("{q} at {mv}"));
        } else {
            r.error_with(400, code, needle, &format!("{q} at {mv}"));
        }
    }
    fx.stop().await;
}

const NO_ALLOCS: &[&str] = &[
    "cn1(MEMORY_MB=1024,VCPU=1) ss(DISK_GB=100)",
    "cn1(MEMORY_MB=1024,VCPU=1) ss2(DISK_GB=100)",
    "cn2(DISK_GB=100,MEMORY_MB=1024,VCPU=1)",
    "cn2(MEMORY_MB=1024,VCPU=1) ss(DISK_GB=100)",
    "cn2(MEMORY_MB=1024,VCPU=1) ss2(DISK_GB=100)",
];

#[tokio::test]
async fn shared_storage_candidates_and_summaries() {
    let fx = shared_storage().await;
    let q = "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100";
    // 1.10: the list form, summaries of the requested classes only, no cache headers.
    let r = fx.get("1.10", q).await;
    let v = r.expect(200, "1.10").clone();
    assert!(r.header("cache-control").is_none() && r.header("last-modified").is_none());
    assert!(v["allocation_requests"][0]["allocations"].is_array(), "list form at 1.10: {v}");
    assert_eq!(fx.reqs(&v), s(NO_ALLOCS));
    assert_eq!(fx.summaries(&v), s(&["cn1", "cn2", "ss", "ss2"]));
    assert_eq!(
        fx.summary(&v, "cn1"),
        &json!({"resources": {"VCPU": {"capacity": 384, "used": 0}, "MEMORY_MB": {"capacity": 196608, "used": 0}}})
    );
    assert_eq!(fx.summary(&v, "cn2")["resources"]["DISK_GB"], json!({"capacity": 1900, "used": 0}));
    assert_eq!(fx.summary(&v, "ss"), &json!({"resources": {"DISK_GB": {"capacity": 1900, "used": 0}}}));
    // 1.12: the dict form.
    let v = fx.ac("1.12", q).await;
    assert!(v["allocation_requests"][0]["allocations"].is_object(), "dict form at 1.12: {v}");
    assert_eq!(fx.reqs(&v), s(NO_ALLOCS));
    // What a candidate says can be claimed as is.
    let first = v["allocation_requests"][0]["allocations"].clone();
    let c = new_uuid();
    fx.pl.allocate(&c, first.clone()).await;
    // 1.15: cache headers.
    let r = fx.get("1.15", q).await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    // Summaries show the usage.
    let v = r.body;
    let used: i64 =
        ["cn1", "cn2"].iter().map(|n| fx.summary(&v, n)["resources"]["VCPU"]["used"].as_i64().unwrap()).sum();
    assert_eq!(used, 1, "{v}");
    fx.stop().await;
}

#[tokio::test]
async fn limit() {
    let fx = shared_storage().await;
    let q = "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100";
    let v = fx.ac("1.16", &format!("{q}&limit=1")).await;
    assert_eq!(v["allocation_requests"].as_array().unwrap().len(), 1);
    // The summaries cover only what the requests name.
    let one = fx.reqs(&v);
    assert!(NO_ALLOCS.contains(&one[0].as_str()), "{one:?}");
    let named: usize = one[0].split(' ').count();
    assert_eq!(v["provider_summaries"].as_object().unwrap().len(), named, "{v}");
    // Of several limits the first counts.
    let v = fx.ac("1.16", &format!("{q}&limit=10&limit=1")).await;
    assert_eq!(v["allocation_requests"].as_array().unwrap().len(), 5);
    let v = fx.ac("1.16", &format!("{q}&limit=3")).await;
    assert_eq!(v["allocation_requests"].as_array().unwrap().len(), 3);
    // Nested: the summaries of a limited answer still hold whole trees.
    let v = fx.ac("1.29", "resources=VCPU:1,SRIOV_NET_VF:4&limit=1").await;
    assert_eq!(v["allocation_requests"].as_array().unwrap().len(), 1);
    assert_eq!(v["allocation_requests"][0]["allocations"].as_object().unwrap().len(), 2);
    assert_eq!(v["provider_summaries"].as_object().unwrap().len(), 5, "{v}");
    fx.stop().await;
}

#[tokio::test]
async fn required_and_forbidden_traits() {
    let fx = shared_storage().await;
    let q = "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100";
    for req in ["HW_CPU_X86_SSE", "HW_CPU_X86_SSE,HW_CPU_X86_SSE2"] {
        let v = fx.ac("1.17", &format!("{q}&required={req}")).await;
        assert_eq!(fx.reqs(&v), s(&NO_ALLOCS[..2]), "required={req}");
        assert_eq!(fx.summaries(&v), s(&["cn1", "ss", "ss2"]));
        let cn1 = fx.summary(&v, "cn1");
        assert_eq!(cn1.as_object().unwrap().len(), 2, "{cn1}");
        assert_eq!(sorted(&cn1["traits"]), s(&["HW_CPU_X86_SSE", "HW_CPU_X86_SSE2"]));
        assert_eq!(sorted(&fx.summary(&v, "ss")["traits"]), s(&["MISC_SHARES_VIA_AGGREGATE"]));
    }
    let v = fx.ac("1.17", &format!("{q}&required=HW_CPU_X86_SSE3")).await;
    assert_eq!(v, json!({"allocation_requests": [], "provider_summaries": {}}));
    // Forbidden at 1.22.
    let v = fx.ac("1.22", &format!("{q}&required=!HW_CPU_X86_SSE")).await;
    assert_eq!(fx.reqs(&v), s(&NO_ALLOCS[2..]));
    // Before 1.17 summaries have no traits.
    let v = fx.ac("1.16", q).await;
    assert_eq!(fx.summary(&v, "cn1").as_object().unwrap().len(), 1);
    fx.stop().await;
}

#[tokio::test]
async fn summaries_per_microversion() {
    let fx = shared_storage().await;
    // 1.26: only the requested classes.
    let v = fx.ac("1.26", "resources=VCPU:1").await;
    assert_eq!(fx.reqs(&v), s(&["cn1(VCPU=1)", "cn2(VCPU=1)"]));
    assert_eq!(fx.summaries(&v), s(&["cn1", "cn2"]));
    assert_eq!(fx.summary(&v, "cn1")["resources"], json!({"VCPU": {"capacity": 384, "used": 0}}));
    assert_eq!(fx.summary(&v, "cn2")["resources"], json!({"VCPU": {"capacity": 384, "used": 0}}));
    // 1.27: every class of the provider.
    let v = fx.ac("1.27", "resources=VCPU:1").await;
    assert_eq!(
        fx.summary(&v, "cn1")["resources"],
        json!({"VCPU": {"capacity": 384, "used": 0}, "MEMORY_MB": {"capacity": 196608, "used": 0}})
    );
    assert_eq!(fx.summary(&v, "cn2")["resources"].as_object().unwrap().len(), 3);
    assert_eq!(fx.summary(&v, "cn2")["resources"]["DISK_GB"], json!({"capacity": 1900, "used": 0}));
    // 1.28: no tree fields; 1.29: parent and root, and whole trees.
    let v = fx.ac("1.28", "resources=VCPU:1").await;
    assert_eq!(fx.summaries(&v), s(&["cn1", "cn2"]));
    assert_eq!(fx.summary(&v, "cn1").as_object().unwrap().len(), 2);
    let v = fx.ac("1.29", "resources=VCPU:1").await;
    assert_eq!(fx.reqs(&v), s(&["cn1(VCPU=1)", "cn2(VCPU=1)"]));
    assert_eq!(
        fx.summaries(&v),
        s(&["cn1", "cn2", "numa1_1", "numa1_2", "numa2_1", "numa2_2", "pf1_1", "pf1_2", "pf2_1", "pf2_2"])
    );
    let cn1 = fx.summary(&v, "cn1");
    assert_eq!(cn1.as_object().unwrap().len(), 4, "{cn1}");
    assert_eq!(
        (cn1["parent_provider_uuid"].clone(), cn1["root_provider_uuid"].clone()),
        (Value::Null, json!(fx.u("cn1")))
    );
    let numa = fx.summary(&v, "numa1_1");
    assert_eq!(
        (numa["parent_provider_uuid"].as_str(), numa["root_provider_uuid"].as_str()),
        (Some(fx.u("cn1")), Some(fx.u("cn1")))
    );
    assert_eq!(numa["resources"], json!({}));
    assert_eq!(numa["traits"], json!([]));
    let pf = fx.summary(&v, "pf1_2");
    assert_eq!(
        (pf["parent_provider_uuid"].as_str(), pf["root_provider_uuid"].as_str()),
        (Some(fx.u("numa1_2")), Some(fx.u("cn1")))
    );
    assert_eq!(pf["resources"], json!({"SRIOV_NET_VF": {"capacity": 8, "used": 0}}));
    fx.stop().await;
}

#[tokio::test]
async fn nested_providers_from_1_29() {
    let fx = shared_storage().await;
    // Only nested resources: the same four PFs at both versions.
    let pfs = s(&["pf1_1(SRIOV_NET_VF=4)", "pf1_2(SRIOV_NET_VF=4)", "pf2_1(SRIOV_NET_VF=4)", "pf2_2(SRIOV_NET_VF=4)"]);
    let v = fx.ac("1.28", "resources=SRIOV_NET_VF:4").await;
    assert_eq!(fx.reqs(&v), pfs);
    assert_eq!(fx.summaries(&v).len(), 4);
    let v = fx.ac("1.29", "resources=SRIOV_NET_VF:4").await;
    assert_eq!(fx.reqs(&v), pfs);
    assert_eq!(fx.summaries(&v).len(), 10);
    // Root and nested together: none before 1.29.
    let v = fx.ac("1.28", "resources=VCPU:1,SRIOV_NET_VF:4").await;
    assert_eq!(v, json!({"allocation_requests": [], "provider_summaries": {}}));
    let v = fx.ac("1.29", "resources=VCPU:1,SRIOV_NET_VF:4").await;
    assert_eq!(
        fx.reqs(&v),
        s(&[
            "cn1(VCPU=1) pf1_1(SRIOV_NET_VF=4)",
            "cn1(VCPU=1) pf1_2(SRIOV_NET_VF=4)",
            "cn2(VCPU=1) pf2_1(SRIOV_NET_VF=4)",
            "cn2(VCPU=1) pf2_2(SRIOV_NET_VF=4)",
        ])
    );
    assert_eq!(fx.summaries(&v).len(), 10);
    // Shared and nested, before 1.29.
    let v = fx.ac("1.28", "resources=DISK_GB:10,SRIOV_NET_VF:4").await;
    let mut want = Vec::new();
    for pf in ["pf1_1", "pf1_2", "pf2_1", "pf2_2"] {
        for ss in ["ss", "ss2"] {
            want.push(format!("{pf}(SRIOV_NET_VF=4) {ss}(DISK_GB=10)"));
        }
    }
    want.sort();
    assert_eq!(fx.reqs(&v), want);
    assert_eq!(fx.summaries(&v), s(&["pf1_1", "pf1_2", "pf2_1", "pf2_2", "ss", "ss2"]));
    fx.stop().await;
}

#[tokio::test]
async fn in_tree_from_1_31() {
    let fx = shared_storage().await;
    let cn1_pfs = s(&["cn1(VCPU=1) pf1_1(SRIOV_NET_VF=4)", "cn1(VCPU=1) pf1_2(SRIOV_NET_VF=4)"]);
    for member in ["cn1", "pf1_2"] {
        let v = fx.ac("1.31", &format!("resources=VCPU:1,SRIOV_NET_VF:4&in_tree={{{member}}}")).await;
        assert_eq!(fx.reqs(&v), cn1_pfs, "in_tree={member}");
        assert_eq!(fx.summaries(&v).len(), 5);
    }
    let v = fx.ac("1.31", "resources=VCPU:1,DISK_GB:10&in_tree={cn1}").await;
    assert!(fx.reqs(&v).is_empty());
    let v = fx.ac("1.31", "resources=VCPU:1,DISK_GB:10&in_tree={cn2}").await;
    assert_eq!(fx.reqs(&v), s(&["cn2(DISK_GB=10,VCPU=1)"]));
    let v = fx.ac("1.31", "resources=VCPU:1,DISK_GB:10&in_tree={ss}").await;
    assert!(fx.reqs(&v).is_empty());
    let v = fx.ac("1.31", &format!("resources=VCPU:1&in_tree={}", new_uuid())).await;
    assert!(fx.reqs(&v).is_empty());
    // Granular in_tree.
    for member in ["cn1", "pf1_1"] {
        let v = fx.ac("1.31", &format!("resources1=VCPU:1&in_tree1={{{member}}}")).await;
        assert_eq!(fx.reqs(&v), s(&["cn1(VCPU=1)"]), "in_tree1={member}");
        let v = fx.ac("1.31", &format!("resources1=SRIOV_NET_VF:4&in_tree1={{{member}}}")).await;
        assert_eq!(fx.reqs(&v), s(&["pf1_1(SRIOV_NET_VF=4)", "pf1_2(SRIOV_NET_VF=4)"]), "in_tree1={member}");
    }
    let v = fx.ac("1.31", "resources=VCPU:1&resources1=DISK_GB:10&in_tree1={cn1}").await;
    assert!(fx.reqs(&v).is_empty());
    let v = fx.ac("1.31", "resources=VCPU:1&resources1=DISK_GB:10&in_tree1={cn2}").await;
    assert_eq!(fx.reqs(&v), s(&["cn2(DISK_GB=10,VCPU=1)"]));
    let v = fx.ac("1.31", "resources=VCPU:1&resources1=DISK_GB:10&in_tree1={ss}").await;
    assert_eq!(fx.reqs(&v), s(&["cn1(VCPU=1) ss(DISK_GB=10)", "cn2(VCPU=1) ss(DISK_GB=10)"]));
    let v = fx.ac("1.31", "resources=VCPU:1&in_tree={cn1}&resources1=DISK_GB:10").await;
    assert_eq!(fx.reqs(&v), s(&["cn1(VCPU=1) ss(DISK_GB=10)", "cn1(VCPU=1) ss2(DISK_GB=10)"]));
    let v = fx.ac("1.31", "resources=VCPU:1&in_tree={cn2}&resources1=DISK_GB:10").await;
    assert_eq!(
        fx.reqs(&v),
        s(&["cn2(DISK_GB=10,VCPU=1)", "cn2(VCPU=1) ss(DISK_GB=10)", "cn2(VCPU=1) ss2(DISK_GB=10)"])
    );
    let v =
        fx.ac("1.31", "resources1=VCPU:1&in_tree1={cn1}&resources2=DISK_GB:10&in_tree2={ss}&group_policy=none").await;
    assert_eq!(fx.reqs(&v), s(&["cn1(VCPU=1) ss(DISK_GB=10)"]));
    fx.stop().await;
}

#[tokio::test]
async fn usage_and_capacity_limit_candidates() {
    let fx = shared_storage().await;
    // Fill cn2's local disk: only the shared disks remain for it.
    let filler = new_uuid();
    fx.pl.allocate(&filler, on(fx.u("cn2"), json!({"DISK_GB": 1900}))).await;
    let v = fx.ac("1.12", "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100").await;
    let want: Vec<&str> = NO_ALLOCS.iter().copied().filter(|r| !r.starts_with("cn2(DISK_GB")).collect();
    assert_eq!(fx.reqs(&v), s(&want));
    assert_eq!(fx.summary(&v, "cn2")["resources"]["DISK_GB"], json!({"capacity": 1900, "used": 1900}));
    // Deleting the allocation gives the disk back to the candidates at once.
    assert_eq!(fx.pl.delete(LATEST, &format!("/allocations/{filler}")).await.status, 204);
    let v = fx.ac("1.12", "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100").await;
    assert_eq!(fx.reqs(&v), s(NO_ALLOCS));
    assert_eq!(fx.summary(&v, "cn2")["resources"]["DISK_GB"], json!({"capacity": 1900, "used": 0}));
    fx.pl.allocate(&filler, on(fx.u("cn2"), json!({"DISK_GB": 1900}))).await;
    // More than any capacity.
    let v = fx.ac("1.12", "resources=DISK_GB:1901").await;
    assert!(fx.reqs(&v).is_empty());
    let v = fx.ac("1.12", "resources=DISK_GB:1900").await;
    assert_eq!(fx.reqs(&v), s(&["ss(DISK_GB=1900)", "ss2(DISK_GB=1900)"]));
    fx.stop().await;
}

// ---------------------------------------------------------------------------
// member_of (allocation-candidates-member-of.yaml)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn member_of() {
    let fx = granular().await;
    let v = fx.ac("1.21", &format!("resources=VCPU:1&member_of={AGGC}")).await;
    assert_eq!(fx.reqs(&v), s(&["cn_right(VCPU=1)"]));
    let v = fx.ac("1.21", &format!("resources=VCPU:1&member_of=in:{AGGB},{AGGC}")).await;
    assert_eq!(fx.reqs(&v), s(&["cn_middle(VCPU=1)", "cn_right(VCPU=1)"]));
    fx.get("1.21", &format!("resources=VCPU:1&member_of={AGGB}&member_of={AGGC}")).await.error_with(
        400,
        UNDEFINED,
        "Multiple member_of parameters are not supported",
        "two member_of at 1.21",
    );
    fx.get("1.21", &format!("resources=VCPU:1&member_of={AGGB},{AGGC}")).await.error_with(
        400,
        UNDEFINED,
        "Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword",
        "comma",
    );
    fx.get("1.21", "resources=VCPU:1&member_of=not-a-uuid").await.error_with(
        400,
        UNDEFINED,
        "Expected 'member_of' parameter to contain valid UUID(s)",
        "not a uuid",
    );
    // 1.24: ANDed.
    let v = fx.ac("1.24", &format!("resources=VCPU:1&member_of={AGGB}&member_of={AGGC}")).await;
    assert_eq!(fx.reqs(&v), s(&["cn_right(VCPU=1)"]));
    let v = fx.ac("1.24", &format!("resources=VCPU:1&member_of={AGGA}&member_of={AGGC}")).await;
    assert!(fx.reqs(&v).is_empty());
    // 1.32: forbidden.
    fx.get("1.31", &format!("resources=VCPU:1&member_of=!{AGGA}")).await.error_with(
        400,
        UNDEFINED,
        "Forbidden member_of parameters are not supported in the specified microversion",
        "! at 1.31",
    );
    let v = fx.ac("1.32", &format!("resources=VCPU:1&member_of=!{AGGA}")).await;
    assert_eq!(fx.reqs(&v), s(&["cn_right(VCPU=1)"]));
    let v = fx.ac("1.32", &format!("resources=VCPU:1&member_of=!in:{AGGA},{AGGC}")).await;
    assert!(fx.reqs(&v).is_empty());
    let v = fx.ac("1.32", &format!("resources=VCPU:1&member_of=in:{AGGB},{AGGA}&member_of=!{AGGC}")).await;
    assert_eq!(fx.reqs(&v), s(&["cn_left(VCPU=1)", "cn_middle(VCPU=1)"]));
    // A sharing provider serves a compute node only through a shared aggregate.
    let v = fx.ac("1.21", &format!("resources=VCPU:1,DISK_GB:100&member_of={AGGB}")).await;
    assert_eq!(
        fx.reqs(&v),
        s(&[
            "cn_middle(VCPU=1) shr_disk_2(DISK_GB=100)",
            "cn_right(DISK_GB=100,VCPU=1)",
            "cn_right(VCPU=1) shr_disk_2(DISK_GB=100)",
        ])
    );
    fx.stop().await;
}

// ---------------------------------------------------------------------------
// granular.yaml (GranularFixture)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn granular_groups_and_group_policy() {
    let fx = granular().await;
    let mv = "1.25";
    let cns =
        s(&["cn_left(MEMORY_MB=1024,VCPU=1)", "cn_middle(MEMORY_MB=1024,VCPU=1)", "cn_right(MEMORY_MB=1024,VCPU=1)"]);
    let v = fx.ac(mv, "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=none").await;
    assert_eq!(fx.reqs(&v), cns);
    assert_eq!(fx.summaries(&v), s(&["cn_left", "cn_middle", "cn_right"]));
    assert_eq!(
        fx.summary(&v, "cn_left")["resources"],
        json!({"VCPU": {"capacity": 8, "used": 0}, "MEMORY_MB": {"capacity": 4096, "used": 0}})
    );
    let empty = json!({"allocation_requests": [], "provider_summaries": {}});
    assert_eq!(fx.ac(mv, "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=isolate").await, empty);
    // Of several group_policy values the first counts.
    assert_eq!(
        fx.ac(mv, "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=isolate&group_policy=none").await,
        empty
    );
    let v = fx
        .ac(mv, "resources=VCPU:3,MEMORY_MB:512&resources1=VCPU:1,MEMORY_MB:1024&resources2=VCPU:2&group_policy=none")
        .await;
    assert_eq!(
        fx.reqs(&v),
        s(&["cn_left(MEMORY_MB=1536,VCPU=6)", "cn_middle(MEMORY_MB=1536,VCPU=6)", "cn_right(MEMORY_MB=1536,VCPU=6)"])
    );
    let v = fx.ac(mv, "resources=VCPU:1&resources1=MEMORY_MB:2048").await;
    assert_eq!(fx.reqs(&v).len(), 3);
    // Disk from a sharing provider or locally.
    let v = fx.ac(mv, "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&group_policy=isolate").await;
    assert_eq!(
        fx.reqs(&v),
        s(&[
            "cn_left(MEMORY_MB=1024,VCPU=1) shr_disk_1(DISK_GB=100)",
            "cn_left(MEMORY_MB=1024,VCPU=1) shr_disk_2(DISK_GB=100)",
            "cn_middle(MEMORY_MB=1024,VCPU=1) shr_disk_1(DISK_GB=100)",
            "cn_middle(MEMORY_MB=1024,VCPU=1) shr_disk_2(DISK_GB=100)",
            "cn_right(MEMORY_MB=1024,VCPU=1) shr_disk_2(DISK_GB=100)",
        ])
    );
    assert_eq!(fx.summaries(&v).len(), 5);
    let v = fx.ac(mv, "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&group_policy=none").await;
    assert_eq!(
        fx.reqs(&v),
        s(&[
            "cn_left(DISK_GB=100,MEMORY_MB=1024,VCPU=1)",
            "cn_left(MEMORY_MB=1024,VCPU=1) shr_disk_1(DISK_GB=100)",
            "cn_left(MEMORY_MB=1024,VCPU=1) shr_disk_2(DISK_GB=100)",
            "cn_middle(MEMORY_MB=1024,VCPU=1) shr_disk_1(DISK_GB=100)",
            "cn_middle(MEMORY_MB=1024,VCPU=1) shr_disk_2(DISK_GB=100)",
            "cn_right(DISK_GB=100,MEMORY_MB=1024,VCPU=1)",
            "cn_right(MEMORY_MB=1024,VCPU=1) shr_disk_2(DISK_GB=100)",
        ])
    );
    for q in ["resources1=DISK_GB:800", "resources=DISK_GB:800"] {
        let v = fx.ac(mv, q).await;
        assert_eq!(fx.reqs(&v), s(&["shr_disk_1(DISK_GB=800)", "shr_disk_2(DISK_GB=800)"]), "{q}");
    }
    fx.stop().await;
}

#[tokio::test]
async fn granular_traits_and_member_of() {
    let fx = granular().await;
    let mv = "1.25";
    let v = fx
        .ac(
            mv,
            "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&required2=CUSTOM_DISK_SSD&group_policy=isolate",
        )
        .await;
    assert_eq!(
        fx.reqs(&v),
        s(&[
            "cn_left(MEMORY_MB=1024,VCPU=1) shr_disk_1(DISK_GB=100)",
            "cn_middle(MEMORY_MB=1024,VCPU=1) shr_disk_1(DISK_GB=100)"
        ])
    );
    assert_eq!(fx.summaries(&v), s(&["cn_left", "cn_middle", "shr_disk_1"]));
    assert_eq!(
        fx.summary(&v, "cn_left")["resources"],
        json!({"VCPU": {"capacity": 8, "used": 0}, "MEMORY_MB": {"capacity": 4096, "used": 0}, "DISK_GB": {"capacity": 500, "used": 0}})
    );
    let v = fx.ac(mv, "resources1=VCPU:1&resources2=DISK_GB:100&required2=!CUSTOM_DISK_SSD&group_policy=none").await;
    assert_eq!(
        fx.reqs(&v),
        s(&[
            "cn_left(DISK_GB=100,VCPU=1)",
            "cn_left(VCPU=1) shr_disk_2(DISK_GB=100)",
            "cn_middle(VCPU=1) shr_disk_2(DISK_GB=100)",
            "cn_right(VCPU=1) shr_disk_2(DISK_GB=100)",
        ])
    );
    let v = fx.ac(mv, &format!("resources1=VCPU:1&resources2=DISK_GB:100&member_of2={AGGC}&group_policy=none")).await;
    assert_eq!(fx.reqs(&v), s(&["cn_right(DISK_GB=100,VCPU=1)"]));
    assert_eq!(fx.summaries(&v), s(&["cn_right"]));
    let q = format!(
        "resources1=VCPU:1&required1=!HW_CPU_X86_SSE&resources2=DISK_GB:100&required2=CUSTOM_DISK_SSD&member_of2=in:{AGGA},{AGGC}&group_policy=none"
    );
    let want = s(&["cn_left(VCPU=1) shr_disk_1(DISK_GB=100)", "cn_right(DISK_GB=100,VCPU=1)"]);
    let v = fx.ac(mv, &q).await;
    assert_eq!(fx.reqs(&v), want);
    assert_eq!(fx.summaries(&v), s(&["cn_left", "cn_right", "shr_disk_1"]));
    // String suffixes at 1.33.
    let q33 = q.replace("resources1", "resources_compute").replace("required1", "required_compute");
    let q33 = q33
        .replace("resources2", "resources_disk")
        .replace("required2", "required_disk")
        .replace("member_of2", "member_of_disk");
    fx.get("1.32", &q33).await.error_with(400, UNDEFINED, "Invalid query string parameters", "string suffix at 1.32");
    let v = fx.ac("1.33", &q33).await;
    assert_eq!(fx.reqs(&v), want);
    let v = fx
        .ac(mv, &format!("resources1=VCPU:1&resources2=DISK_GB:100&member_of2=in:{AGGB},{AGGC}&member_of2={AGGA}&group_policy=isolate"))
        .await;
    assert_eq!(
        fx.reqs(&v),
        s(&[
            "cn_left(VCPU=1) shr_disk_2(DISK_GB=100)",
            "cn_middle(VCPU=1) shr_disk_2(DISK_GB=100)",
            "cn_right(VCPU=1) shr_disk_2(DISK_GB=100)",
        ])
    );
    fx.stop().await;
}

#[tokio::test]
async fn granular_many_groups_and_limits() {
    let fx = granular().await;
    let mv = "1.25";
    let q = "resources1=VCPU:1&resources2=VGPU:1&required2=HW_GPU_API_DXVA&resources3=MEMORY_MB:1024\
        &resources4=DISK_GB:100&required4=CUSTOM_DISK_SSD&resources5=DISK_GB:50&required5=!CUSTOM_DISK_SSD\
        &resources6=SRIOV_NET_VF:1,CUSTOM_NET_MBPS:1000&resources7=SRIOV_NET_VF:2,CUSTOM_NET_MBPS:2000&group_policy=none";
    let v = fx.ac(mv, q).await;
    assert_eq!(
        fx.reqs(&v),
        s(&[
            "cn_left(CUSTOM_NET_MBPS=3000,DISK_GB=50,MEMORY_MB=1024,SRIOV_NET_VF=3,VCPU=1,VGPU=1) shr_disk_1(DISK_GB=100)",
            "cn_left(CUSTOM_NET_MBPS=3000,MEMORY_MB=1024,SRIOV_NET_VF=3,VCPU=1,VGPU=1) shr_disk_1(DISK_GB=100) shr_disk_2(DISK_GB=50)",
            "cn_right(DISK_GB=100,MEMORY_MB=1024,VCPU=1,VGPU=1) shr_disk_2(DISK_GB=50) shr_net(CUSTOM_NET_MBPS=3000,SRIOV_NET_VF=3)",
        ])
    );
    assert_eq!(fx.summaries(&v), s(&["cn_left", "cn_right", "shr_disk_1", "shr_disk_2", "shr_net"]));
    let v = fx.ac(mv, "resources=VCPU:2,MEMORY_MB:2048,SRIOV_NET_VF:1,CUSTOM_NET_MBPS:2000&resources1=SRIOV_NET_VF:1,CUSTOM_NET_MBPS:3000").await;
    assert_eq!(fx.reqs(&v), s(&["cn_right(MEMORY_MB=2048,VCPU=2) shr_net(CUSTOM_NET_MBPS=5000,SRIOV_NET_VF=2)"]));
    let v = fx.ac(mv, "resources=VGPU:1&resources1=VGPU:1&resources2=VGPU:1&group_policy=none").await;
    assert_eq!(fx.reqs(&v), s(&["cn_left(VGPU=3)"]));
    assert_eq!(fx.summaries(&v), s(&["cn_left"]));
    fx.stop().await;
}

#[tokio::test]
async fn granular_query_errors() {
    let fx = granular().await;
    let cases: Vec<(&str, String, &str)> = vec![
        ("1.24", "resources=MEMORY_MB:1024&resources1=VCPU:1".into(), "'resources1' was unexpected"),
        ("1.24", "resources=MEMORY_MB:1024&required2=HW_CPU_X86_AVX2".into(), "'required2' was unexpected"),
        ("1.24", format!("resources=MEMORY_MB:1024&member_of3={AGGB}"), "'member_of3' was unexpected"),
        ("1.24", "resources=VCPU:1&group_policy=isolate".into(), "'group_policy' was unexpected"),
        ("1.25", "resources01=VCPU:1".into(), "'resources01'"),
        ("1.25", "resources_A=VCPU:1".into(), "'resources_A'"),
        ("1.33", "resources1%40=VCPU:1".into(), "'resources1@'"),
        (
            "1.33",
            format!("resources_{}=VCPU:1", "0123456701234567012345670123456701234567012345670123456701234567"),
            "Invalid query string parameters",
        ),
        ("1.25", "resources=VCPU:1&group_policy=bogus".into(), "'bogus' is not one of ['none', 'isolate']"),
        (
            "1.25",
            "resources1=VCPU:1&resources2=VCPU:1".into(),
            "The \"group_policy\" parameter is required when specifying more than one \"resources{N}\" parameter.",
        ),
        ("1.25", "required=FOO&required1=BAR".into(), "Found the following orphaned traits keys: required, required1"),
        (
            "1.25",
            format!("member_of={AGGA}&member_of3={AGGC}"),
            "Found the following orphaned member_of keys: member_of, member_of3",
        ),
        (
            "1.25",
            "group_policy=isolate".into(),
            "At least one request group (`resources` or `resources{$S}`) is required.",
        ),
        ("1.25", "resources1=VCPU:1&required1=CUSTOM_NOPE".into(), "No such trait(s): CUSTOM_NOPE"),
        (
            "1.25",
            "resources1=VCPU:1&required1=HW_CPU_X86_AVX,!HW_CPU_X86_AVX".into(),
            "Conflicting required and forbidden traits found in the following traits keys: required1: (HW_CPU_X86_AVX)",
        ),
    ];
    for (mv, q, needle) in cases {
        fx.get(mv, &q).await.error_with(400, UNDEFINED, needle, &format!("{q} at {mv}"));
    }
    fx.stop().await;
}

// ---------------------------------------------------------------------------
// NUMANetworkFixture: mappings (1.34), root_required (1.35), same_subtree (1.36)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn mappings_at_1_34() {
    let fx = numa_network().await;
    let v = fx.ac("1.34", "resources=VCPU:1").await;
    assert_eq!(fx.reqs(&v), s(&["cn2(VCPU=1)", "numa0(VCPU=1)", "numa1(VCPU=1)"]));
    assert_eq!(fx.mappings(&v), s(&["=cn2", "=numa0", "=numa1"]));
    assert_eq!(fx.summaries(&v).len(), 23);
    for ar in v["allocation_requests"].as_array().unwrap() {
        assert_eq!(ar.as_object().unwrap().len(), 2, "{ar}");
    }
    let v = fx.ac("1.33", "resources=VCPU:1").await;
    assert_eq!(fx.reqs(&v).len(), 3);
    for ar in v["allocation_requests"].as_array().unwrap() {
        assert_eq!(ar.as_object().unwrap().len(), 1, "no mappings at 1.33: {ar}");
    }
    let v = fx.ac("1.34", "resources_LEFT=VCPU:1&resources_RIGHT=VCPU:1&group_policy=isolate").await;
    assert_eq!(fx.reqs(&v), s(&["numa0(VCPU=1) numa1(VCPU=1)", "numa0(VCPU=1) numa1(VCPU=1)"]));
    assert_eq!(fx.mappings(&v), s(&["_LEFT=numa0 _RIGHT=numa1", "_LEFT=numa1 _RIGHT=numa0"]));
    assert_eq!(fx.summaries(&v).len(), 12);
    let q = "required_NET1=CUSTOM_PHYSNET1&resources_NET1=NET_BW_EGR_KILOBIT_PER_SEC:10\
        &required_NET2=CUSTOM_PHYSNET2&resources_NET2=NET_BW_EGR_KILOBIT_PER_SEC:20&resources=VCPU:1&group_policy=isolate";
    let v = fx.ac("1.34", q).await;
    assert_eq!(fx.mappings(&v), s(&["=numa0 _NET1=esn1 _NET2=esn2", "=numa1 _NET1=esn1 _NET2=esn2"]));
    // The same provider serves both groups.
    let v = fx
        .ac(
            "1.34",
            "resources_BWA=NET_BW_EGR_KILOBIT_PER_SEC:10&required_BWA=CUSTOM_PHYSNET1\
            &resources_BWB=NET_BW_EGR_KILOBIT_PER_SEC:20&required_BWB=CUSTOM_PHYSNET1&group_policy=none",
        )
        .await;
    assert_eq!(fx.reqs(&v), s(&["esn1(NET_BW_EGR_KILOBIT_PER_SEC=30)"]));
    assert_eq!(fx.mappings(&v), s(&["_BWA=esn1 _BWB=esn1"]));
    // What a candidate maps can be written with the allocations.
    let ar = &v["allocation_requests"][0];
    let body = json!({"allocations": ar["allocations"], "mappings": ar["mappings"], "project_id": PROJECT,
        "user_id": USER, "consumer_generation": null});
    fx.pl.put("1.34", &format!("/allocations/{}", new_uuid()), body).await.expect(204, "claim with mappings");
    fx.stop().await;
}

#[tokio::test]
async fn root_required_at_1_35() {
    let fx = numa_network().await;
    let mv = "1.35";
    fx.get("1.34", "resources=VCPU:1&root_required=HW_CPU_X86_AVX2").await.error_with(
        400,
        UNDEFINED,
        "Invalid query string parameters",
        "root_required at 1.34",
    );
    fx.get(mv, "resources=VCPU:1&root_required=HW_CPU_X86_AVX2,HW_CPU_X86_SSE,!HW_CPU_X86_AVX2").await.error_with(
        400,
        "placement.query.bad_value",
        "Conflicting required and forbidden traits found in root_required: HW_CPU_X86_AVX2",
        "conflict",
    );
    for q in [
        "root_required=CUSTOM_NO_EXIST,HW_CPU_X86_SSE,!HW_CPU_X86_AVX",
        "root_required=!CUSTOM_NO_EXIST,HW_CPU_X86_SSE",
    ] {
        fx.get(mv, &format!("resources=VCPU:1&{q}")).await.error_with(
            400,
            UNDEFINED,
            "No such trait(s): CUSTOM_NO_EXIST",
            q,
        );
    }
    fx.get(mv, "resources=VCPU:1&root_required=MISC_SHARES_VIA_AGGREGATE&root_required=!HW_NUMA_ROOT")
        .await
        .error_with(
            400,
            "placement.query.duplicate_key",
            "Query parameter 'root_required' may be specified only once.",
            "twice",
        );
    let none: &[&str] = &[];
    let vcpu_mem_disk = "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100";
    for (q, want) in [
        ("resources=VCPU:1&root_required=HW_NUMA_ROOT".to_string(), none),
        (format!("{vcpu_mem_disk}&root_required=MISC_SHARES_VIA_AGGREGATE"), none),
        (format!("{vcpu_mem_disk}&root_required=HW_CPU_X86_AVX2"), none),
        (
            "resources=VCPU:1,MEMORY_MB:1024&root_required=COMPUTE_VOLUME_MULTI_ATTACH".to_string(),
            &[
                "numa0(MEMORY_MB=1024) numa1(VCPU=1)",
                "numa0(MEMORY_MB=1024,VCPU=1)",
                "numa0(VCPU=1) numa1(MEMORY_MB=1024)",
                "numa1(MEMORY_MB=1024,VCPU=1)",
            ][..],
        ),
        (
            "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=isolate&root_required=COMPUTE_VOLUME_MULTI_ATTACH".to_string(),
            &["numa0(MEMORY_MB=1024) numa1(VCPU=1)", "numa0(VCPU=1) numa1(MEMORY_MB=1024)"][..],
        ),
        (
            "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=none&root_required=COMPUTE_VOLUME_MULTI_ATTACH".to_string(),
            &[
                "numa0(MEMORY_MB=1024) numa1(VCPU=1)",
                "numa0(MEMORY_MB=1024,VCPU=1)",
                "numa0(VCPU=1) numa1(MEMORY_MB=1024)",
                "numa1(MEMORY_MB=1024,VCPU=1)",
            ][..],
        ),
        (
            "resources=VCPU:1,DISK_GB:100&required=CUSTOM_FOO".to_string(),
            &["cn2(DISK_GB=100,VCPU=1)", "cn2(VCPU=1) ss1(DISK_GB=100)", "numa1(VCPU=1) ss1(DISK_GB=100)"][..],
        ),
        (
            "resources=VCPU:1,DISK_GB:100&root_required=CUSTOM_FOO".to_string(),
            &["cn2(DISK_GB=100,VCPU=1)", "cn2(VCPU=1) ss1(DISK_GB=100)"][..],
        ),
        (
            "resources1=VCPU:1&resources2=DISK_GB:100&group_policy=none&root_required=CUSTOM_FOO".to_string(),
            &["cn2(DISK_GB=100,VCPU=1)", "cn2(VCPU=1) ss1(DISK_GB=100)"][..],
        ),
        (
            "resources=VCPU:3&root_required=!HW_NUMA_ROOT".to_string(),
            &["cn2(VCPU=3)", "numa1(VCPU=3)"][..],
        ),
        (
            format!("{vcpu_mem_disk}&root_required=CUSTOM_FOO,!HW_NUMA_ROOT"),
            &["cn2(DISK_GB=100,MEMORY_MB=1024,VCPU=1)", "cn2(MEMORY_MB=1024,VCPU=1) ss1(DISK_GB=100)"][..],
        ),
        (
            format!("{vcpu_mem_disk}&root_required=CUSTOM_FOO,!COMPUTE_VOLUME_MULTI_ATTACH"),
            &["cn2(DISK_GB=100,MEMORY_MB=1024,VCPU=1)", "cn2(MEMORY_MB=1024,VCPU=1) ss1(DISK_GB=100)"][..],
        ),
        (format!("{vcpu_mem_disk}&root_required=!CUSTOM_FOO,!COMPUTE_VOLUME_MULTI_ATTACH"), none),
        (
            "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&group_policy=none&root_required=!CUSTOM_FOO".to_string(),
            &["numa0(MEMORY_MB=1024,VCPU=1) ss1(DISK_GB=100)", "numa1(MEMORY_MB=1024,VCPU=1) ss1(DISK_GB=100)"][..],
        ),
        ("resources=VCPU:1&required=CUSTOM_FOO&root_required=CUSTOM_FOO".to_string(), &["cn2(VCPU=1)"][..]),
        ("resources1=VCPU:1&required1=CUSTOM_FOO&root_required=CUSTOM_FOO".to_string(), &["cn2(VCPU=1)"][..]),
        ("resources1=VCPU:1&required1=CUSTOM_FOO&root_required=!CUSTOM_FOO".to_string(), &["numa1(VCPU=1)"][..]),
        ("resources1=VCPU:1&required1=!CUSTOM_FOO&root_required=CUSTOM_FOO".to_string(), none),
    ] {
        let v = fx.ac(mv, &q).await;
        assert_eq!(fx.reqs(&v), s(want), "{q}");
    }
    // Summaries hold the whole trees that serve, and the sharing provider.
    let v = fx.ac(mv, "resources=VCPU:1,DISK_GB:100&root_required=CUSTOM_FOO").await;
    assert_eq!(
        fx.summaries(&v),
        s(&["cn2", "nic1", "nic2", "nic3", "pf1_1", "pf1_2", "pf2_1", "pf2_2", "pf2_3", "pf2_4", "pf3_1", "ss1"])
    );
    assert_eq!(fx.mappings(&v), s(&["=cn2", "=cn2,ss1"]));
    let v = fx.ac(mv, "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=isolate&root_required=COMPUTE_VOLUME_MULTI_ATTACH").await;
    assert_eq!(fx.mappings(&v), s(&["1=numa0 2=numa1", "1=numa1 2=numa0"]));
    let v = fx.ac(mv, &format!("{vcpu_mem_disk}&root_required=!MISC_SHARES_VIA_AGGREGATE")).await;
    assert_eq!(fx.reqs(&v).len(), 6);
    assert_eq!(fx.reqs(&v).iter().filter(|r| r.contains("ss1(DISK_GB=100)")).count(), 5);
    // Summaries of a sharing answer show the traits.
    let v = fx.ac(mv, &format!("{vcpu_mem_disk}&root_required=COMPUTE_VOLUME_MULTI_ATTACH")).await;
    assert_eq!(
        fx.reqs(&v),
        s(&[
            "numa0(MEMORY_MB=1024,VCPU=1) ss1(DISK_GB=100)",
            "numa1(MEMORY_MB=1024,VCPU=1) ss1(DISK_GB=100)",
            "numa0(VCPU=1) numa1(MEMORY_MB=1024) ss1(DISK_GB=100)",
            "numa0(MEMORY_MB=1024) numa1(VCPU=1) ss1(DISK_GB=100)",
        ])
    );
    assert_eq!(sorted(&fx.summary(&v, "numa1")["traits"]), s(&["CUSTOM_FOO", "HW_NUMA_ROOT"]));
    fx.stop().await;
}

#[tokio::test]
async fn same_subtree_at_1_36() {
    let fx = numa_network().await;
    let mv = "1.36";
    let errors: Vec<(String, &str, &str)> = vec![
        (
            "resources1=VCPU:1&required2=COMPUTE_VOLUME_MULTI_ATTACH&group_policy=none".into(),
            "placement.query.bad_value",
            "Resourceless suffixed group request should be specified in `same_subtree` query param",
        ),
        (
            format!("resources1=VCPU:1&member_of2={AGGA}&group_policy=none"),
            "placement.query.bad_value",
            "Resourceless suffixed group request should be specified in `same_subtree` query param",
        ),
        (
            format!("member_of1={AGGA}&group_policy=none"),
            "placement.query.missing_value",
            "There must be at least one resources or resources[$S] parameter.",
        ),
        (
            "resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&same_subtree=COMPUTE,_ACCEL&group_policy=none".into(),
            "placement.query.bad_value",
            "Real suffixes should be specified in `same_subtree`:",
        ),
        (
            "resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&same_subtree=_COMPUTE,,_ACCEL&group_policy=none".into(),
            "placement.query.bad_value",
            "Empty string (unsuffixed group) can not be specified in `same_subtree`",
        ),
    ];
    for (q, code, needle) in errors {
        fx.get(mv, &q).await.error_with(400, code, needle, &q);
    }
    fx.get("1.35", "resources_A=VCPU:1&same_subtree=_A").await.error_with(
        400,
        UNDEFINED,
        "Invalid query string parameters",
        "same_subtree at 1.35",
    );
    let all6 = s(&[
        "fpga0(FPGA=1) numa0(VCPU=1)",
        "fpga0(FPGA=1) numa1(VCPU=1)",
        "fpga1_0(FPGA=1) numa0(VCPU=1)",
        "fpga1_0(FPGA=1) numa1(VCPU=1)",
        "fpga1_1(FPGA=1) numa0(VCPU=1)",
        "fpga1_1(FPGA=1) numa1(VCPU=1)",
    ]);
    let v = fx.ac(mv, "resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&group_policy=none").await;
    assert_eq!(fx.reqs(&v), all6);
    let v = fx.ac(mv, "resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&same_subtree=_COMPUTE&group_policy=none").await;
    assert_eq!(fx.reqs(&v), all6);
    let v = fx
        .ac(mv, "resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&same_subtree=_COMPUTE,_ACCEL&group_policy=none")
        .await;
    assert_eq!(
        fx.reqs(&v),
        s(&["fpga0(FPGA=1) numa0(VCPU=1)", "fpga1_0(FPGA=1) numa1(VCPU=1)", "fpga1_1(FPGA=1) numa1(VCPU=1)"])
    );
    let v = fx
        .ac(mv, "resources_COMPUTE1=VCPU:1&resources_COMPUTE2=MEMORY_MB:1024&same_subtree=_COMPUTE1,_COMPUTE2&group_policy=none")
        .await;
    assert_eq!(
        fx.reqs(&v),
        s(&["cn2(MEMORY_MB=1024,VCPU=1)", "numa0(MEMORY_MB=1024,VCPU=1)", "numa1(MEMORY_MB=1024,VCPU=1)"])
    );
    let v = fx
        .ac(mv, "resources_COMPUTE1=VCPU:1&resources_COMPUTE2=MEMORY_MB:1024&same_subtree=_COMPUTE1,_COMPUTE2&group_policy=isolate")
        .await;
    assert!(fx.reqs(&v).is_empty());
    let v = fx
        .ac(
            mv,
            "resources=VCPU:1&resources_PORT1=CUSTOM_VF:4&required_PORT1=CUSTOM_PHYSNET1\
            &resources_PORT2=CUSTOM_VF:4&required_PORT2=CUSTOM_PHYSNET2&group_policy=none",
        )
        .await;
    assert_eq!(
        fx.reqs(&v),
        s(&["cn2(VCPU=1) pf1_1(CUSTOM_VF=4) pf1_2(CUSTOM_VF=4)", "cn2(VCPU=1) pf1_2(CUSTOM_VF=4) pf3_1(CUSTOM_VF=4)",])
    );
    // A resourceless group pins the ports under one NIC.
    let v = fx
        .ac(
            mv,
            "resources=VCPU:1&required_NIC=CUSTOM_HW_NIC_ROOT&resources_PORT1=CUSTOM_VF:4&required_PORT1=CUSTOM_PHYSNET1\
            &resources_PORT2=CUSTOM_VF:4&required_PORT2=CUSTOM_PHYSNET2&same_subtree=_NIC,_PORT1,_PORT2&group_policy=none",
        )
        .await;
    assert_eq!(fx.reqs(&v), s(&["cn2(VCPU=1) pf1_1(CUSTOM_VF=4) pf1_2(CUSTOM_VF=4)"]));
    assert_eq!(fx.mappings(&v), s(&["=cn2 _NIC=nic1 _PORT1=pf1_1 _PORT2=pf1_2"]));
    let v = fx
        .ac(
            mv,
            "resources=VCPU:1&required_NIC=CUSTOM_HW_NIC_ROOT&resources_PORT1=CUSTOM_VF:2&required_PORT1=CUSTOM_PHYSNET1\
            &resources_PORT2=CUSTOM_VF:2&required_PORT2=CUSTOM_PHYSNET2&same_subtree=_NIC,_PORT1,_PORT2&group_policy=none",
        )
        .await;
    let two_vfs = s(&[
        "cn2(VCPU=1) pf1_1(CUSTOM_VF=2) pf1_2(CUSTOM_VF=2)",
        "cn2(VCPU=1) pf2_1(CUSTOM_VF=2) pf2_2(CUSTOM_VF=2)",
        "cn2(VCPU=1) pf2_1(CUSTOM_VF=2) pf2_4(CUSTOM_VF=2)",
        "cn2(VCPU=1) pf2_2(CUSTOM_VF=2) pf2_3(CUSTOM_VF=2)",
        "cn2(VCPU=1) pf2_3(CUSTOM_VF=2) pf2_4(CUSTOM_VF=2)",
    ]);
    let two_vf_maps = s(&[
        "=cn2 _NIC=nic1 _PORT1=pf1_1 _PORT2=pf1_2",
        "=cn2 _NIC=nic2 _PORT1=pf2_1 _PORT2=pf2_2",
        "=cn2 _NIC=nic2 _PORT1=pf2_1 _PORT2=pf2_4",
        "=cn2 _NIC=nic2 _PORT1=pf2_3 _PORT2=pf2_2",
        "=cn2 _NIC=nic2 _PORT1=pf2_3 _PORT2=pf2_4",
    ]);
    assert_eq!(fx.reqs(&v), two_vfs);
    assert_eq!(fx.mappings(&v), two_vf_maps);
    assert_eq!(
        fx.summaries(&v),
        s(&["cn2", "nic1", "nic2", "nic3", "pf1_1", "pf1_2", "pf2_1", "pf2_2", "pf2_3", "pf2_4", "pf3_1"])
    );
    // isolate does not keep a resourceless group off the providers of others.
    let v = fx
        .ac(
            mv,
            "resources=VCPU:1&required_NIC=CUSTOM_HW_NIC_ROOT&resources_PORT1=CUSTOM_VF:2&required_PORT1=CUSTOM_PHYSNET1\
            &resources_PORT2=CUSTOM_VF:2&required_PORT2=CUSTOM_PHYSNET2&same_subtree=_NIC,_PORT1,_PORT2&group_policy=isolate",
        )
        .await;
    assert_eq!(fx.reqs(&v), two_vfs);
    assert_eq!(fx.mappings(&v), two_vf_maps);
    fx.stop().await;
}

#[tokio::test]
async fn resourceless_groups_at_1_36() {
    let fx = numa_network().await;
    let mv = "1.36";
    // One candidate per provider the resourceless group can land on.
    let v = fx.ac(mv, "resources_A=VCPU:1&required_B=CUSTOM_HW_NIC_ROOT&same_subtree=_A,_B&group_policy=none").await;
    assert_eq!(fx.reqs(&v), s(&["cn2(VCPU=1)", "cn2(VCPU=1)", "cn2(VCPU=1)"]));
    assert_eq!(fx.mappings(&v), s(&["_A=cn2 _B=nic1", "_A=cn2 _B=nic2", "_A=cn2 _B=nic3"]));
    let v = fx
        .ac(
            mv,
            "resources=VCPU:1&required_ACC=HW_NUMA_ROOT&resources_F=FPGA:1&same_subtree=_ACC,_F&group_policy=isolate",
        )
        .await;
    assert_eq!(
        fx.mappings(&v),
        s(&[
            "=numa0 _ACC=numa0 _F=fpga0",
            "=numa1 _ACC=numa0 _F=fpga0",
            "=numa0 _ACC=numa1 _F=fpga1_0",
            "=numa1 _ACC=numa1 _F=fpga1_0",
            "=numa0 _ACC=numa1 _F=fpga1_1",
            "=numa1 _ACC=numa1 _F=fpga1_1",
        ])
    );
    assert_eq!(fx.summaries(&v).len(), 12);
    fx.stop().await;
}

// ---------------------------------------------------------------------------
// any-of traits (1.39, allocation-candidates-any-traits.yaml)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn any_traits_at_1_39() {
    let fx = granular().await;
    fx.get("1.38", "resources=VCPU:1&required=in:HW_CPU_X86_MMX,HW_CPU_X86_SSE").await.error_with(
        400,
        UNDEFINED,
        "The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported since microversion 1.39.",
        "in: at 1.38",
    );
    let v = fx.ac("1.39", "resources=VCPU:1&required=in:HW_CPU_X86_MMX,HW_CPU_X86_SSE").await;
    assert_eq!(fx.reqs(&v), s(&["cn_middle(VCPU=1)", "cn_right(VCPU=1)"]));
    // Repeated: ANDed.
    let v = fx.ac("1.39", "resources=VCPU:1&required=in:HW_CPU_X86_MMX,HW_CPU_X86_SSE&required=HW_CPU_X86_AVX").await;
    assert_eq!(fx.reqs(&v), s(&["cn_middle(VCPU=1)"]));
    let v = fx.ac("1.39", "resources=VCPU:1&required=in:HW_CPU_X86_MMX,HW_CPU_X86_SSE&required=!HW_CPU_X86_AVX").await;
    assert_eq!(fx.reqs(&v), s(&["cn_right(VCPU=1)"]));
    // Granular.
    let v = fx
        .ac("1.39", "resources1=VCPU:1&required1=in:CUSTOM_FOO,HW_CPU_X86_MMX&resources2=DISK_GB:100&required2=in:CUSTOM_DISK_SSD,CUSTOM_FOO&group_policy=isolate")
        .await;
    assert_eq!(fx.reqs(&v), s(&["cn_left(VCPU=1) shr_disk_1(DISK_GB=100)"]));
    fx.stop().await;
}
