//! Concurrent writers over real HTTP: claims never overcommit a provider,
//! generation checks let exactly one of several same-generation writers
//! win, and writers that retry on `placement.concurrent_update` lose no
//! update. Each client is its own `reqwest::Client` (its own connections),
//! released together by a barrier. Runs on the suite's backend (SQLite or
//! PostgreSQL).

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::{Client, Method};
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::common::*;

/// One request of one client: (status, body).
async fn send(client: &Client, url: &str, token: &str, method: Method, mv: &str, body: &Value) -> (u16, Value) {
    let resp = client
        .request(method, url)
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", format!("placement {mv}"))
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_default();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Runs `n` clients at once, client `i` sending `request(i)`; returns the answers in order.
async fn race(
    pl: &Pl,
    n: usize,
    request: impl Fn(usize) -> (Method, String, &'static str, Value),
) -> Vec<(u16, Value)> {
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (method, path, mv, body) = request(i);
        let url = pl.cloud.placement(&path);
        let token = pl.admin.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let client = Client::builder().timeout(std::time::Duration::from_secs(120)).build().unwrap();
            barrier.wait().await;
            send(&client, &url, &token, method, mv, &body).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("client task"));
    }
    out
}

fn count(answers: &[(u16, Value)], status: u16) -> usize {
    answers.iter().filter(|(s, _)| *s == status).count()
}

