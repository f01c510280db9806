use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::process::{self, BIN};

fn run(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).envs(envs.iter().copied()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn version_and_policy_dump() {
    let (ok, out, _) = run(&["version"], &[]);
    assert!(ok && out.starts_with("ferrostack "), "{out}");
    let (ok, out, _) = run(&["policy", "dump-defaults", "--service", "identity"], &[]);
    assert!(ok);
    assert!(out.contains("#\"identity:get_user\": "), "oslo YAML sample format");
    assert!(out.contains("# GET  /v3/users/{user_id}"), "operations listed");
    let (ok, _, err) = run(&["policy", "dump-defaults", "--service", "nope"], &[]);
    assert!(!ok && err.contains("no service"), "{err}");
}

#[test]
fn migrate_bootstrap_and_rotate_on_a_fresh_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let env = [("FERROSTACK_DATA_DIR", d), ("FERROSTACK_IDENTITY__PASSWORD_HASH_ROUNDS", "4")];
    let (ok, out, err) = run(&["db", "migrate"], &env);
    assert!(ok, "{err}");
    assert!(out.contains("up to date"));
    for _ in 0..2 {
        let (ok, _, err) = run(&["bootstrap", "--bootstrap-password", "pw"], &env);
        assert!(ok, "bootstrap is idempotent: {err}");
    }
    let keys = dir.path().join("fernet-keys");
    let before = std::fs::read_dir(&keys).unwrap().count();
    let (ok, out, err) = run(&["identity", "fernet-rotate"], &env);
    assert!(ok, "{err}");
    assert!(out.contains("key 2 is now primary"), "{out}");
    assert_eq!(std::fs::read_dir(&keys).unwrap().count(), before + 1);
    let (ok, _, err) = run(&["up"], &[("FERROSTACK_DATA_DIR", d), ("FERROSTACK_API__NOPE", "1")]);
    assert!(!ok && err.contains("nope"), "an unknown option is named: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn up_writes_clouds_yaml_serves_health_and_metrics_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (env, pg) = process::database_env().await;
    let mut up = process::up(dir.path(), &env);
    assert!(up
        .stdout
        .iter()
        .any(|l| l == &format!("export OS_CLIENT_CONFIG_FILE={}/clouds.yaml", dir.path().display())));
    assert!(up.stdout.iter().any(|l| l == "export OS_CLOUD=ferrostack"));
    let clouds = dir.path().join("clouds.yaml");
    assert_eq!(std::fs::metadata(&clouds).unwrap().permissions().mode() & 0o777, 0o600);
    let yaml = std::fs::read_to_string(&clouds).unwrap();
    let password = process::admin_password(dir.path());
    assert!(yaml.contains(&format!("auth_url: {}/identity", up.url)) && yaml.contains(&password));

    let client = reqwest::Client::new();
    let r = client.get(format!("{}/healthcheck", up.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let token = process::admin_token(&client, &up.url, &password).await;
    let r =
        client.get(format!("{}/identity/v3/auth/catalog", up.url)).header("X-Auth-Token", &token).send().await.unwrap();
    let cat: serde_json::Value = r.json().await.unwrap();
    let identity = cat["catalog"].as_array().unwrap().iter().find(|s| s["type"] == "identity").expect("identity");
    let url = identity["endpoints"][0]["url"].as_str().unwrap();
    assert_eq!(url, format!("{}/identity", up.url), "the catalog points at the real listen address");
    let metrics = client.get(format!("{}/metrics", up.url)).send().await.unwrap().text().await.unwrap();
    // (The agent `up` runs beside the controller issues tokens too.)
    assert!(metrics.contains("ferrostack_http_requests_total{service=\"identity\",route=\"/identity/v3/auth/catalog\",method=\"GET\",status=\"200\"} 1"), "{metrics}");
    assert!(metrics.contains("ferrostack_http_request_duration_seconds_bucket"));
    let doc: serde_json::Value =
        client.get(format!("{}/identity/openapi.json", up.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(doc["paths"]["/v3/users/{user_id}"]["get"]["operationId"], "identity:get_user");

    let status = up.terminate();
    assert!(status.success(), "SIGTERM is a clean stop: {status}");

    // A second start reuses the database, keys and password: the old token still works.
    let mut up = process::up(dir.path(), &env);
    assert_eq!(process::admin_password(dir.path()), password);
    let r = client.get(format!("{}/identity/v3/users", up.url)).header("X-Auth-Token", &token).send().await.unwrap();
    assert_eq!(r.status(), 200, "a token from the first run is valid after a restart");
    up.terminate();
    process::drop_database(pg).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn up_with_test_image_registers_tiny_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut env, pg) = process::database_env().await;
    env.push(("FERROSTACK_TEST_IMAGE".into(), "true".into()));
    let mut up = process::up(dir.path(), &env);
    assert!(up.stdout.iter().any(|l| l.starts_with("build-test-image: [5/5]")), "{:?}", up.stdout);
    assert!(up.stdout.iter().any(|l| l.starts_with("registered the test guest as image tiny")), "{:?}", up.stdout);
    let client = reqwest::Client::new();
    let token = process::admin_token(&client, &up.url, &process::admin_password(dir.path())).await;
    let list = |url: String| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let r = client.get(format!("{url}/image/v2/images?name=tiny")).header("X-Auth-Token", &token);
            let body: serde_json::Value = r.send().await.unwrap().json().await.unwrap();
            body["images"].as_array().unwrap().clone()
        }
    };
    let images = list(up.url.clone()).await;
    assert_eq!(images.len(), 1, "{images:?}");
    let im = &images[0];
    assert_eq!((im["status"].as_str(), im["visibility"].as_str()), (Some("active"), Some("public")), "{im}");
    assert_eq!((im["disk_format"].as_str(), im["container_format"].as_str()), (Some("qcow2"), Some("bare")));
    let disk = std::fs::read(dir.path().join("test-image").join("tiny.qcow2")).unwrap();
    assert_eq!(im["size"].as_u64(), Some(disk.len() as u64));
    let data = client
        .get(format!("{}/image/v2/images/{}/file", up.url, im["id"].as_str().unwrap()))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(data[..] == disk[..], "the image holds the built disk");
    up.terminate();

    // The next start finds it and registers nothing.
    let mut up = process::up(dir.path(), &env);
    assert!(!up.stdout.iter().any(|l| l.starts_with("registered")), "{:?}", up.stdout);
    assert_eq!(list(up.url.clone()).await.len(), 1);
    up.terminate();
    process::drop_database(pg).await;
}
