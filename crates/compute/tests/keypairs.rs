use serde_json::json;

use crate::common::{Nova, ECDSA, ED25519, RSA};

const FINGERPRINTS: &str = include_str!("keys/fingerprints");

#[tokio::test]
async fn import_show_list_delete_at_each_microversion() {
    let n = Nova::start().await;
    let fps: Vec<&str> = FINGERPRINTS.lines().collect();
    for (i, (name, key)) in [("ed", ED25519), ("rsa", RSA), ("ec", ECDSA)].iter().enumerate() {
        let r = n.post("/os-keypairs", &n.admin, "2.2", json!({"keypair": {"name": name, "public_key": key}})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["keypair"]["fingerprint"], fps[i], "fingerprint of {name}");
        assert_eq!(r.body["keypair"]["type"], "ssh");
        assert!(r.body["keypair"].get("private_key").is_none());
    }
    // 2.1 answers 200 and has no type.
    let r = n.post("/os-keypairs", &n.admin, "", json!({"keypair": {"name": "old", "public_key": ED25519}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["keypair"].get("type").is_none());

    let r = n.get("/os-keypairs/ed", &n.admin, "2.2").await;
    assert_eq!(r.status, 200);
    let k = &r.body["keypair"];
    assert_eq!(k["public_key"], ED25519, "kept verbatim");
    assert_eq!(k["deleted"], false);
    assert!(k["id"].is_i64());
    assert!(k["user_id"].is_string());

    let r = n.get("/os-keypairs", &n.admin, "2.35").await;
    let names: Vec<&str> =
        r.body["keypairs"].as_array().unwrap().iter().map(|k| k["keypair"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ec", "ed", "old", "rsa"]);
    let r = n.get("/os-keypairs?limit=2", &n.admin, "2.35").await;
    assert_eq!(r.body["keypairs"].as_array().unwrap().len(), 2);
    assert!(r.body["keypairs_links"][0]["href"].as_str().unwrap().ends_with("/os-keypairs?limit=2&marker=ed"));
    let r = n.get("/os-keypairs?limit=2&marker=ed", &n.admin, "2.35").await;
    assert_eq!(r.body["keypairs"][0]["keypair"]["name"], "old");
    n.get("/os-keypairs?marker=zzz", &n.admin, "2.35").await.fault(400, "badRequest", "Marker zzz could not be found.");

    let r = n.delete("/os-keypairs/old", &n.admin, "").await;
    assert_eq!(r.status, 202);
    let r = n.delete("/os-keypairs/ed", &n.admin, "2.2").await;
    assert_eq!(r.status, 204);
    n.get("/os-keypairs/ed", &n.admin, "").await.fault(404, "itemNotFound", "Keypair ed not found for user");
    n.stop().await;
}

#[tokio::test]
async fn bad_keypairs_and_the_quota() {
    let n = Nova::start().await;
    let create =
        |mv: &'static str, body: serde_json::Value| n.post("/os-keypairs", &n.admin, mv, json!({"keypair": body}));
    create("2.2", json!({"name": "k", "public_key": "ssh-rsa bm90IGEga2V5"})).await.fault(
        400,
        "badRequest",
        "Keypair data is invalid: failed to generate fingerprint",
    );
    create("2.2", json!({"name": "a/b", "public_key": ED25519})).await.fault(
        400,
        "badRequest",
        "Invalid input for field/attribute name. Value: a/b. 'a/b' does not match",
    );
    create("2.2", json!({"name": " k", "public_key": ED25519})).await.fault(
        400,
        "badRequest",
        "An invalid 'name' value was provided.",
    );
    create("2.92", json!({"name": "k"})).await.fault(400, "badRequest", "'public_key' is a required property");
    create("2.2", json!({"name": "k", "public_key": ED25519, "type": "pgp"})).await.fault(
        400,
        "badRequest",
        "'pgp' is not one of ['ssh', 'x509']",
    );
    // '@' and '.' are allowed from 2.92.
    create("2.91", json!({"name": "me@host.x", "public_key": ED25519})).await.fault(
        400,
        "badRequest",
        "does not match",
    );
    assert_eq!(create("2.92", json!({"name": "me@host.x", "public_key": ED25519})).await.status, 201);
    create("2.92", json!({"name": "me@host.x", "public_key": ED25519})).await.fault(
        409,
        "conflictingRequest",
        "Key pair 'me@host.x' already exists.",
    );
    n.stop().await;

    let cloud = testkit::TestCloud::start_with(|c| c.compute.quota_key_pairs = 2).await;
    let admin = cloud.admin_token().await;
    let n = Nova { cloud, admin };
    for name in ["a", "b"] {
        assert_eq!(
            n.post("/os-keypairs", &n.admin, "2.2", json!({"keypair": {"name": name, "public_key": RSA}})).await.status,
            201
        );
    }
    n.post("/os-keypairs", &n.admin, "2.2", json!({"keypair": {"name": "c", "public_key": RSA}})).await.fault(
        403,
        "forbidden",
        "Quota exceeded, too many key pairs.",
    );
    n.stop().await;
}