/// Every answer is `ok` or a Placement 409 with one of `codes`.
fn check_answers(answers: &[(u16, Value)], ok: u16, codes: &[&str], what: &str) {
    for (s, v) in answers {
        if *s == ok {
            continue;
        }
        assert_eq!(*s, 409, "{what}: {v}");
        let code = v["errors"][0]["code"].as_str().unwrap_or_default();
        assert!(codes.contains(&code), "{what}: 409 with code {code:?}: {v}");
        placement_error(v, 409, code).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

/// Sum of a provider's allocations per class, from `GET /resource_providers/{uuid}/allocations`.
async fn allocated(pl: &Pl, rp: &str) -> BTreeMap<String, i64> {
    let v = pl.get_ok(LATEST, &format!("/resource_providers/{rp}/allocations")).await;
    let mut sums = BTreeMap::new();
    for (_, c) in v["allocations"].as_object().unwrap() {
        for (rc, n) in c["resources"].as_object().unwrap() {
            *sums.entry(rc.clone()).or_default() += n.as_i64().unwrap();
        }
    }
    sums
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_clients_claim_ten_vcpus() {
    let pl = Pl::start().await;
    let rp = pl.rp("contended").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 10, "allocation_ratio": 1.0}})).await;
    let gen_before = pl.generation(&rp).await;
    let consumers: Vec<String> = (0..50).map(|_| new_uuid()).collect();
    let answers = race(&pl, 50, |i| {
        let body = json!({"allocations": on(&rp, json!({"VCPU": 1})), "project_id": PROJECT, "user_id": USER,
            "consumer_generation": null, "consumer_type": "INSTANCE"});
        (Method::PUT, format!("/allocations/{}", consumers[i]), "1.39", body)
    })
    .await;
    assert_eq!(count(&answers, 204), 10, "winners: {answers:?}");
    assert_eq!(count(&answers, 409), 40, "losers: {answers:?}");
    check_answers(&answers, 204, &[UNDEFINED, CONCURRENT], "claim");
    // The books balance: usage, the provider's allocations, the consumers.
    assert_eq!(pl.usages(&rp).await, json!({"VCPU": 10}));
    assert_eq!(allocated(&pl, &rp).await, BTreeMap::from([("VCPU".to_string(), 10)]));
    let v = pl.get_ok(LATEST, &format!("/resource_providers/{rp}/allocations")).await;
    let holders: Vec<&String> = v["allocations"].as_object().unwrap().keys().collect();
    assert_eq!(holders.len(), 10);
    for (i, (s, _)) in answers.iter().enumerate() {
        let a = pl.get_ok(LATEST, &format!("/allocations/{}", consumers[i])).await;
        if *s == 204 {
            assert!(holders.contains(&&consumers[i]), "winner {i} holds nothing");
            assert_eq!(a["allocations"][&rp]["resources"], json!({"VCPU": 1}));
            assert_eq!((a["consumer_generation"].as_i64(), a["consumer_type"].as_str()), (Some(1), Some("INSTANCE")));
        } else {
            assert_eq!(a, json!({"allocations": {}}), "loser {i} holds something");
        }
    }
    // Each successful claim bumped the provider generation once.
    assert_eq!(pl.generation(&rp).await, gen_before + 10);
    // Usage by project agrees too.
    let u = pl.get_ok(LATEST, &format!("/usages?project_id={PROJECT}")).await;
    assert_eq!(u["usages"]["INSTANCE"], json!({"VCPU": 10, "consumer_count": 10}));
    // And no more fits.
    let r = pl
        .put(
            LATEST,
            &format!("/allocations/{}", new_uuid()),
            json!({"allocations": on(&rp, json!({"VCPU": 1})), "project_id": PROJECT, "user_id": USER,
                "consumer_generation": null, "consumer_type": "INSTANCE"}),
        )
        .await;
    r.error_with(409, UNDEFINED, "The requested amount would exceed the capacity", "eleventh claim");
    pl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_across_two_providers_and_post_allocations_never_overcommit() {
    let pl = Pl::start().await;
    let a = pl.rp("a").await;
    let b = pl.rp("b").await;
    pl.inventory(&a, json!({"VCPU": {"total": 6}, "MEMORY_MB": {"total": 4096}})).await;
    pl.inventory(&b, json!({"DISK_GB": {"total": 50}})).await;
    // 30 clients: even ones PUT one consumer on both, odd ones POST two consumers at once.
    let answers = race(&pl, 30, |i| {
        let one = |c: &str| {
            json!({ c: {"allocations": {a.clone(): {"resources": {"VCPU": 1, "MEMORY_MB": 512}},
                b.clone(): {"resources": {"DISK_GB": 10}}}, "project_id": PROJECT, "user_id": USER, "consumer_generation": null}})
        };
        if i % 2 == 0 {
            let c = new_uuid();
            let body = one(&c)[&c].clone();
            (Method::PUT, format!("/allocations/{c}"), "1.28", body)
        } else {
            let (c1, c2) = (new_uuid(), new_uuid());
            let mut body = one(&c1);
            body[&c2] = json!({"allocations": {a.clone(): {"resources": {"VCPU": 1}}}, "project_id": PROJECT,
                "user_id": USER, "consumer_generation": null});
            (Method::POST, "/allocations".to_string(), "1.28", body)
        }
    })
    .await;
    check_answers(&answers, 204, &[UNDEFINED, CONCURRENT], "mixed claims");
    let usage_a = pl.usages(&a).await;
    let usage_b = pl.usages(&b).await;
    assert!(usage_a["VCPU"].as_i64().unwrap() <= 6, "{usage_a}");
    assert!(usage_a["MEMORY_MB"].as_i64().unwrap() <= 4096, "{usage_a}");
    assert!(usage_b["DISK_GB"].as_i64().unwrap() <= 50, "{usage_b}");
    // Whatever won was written whole, and the books balance.
    let (mut vcpu, mut mem, mut disk) = (0, 0, 0);
    for (i, (s, _)) in answers.iter().enumerate() {
        if *s == 204 {
            vcpu += if i % 2 == 0 { 1 } else { 2 };
            mem += 512;
            disk += 10;
        }
    }
    assert!(disk > 0, "nobody won: {answers:?}");
    assert_eq!(usage_a, json!({"VCPU": vcpu, "MEMORY_MB": mem}));
    assert_eq!(usage_b, json!({"DISK_GB": disk}));
    let alloc_a = allocated(&pl, &a).await;
    assert_eq!(alloc_a, BTreeMap::from([("MEMORY_MB".to_string(), mem), ("VCPU".to_string(), vcpu)]));
    assert_eq!(allocated(&pl, &b).await, BTreeMap::from([("DISK_GB".to_string(), disk)]));
    pl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_generation_writers_exactly_one_wins() {
    let pl = Pl::start().await;
    let rp = pl.rp("rp").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 8}})).await;
    let n = 20;

    // PUT all inventories.
    let g = pl.generation(&rp).await;
    let answers = race(&pl, n, |i| {
        let body = json!({"resource_provider_generation": g, "inventories": {"VCPU": {"total": 100 + i}}});
        (Method::PUT, format!("/resource_providers/{rp}/inventories"), LATEST, body)
    })
    .await;
    assert_eq!(count(&answers, 200), 1, "{answers:?}");
    check_answers(&answers, 200, &[CONCURRENT], "PUT inventories");
    let winner = answers.iter().position(|(s, _)| *s == 200).unwrap();
    let v = pl.get_ok(LATEST, &format!("/resource_providers/{rp}/inventories")).await;
    assert_eq!(v["resource_provider_generation"], g + 1);
    assert_eq!(v["inventories"]["VCPU"]["total"], 100 + winner as i64);
    assert_eq!(answers[winner].1["inventories"]["VCPU"]["total"], 100 + winner as i64);

    // PUT one inventory.
    let g = g + 1;
    let answers = race(&pl, n, |i| {
        let body = json!({"resource_provider_generation": g, "total": 200 + i});
        (Method::PUT, format!("/resource_providers/{rp}/inventories/VCPU"), LATEST, body)
    })
    .await;
    assert_eq!(count(&answers, 200), 1, "{answers:?}");
    check_answers(&answers, 200, &[CONCURRENT], "PUT one inventory");
    let winner = answers.iter().position(|(s, _)| *s == 200).unwrap();
    let v = pl.get_ok(LATEST, &format!("/resource_providers/{rp}/inventories/VCPU")).await;
    assert_eq!(
        (v["resource_provider_generation"].as_i64(), v["total"].as_i64()),
        (Some(g + 1), Some(200 + winner as i64))
    );

    // Traits.
    for i in 0..n {
        pl.req(Method::PUT, LATEST, &format!("/traits/CUSTOM_T{i}"), None).await.expect(201, "trait");
    }
    let g = g + 1;
    let answers = race(&pl, n, |i| {
        let body = json!({"resource_provider_generation": g, "traits": [format!("CUSTOM_T{i}")]});
        (Method::PUT, format!("/resource_providers/{rp}/traits"), LATEST, body)
    })
    .await;
    assert_eq!(count(&answers, 200), 1, "{answers:?}");
    check_answers(&answers, 200, &[CONCURRENT], "PUT traits");
    let winner = answers.iter().position(|(s, _)| *s == 200).unwrap();
    let v = pl.get_ok(LATEST, &format!("/resource_providers/{rp}/traits")).await;
    assert_eq!(v, json!({"traits": [format!("CUSTOM_T{winner}")], "resource_provider_generation": g + 1}));

    // Aggregates (1.19).
    let g = g + 1;
    let aggs: Vec<String> = (0..n).map(|_| new_uuid()).collect();
    let answers = race(&pl, n, |i| {
        let body = json!({"resource_provider_generation": g, "aggregates": [aggs[i]]});
        (Method::PUT, format!("/resource_providers/{rp}/aggregates"), LATEST, body)
    })
    .await;
    assert_eq!(count(&answers, 200), 1, "{answers:?}");
    check_answers(&answers, 200, &[CONCURRENT], "PUT aggregates");
    let winner = answers.iter().position(|(s, _)| *s == 200).unwrap();
    let v = pl.get_ok(LATEST, &format!("/resource_providers/{rp}/aggregates")).await;
    assert_eq!(v, json!({"aggregates": [aggs[winner]], "resource_provider_generation": g + 1}));

    // One consumer, one consumer generation.
    let c = new_uuid();
    pl.allocate(&c, on(&rp, json!({"VCPU": 1}))).await;
    let answers = race(&pl, n, |i| {
        let body = json!({"allocations": on(&rp, json!({"VCPU": 2 + i})), "project_id": PROJECT, "user_id": USER,
            "consumer_generation": 1});
        (Method::PUT, format!("/allocations/{c}"), "1.28", body)
    })
    .await;
    assert_eq!(count(&answers, 204), 1, "{answers:?}");
    check_answers(&answers, 204, &[CONCURRENT], "PUT allocations with one consumer generation");
    let winner = answers.iter().position(|(s, _)| *s == 204).unwrap();
    let v = pl.get_ok("1.28", &format!("/allocations/{c}")).await;
    assert_eq!(v["consumer_generation"], 2);
    assert_eq!(v["allocations"][&rp]["resources"]["VCPU"], 2 + winner as i64);
    assert_eq!(pl.usages(&rp).await["VCPU"], 2 + winner as i64);

    // Several new consumers racing to be the one: the same uuid, generation null.
    let c = new_uuid();
    let answers = race(&pl, n, |i| {
        let body = json!({"allocations": on(&rp, json!({"VCPU": 1 + i % 3})), "project_id": PROJECT, "user_id": USER,
            "consumer_generation": null});
        (Method::PUT, format!("/allocations/{c}"), "1.28", body)
    })
    .await;
    assert_eq!(count(&answers, 204), 1, "{answers:?}");
    check_answers(&answers, 204, &[CONCURRENT], "new consumer race");
    let v = pl.get_ok("1.28", &format!("/allocations/{c}")).await;
    assert_eq!(v["consumer_generation"], 1);
    pl.stop().await;
}

