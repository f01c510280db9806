//! `GET /allocation_candidates` (1.10): query parsing and validation per
//! microversion, then rendering of what `crate::candidates` computes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use api_core::{ApiResult, Auth};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;
use regex::Regex;
use serde_json::{json, Map, Value};

use super::*;
use crate::candidates::{compute_with, CandidateRequest, GroupPolicy, Options, RequestGroup, Strategy};
use crate::core::{bad, ILLEGAL_DUPLICATE_QUERYPARAM, QUERYPARAM_BAD_VALUE, QUERYPARAM_MISSING_VALUE};
use crate::policies::names as pol;

const GROUP_PAT: &str = "[1-9][0-9]*";
const GROUP_PAT_1_33: &str = "[a-zA-Z0-9_-]{1,64}";

fn schema(mv: Mv) -> Value {
    if !mv.at(25) {
        let mut s = json!({"type": "object", "properties": {"resources": {"type": "string"}},
            "required": ["resources"], "additionalProperties": false});
        let props = s["properties"].as_object_mut().expect("object");
        if mv.at(16) {
            props.insert(
                "limit".into(),
                json!({"type": ["integer", "string"], "pattern": "^[1-9][0-9]*$", "minimum": 1, "minLength": 1}),
            );
        }
        if mv.at(17) {
            props.insert("required".into(), json!({"type": ["string"]}));
        }
        if mv.at(21) {
            props.insert("member_of".into(), json!({"type": ["string"]}));
        }
        return s;
    }
    let pat = if mv.at(33) { GROUP_PAT_1_33 } else { GROUP_PAT };
    let mut kinds = vec!["resources", "required", "member_of"];
    if mv.at(31) {
        kinds.push("in_tree");
    }
    let mut pp = Map::new();
    for k in kinds {
        pp.insert(format!("^{k}({pat})?$"), json!({"type": "string"}));
    }
    let mut s = json!({"type": "object", "properties": {
        "limit": {"type": ["integer", "string"], "pattern": "^[1-9][0-9]*$", "minimum": 1, "minLength": 1},
        "group_policy": {"type": "string", "enum": ["none", "isolate"]}},
        "patternProperties": pp, "additionalProperties": false});
    if mv.at(35) {
        s["properties"]["root_required"] = json!({"type": ["string"]});
    }
    if mv.at(36) {
        s["properties"]["same_subtree"] = json!({"type": ["string"]});
    }
    s
}

/// One group as parsed, before names become ids.
#[derive(Default, Debug)]
struct Group {
    resources: Vec<(String, i64)>,
    required: Vec<Vec<String>>,
    forbidden: Vec<String>,
    member_of: Vec<Vec<String>>,
    forbidden_aggs: Vec<String>,
    in_tree: Option<String>,
}