/// Read-modify-write with retries: every client adds one to the VCPU total
/// and its own trait, retrying on `placement.concurrent_update`. No update
/// may be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retrying_writers_lose_no_update() {
    let pl = Pl::start().await;
    let rp = pl.rp("counter").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 100}})).await;
    let n = 16;
    for i in 0..n {
        pl.req(Method::PUT, LATEST, &format!("/traits/CUSTOM_W{i}"), None).await.expect(201, "trait");
    }
    let g0 = pl.generation(&rp).await;
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let base = pl.cloud.placement(&format!("/resource_providers/{rp}"));
        let token = pl.admin.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let client = Client::new();
            barrier.wait().await;
            let mut conflicts = 0;
            // +1 on the VCPU total.
            loop {
                let (s, v) =
                    send(&client, &format!("{base}/inventories/VCPU"), &token, Method::GET, LATEST, &Value::Null).await;
                assert_eq!(s, 200, "{v}");
                let body = json!({"resource_provider_generation": v["resource_provider_generation"],
                    "total": v["total"].as_i64().unwrap() + 1});
                let (s, v) =
                    send(&client, &format!("{base}/inventories/VCPU"), &token, Method::PUT, LATEST, &body).await;
                match s {
                    200 => break,
                    409 if v["errors"][0]["code"] == CONCURRENT => conflicts += 1,
                    other => panic!("client {i}: {other} {v}"),
                }
                assert!(conflicts < 500, "client {i} never got through");
            }
            // Its own trait, added to whatever is there.
            loop {
                let (s, v) = send(&client, &format!("{base}/traits"), &token, Method::GET, LATEST, &Value::Null).await;
                assert_eq!(s, 200, "{v}");
                let mut traits: Vec<Value> = v["traits"].as_array().unwrap().clone();
                traits.push(json!(format!("CUSTOM_W{i}")));
                let body = json!({"resource_provider_generation": v["resource_provider_generation"], "traits": traits});
                let (s, v) = send(&client, &format!("{base}/traits"), &token, Method::PUT, LATEST, &body).await;
                match s {
                    200 => break,
                    409 if v["errors"][0]["code"] == CONCURRENT => conflicts += 1,
                    other => panic!("client {i}: {other} {v}"),
                }
                assert!(conflicts < 1000, "client {i} never got through");
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.expect("client task");
    }
    let v = pl.get_ok(LATEST, &format!("/resource_providers/{rp}/inventories/VCPU")).await;
    assert_eq!(v["total"], 100 + n as i64, "lost an increment ({conflicts} conflicts)");
    let t = pl.get_ok(LATEST, &format!("/resource_providers/{rp}/traits")).await;
    let mut want: Vec<String> = (0..n).map(|i| format!("CUSTOM_W{i}")).collect();
    want.sort();
    assert_eq!(sorted(&t["traits"]), want, "lost a trait ({conflicts} conflicts)");
    // Exactly one generation per successful write.
    assert_eq!(pl.generation(&rp).await, g0 + 2 * n as i64);
    pl.stop().await;
}

/// Claims racing with inventory changes: whatever interleaving happens, the
/// provider is never left with more used than its inventory allowed when
/// each claim was accepted, and the books balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_racing_inventory_changes_stay_consistent() {
    let pl = Pl::start().await;
    let rp = pl.rp("shifting").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 20}, "DISK_GB": {"total": 100}})).await;
    let n = 30;
    let consumers: Vec<String> = (0..n).map(|_| new_uuid()).collect();
    let g = pl.generation(&rp).await;
    let answers = race(&pl, n, |i| {
        if i % 10 == 0 {
            // An operator shrinking VCPU to 10, all with the same generation.
            let body = json!({"resource_provider_generation": g, "inventories": {"VCPU": {"total": 10}, "DISK_GB": {"total": 100}}});
            (Method::PUT, format!("/resource_providers/{rp}/inventories"), LATEST, body)
        } else {
            let body = json!({"allocations": on(&rp, json!({"VCPU": 1, "DISK_GB": 1})), "project_id": PROJECT, "user_id": USER,
                "consumer_generation": null});
            (Method::PUT, format!("/allocations/{}", consumers[i]), "1.28", body)
        }
    })
    .await;
    let mut claimed = 0;
    for (i, (s, v)) in answers.iter().enumerate() {
        assert!(*s < 500, "{i}: {s} {v}");
        if i % 10 != 0 && *s == 204 {
            claimed += 1;
        }
    }
    let inv_wins = answers.iter().enumerate().filter(|(i, (s, _))| i % 10 == 0 && *s == 200).count();
    assert!(inv_wins <= 1, "two inventory writers with one generation won: {answers:?}");
    assert_eq!(pl.usages(&rp).await, json!({"VCPU": claimed, "DISK_GB": claimed}));
    assert_eq!(
        allocated(&pl, &rp).await,
        BTreeMap::from([("DISK_GB".to_string(), claimed), ("VCPU".to_string(), claimed)])
    );
    assert!(claimed <= 20, "claimed {claimed} of 20");
    pl.stop().await;
}