pub async fn list(State(p): P, Auth(ctx): Auth, mv: Mv, headers: HeaderMap, q: Query) -> ApiResult<Response> {
    mv.require(10)?;
    check_accept(&headers)?;
    p.enforce(&ctx, pol::ALLOC_CANDIDATE_LIST, &default_target(&ctx))?;
    q.validate(&schema(mv))?;

    // Request-wide parameters.
    let limit: Option<usize> = q.all("limit").first().and_then(|l| l.parse().ok());
    let group_policy = match q.all("group_policy").first().copied() {
        Some("isolate") => Some(GroupPolicy::Isolate),
        Some("none") => Some(GroupPolicy::None),
        _ => None,
    };
    let mut root_required: Vec<String> = Vec::new();
    let mut root_forbidden: Vec<String> = Vec::new();
    let rr = q.all("root_required");
    if !rr.is_empty() {
        if rr.len() > 1 {
            return Err(bad("Query parameter 'root_required' may be specified only once.")
                .with_code(ILLEGAL_DUPLICATE_QUERYPARAM));
        }
        let (req, forb) = parse_required(&[rr[0]], Mv(api_core::microversion::Version::new(1, 22)))?;
        root_required = req.into_iter().flatten().collect();
        root_forbidden = forb;
        let conflicts: Vec<&String> = root_forbidden.iter().filter(|f| root_required.contains(f)).collect();
        if !conflicts.is_empty() {
            return Err(bad(format!(
                "Conflicting required and forbidden traits found in root_required: {}",
                conflicts.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ))
            .with_code(QUERYPARAM_BAD_VALUE));
        }
    }
    let mut same_subtrees: Vec<Vec<String>> = Vec::new();
    for val in q.all("same_subtree") {
        let mut set: Vec<String> = val.split(',').map(|s| s.trim().to_string()).collect();
        if set.iter().any(|s| s.is_empty()) {
            return Err(bad("Empty string (unsuffixed group) can not be specified in `same_subtree` ")
                .with_code(QUERYPARAM_BAD_VALUE));
        }
        set.sort();
        set.dedup();
        same_subtrees.push(set);
    }

    // Groups by suffix.
    let pat = if mv.at(33) { GROUP_PAT_1_33 } else { GROUP_PAT };
    let key_re = Regex::new(&format!("^(resources|required|member_of|in_tree)({pat})?$")).expect("regex");
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for (key, val) in &q.0 {
        let Some(c) = key_re.captures(key) else { continue };
        let prefix = c.get(1).map(|m| m.as_str()).unwrap_or_default();
        let suffix = c.get(2).map(|m| m.as_str()).unwrap_or_default().to_string();
        let g = groups.entry(suffix.clone()).or_default();
        match prefix {
            "resources" => g.resources = parse_resources(val)?,
            "required" => (g.required, g.forbidden) = parse_required(&q.all(key), mv)?,
            "member_of" => (g.member_of, g.forbidden_aggs) = parse_member_of(&q.all(key), mv, &suffix)?,
            _ => g.in_tree = Some(parse_in_tree(val)?),
        }
    }
    if mv.at(36) {
        let resourceless: BTreeSet<&String> =
            groups.iter().filter(|(_, g)| g.resources.is_empty()).map(|(s, _)| s).collect();
        if resourceless.len() == groups.len() {
            return Err(bad("There must be at least one resources or resources[$S] parameter.")
                .with_code(QUERYPARAM_MISSING_VALUE));
        }
        let subtree_suffixes: BTreeSet<&String> = same_subtrees.iter().flatten().collect();
        let bad_suffixes: Vec<&String> =
            resourceless.iter().filter(|s| !subtree_suffixes.contains(*s)).copied().collect();
        if !bad_suffixes.is_empty() {
            return Err(bad(format!(
                "Resourceless suffixed group request should be specified in `same_subtree` query param: bad group(s) - {}.",
                py_list(&bad_suffixes)
            ))
            .with_code(QUERYPARAM_BAD_VALUE));
        }
        let missing: Vec<&String> = subtree_suffixes.iter().filter(|s| !groups.contains_key(**s)).copied().collect();
        if !missing.is_empty() {
            let all: Vec<&String> = groups.keys().collect();
            return Err(bad(format!(
                "Real suffixes should be specified in `same_subtree`: {} not found in {}.",
                py_list(&missing),
                py_list(&all)
            ))
            .with_code(QUERYPARAM_BAD_VALUE));
        }
    } else {
        let orphans: Vec<String> = groups
            .iter()
            .filter(|(_, g)| !g.required.is_empty() && g.resources.is_empty())
            .map(|(s, _)| format!("required{s}"))
            .collect();
        if !orphans.is_empty() {
            return Err(bad(format!(
                "All traits parameters must be associated with resources.  Found the following orphaned traits keys: {}",
                orphans.join(", ")
            )));
        }
        let orphans: Vec<String> = groups
            .iter()
            .filter(|(_, g)| g.resources.is_empty() && (!g.member_of.is_empty() || !g.forbidden_aggs.is_empty()))
            .map(|(s, _)| format!("member_of{s}"))
            .collect();
        if !orphans.is_empty() {
            return Err(bad(format!(
                "All member_of parameters must be associated with resources. Found the following orphaned member_of keys: {}",
                orphans.join(", ")
            )));
        }
        if !groups.values().all(|g| !g.resources.is_empty()) {
            return Err(bad("All request groups must specify resources."));
        }
        if groups.is_empty() {
            return Err(bad("At least one request group (`resources` or `resources{$S}`) is required."));
        }
    }
    if mv.at(22) {
        let mut conflicting: Vec<String> = Vec::new();
        for (s, g) in &groups {
            for any in &g.required {
                if any.iter().all(|t| g.forbidden.contains(t)) {
                    conflicting.push(format!("required{s}: ({})", any.join(", ")));
                }
            }
        }
        if !conflicting.is_empty() {
            conflicting.sort();
            return Err(bad(format!(
                "Conflicting required and forbidden traits found in the following traits keys: {}",
                conflicting.join(", ")
            )));
        }
    }
    if group_policy.is_none() && groups.keys().filter(|s| !s.is_empty()).count() > 1 {
        return Err(bad(
            "The \"group_policy\" parameter is required when specifying more than one \"resources{N}\" parameter.",
        ));
    }

    // Names to ids.
    let snap = p.snapshot().await?;
    let mut request = CandidateRequest {
        group_policy,
        same_subtree: same_subtrees,
        limit,
        randomize: p.config.randomize_allocation_candidates,
        nested: mv.at(29),
        ..Default::default()
    };
    let mut empty_answer = false;
    let mut requested_classes: BTreeSet<i64> = BTreeSet::new();
    for (suffix, g) in &groups {
        let mut rg = RequestGroup { suffix: suffix.clone(), ..Default::default() };
        for (name, amount) in &g.resources {
            let Some(id) = p.class_id(name).await? else {
                return Err(bad(format!(
                    "Invalid resource class in resources parameter: No such resource class {name}."
                )));
            };
            requested_classes.insert(id);
            rg.resources.push((id, *amount));
        }
        for any in &g.required {
            match p.trait_ids(any).await? {
                Ok(ids) => rg.required_traits.push(ids),
                Err(missing) => return Err(bad(format!("No such trait(s): {}.", missing.join(", ")))),
            }
        }
        match p.trait_ids(&g.forbidden).await? {
            Ok(ids) => rg.forbidden_traits = ids,
            Err(missing) => return Err(bad(format!("No such trait(s): {}.", missing.join(", ")))),
        }
        rg.member_of = g.member_of.clone();
        rg.forbidden_aggregates = g.forbidden_aggs.clone();
        if let Some(t) = &g.in_tree {
            match snap.by_uuid.get(t) {
                Some(i) => rg.in_tree = Some(*i),
                None => empty_answer = true,
            }
        }
        request.groups.push(rg);
    }
    for (names, out) in [(&root_required, &mut request.root_required)] {
        match p.trait_ids(names).await? {
            Ok(ids) => out.extend(ids.into_iter().map(|i| vec![i])),
            Err(missing) => return Err(bad(format!("No such trait(s): {}.", missing.join(", ")))),
        }
    }
    match p.trait_ids(&root_forbidden).await? {
        Ok(ids) => request.root_forbidden = ids,
        Err(missing) => return Err(bad(format!("No such trait(s): {}.", missing.join(", ")))),
    }
    // The unsuffixed group first, then the suffixed ones in suffix order.
    request.groups.sort_by(|a, b| (!a.suffix.is_empty(), &a.suffix).cmp(&(!b.suffix.is_empty(), &b.suffix)));

    let options = Options {
        strategy: if p.config.allocation_candidates_generation_strategy == "breadth-first" {
            Strategy::BreadthFirst
        } else {
            Strategy::DepthFirst
        },
        max_candidates: usize::try_from(p.config.max_allocation_candidates).ok(),
    };
    let cands = if empty_answer { Default::default() } else { compute_with(&snap, &request, &options) };
    let classes: BTreeSet<i64> = cands
        .summaries
        .iter()
        .flat_map(|i| snap.providers[*i].inventories.iter().map(|inv| inv.resource_class))
        .collect();
    p.know_classes(classes).await?;
    p.know_traits(cands.summaries.iter().flat_map(|i| snap.providers[*i].traits.iter().copied())).await?;

    // Rendering: written straight into one buffer; answers run to hundreds
    // of kilobytes and building a `Value` tree first costs more than
    // computing them.
    let mut out = String::with_capacity(256 + cands.allocation_requests.len() * 220 + cands.summaries.len() * 260);
    out.push_str("{\"allocation_requests\":[");
    for (n, ar) in cands.allocation_requests.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        if mv.at(12) {
            out.push_str("{\"allocations\":{");
            for (k, (rp, res)) in ar.allocations.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                push_str(&mut out, &snap.providers[*rp].uuid);
                out.push_str(":{\"resources\":");
                push_amounts(&mut out, &p, res);
                out.push('}');
            }
            out.push('}');
            if mv.at(34) {
                out.push_str(",\"mappings\":{");
                for (k, (suffix, rps)) in ar.mappings.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    push_str(&mut out, suffix);
                    out.push_str(":[");
                    for (j, rp) in rps.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        push_str(&mut out, &snap.providers[*rp].uuid);
                    }
                    out.push(']');
                }
                out.push('}');
            }
            out.push('}');
        } else {
            out.push_str("{\"allocations\":[");
            for (k, (rp, res)) in ar.allocations.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                out.push_str("{\"resource_provider\":{\"uuid\":");
                push_str(&mut out, &snap.providers[*rp].uuid);
                out.push_str("},\"resources\":");
                push_amounts(&mut out, &p, res);
                out.push('}');
            }
            out.push_str("]}");
        }
    }
    out.push_str("],\"provider_summaries\":{");
    for (n, i) in cands.summaries.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let rp = &snap.providers[*i];
        push_str(&mut out, &rp.uuid);
        out.push_str(":{\"resources\":{");
        let mut first = true;
        for inv in &rp.inventories {
            if mv.at(27) || requested_classes.contains(&inv.resource_class) {
                if !first {
                    out.push(',');
                }
                first = false;
                push_str(&mut out, &p.class_name(inv.resource_class));
                let _ = write!(out, ":{{\"capacity\":{},\"used\":{}}}", inv.capacity(), inv.used);
            }
        }
        out.push('}');
        if mv.at(17) {
            let mut names: Vec<String> = rp.traits.iter().map(|t| p.trait_name(*t)).collect();
            names.sort();
            out.push_str(",\"traits\":[");
            for (k, t) in names.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                push_str(&mut out, t);
            }
            out.push(']');
        }
        if mv.at(29) {
            out.push_str(",\"parent_provider_uuid\":");
            match rp.parent {
                Some(parent) => push_str(&mut out, &snap.providers[parent].uuid),
                None => out.push_str("null"),
            }
            out.push_str(",\"root_provider_uuid\":");
            push_str(&mut out, &snap.providers[rp.root].uuid);
        }
        out.push('}');
    }
    out.push_str("}}");
    let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], out).into_response();
    if mv.at(15) {
        cache_headers(resp.headers_mut(), None);
    }
    Ok(resp)
}

/// A JSON string, escaped.
fn push_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
    }
}

fn push_amounts(out: &mut String, p: &crate::core::Placement, res: &BTreeMap<i64, i64>) {
    out.push('{');
    for (k, (rc, amount)) in res.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        push_str(out, &p.class_name(*rc));
        let _ = write!(out, ":{amount}");
    }
    out.push('}');
}

fn py_list(items: &[&String]) -> String {
    format!("[{}]", items.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", "))
}