/// Claims that arrive together may share a transaction: a bad one among
/// them gets its own error and the others still land; consumers moving
/// their allocations at the same time keep their books straight.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_claims_racing_each_get_their_own_answer() {
    let pl = Pl::start().await;
    let rp = pl.rp("mixed").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 100, "max_unit": 4, "allocation_ratio": 1.0}})).await;
    // Ten consumers already hold 1 VCPU each; they will move to 2.
    let holders: Vec<String> = (0..10).map(|_| new_uuid()).collect();
    for c in &holders {
        let r = pl
            .put(
                LATEST,
                &format!("/allocations/{c}"),
                json!({"allocations": on(&rp, json!({"VCPU": 1})), "project_id": PROJECT, "user_id": USER,
                    "consumer_generation": null, "consumer_type": "INSTANCE"}),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let fresh: Vec<String> = (0..50).map(|_| new_uuid()).collect();
    let missing = new_uuid();
    let answers = race(&pl, 50, |i| {
        let (consumer, resources, provider, generation) = match i % 5 {
            // A consumer growing from 1 to 2 VCPU, with its generation.
            0 => (holders[i / 5].clone(), json!({"VCPU": 2}), rp.clone(), json!(1)),
            // Over max_unit: 409 for this claim only.
            1 => (fresh[i].clone(), json!({"VCPU": 5}), rp.clone(), Value::Null),
            // A provider that does not exist: 400 for this claim only.
            2 => (fresh[i].clone(), json!({"VCPU": 1}), missing.clone(), Value::Null),
            // Claims that fit.
            _ => (fresh[i].clone(), json!({"VCPU": 1}), rp.clone(), Value::Null),
        };
        let body = json!({"allocations": on(&provider, resources), "project_id": PROJECT, "user_id": USER,
            "consumer_generation": generation, "consumer_type": "INSTANCE"});
        (Method::PUT, format!("/allocations/{consumer}"), "1.39", body)
    })
    .await;
    for (i, (status, body)) in answers.iter().enumerate() {
        match i % 5 {
            1 => {
                assert_eq!(*status, 409, "claim {i}: {body}");
                placement_error(body, 409, UNDEFINED).unwrap_or_else(|e| panic!("claim {i}: {e}"));
                assert!(body.to_string().contains("would violate inventory constraints"), "claim {i}: {body}");
            }
            2 => {
                assert_eq!(*status, 400, "claim {i}: {body}");
                assert!(body.to_string().contains("that does not exist"), "claim {i}: {body}");
            }
            _ => assert_eq!(*status, 204, "claim {i}: {body}"),
        }
    }
    // 10 holders at 2 VCPU + 20 fresh claims at 1.
    assert_eq!(pl.usages(&rp).await, json!({"VCPU": 40}));
    assert_eq!(allocated(&pl, &rp).await, BTreeMap::from([("VCPU".to_string(), 40)]));
    for c in &holders {
        let a = pl.get_ok(LATEST, &format!("/allocations/{c}")).await;
        assert_eq!(a["allocations"][&rp]["resources"], json!({"VCPU": 2}), "{c}");
        assert_eq!(a["consumer_generation"], json!(2), "{c}");
    }
    for (i, c) in fresh.iter().enumerate() {
        let a = pl.get_ok(LATEST, &format!("/allocations/{c}")).await;
        if i % 5 >= 3 {
            assert_eq!(a["consumer_generation"], json!(1), "{c}");
        } else {
            assert_eq!(a, json!({"allocations": {}}), "claim {i} left something behind");
        }
    }
    let u = pl.get_ok(LATEST, &format!("/usages?project_id={PROJECT}")).await;
    assert_eq!(u["usages"]["INSTANCE"], json!({"VCPU": 40, "consumer_count": 30}));
    pl.stop().await;
}
