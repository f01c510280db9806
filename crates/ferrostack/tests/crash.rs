//! kill -9 during a burst of user creates: after a restart every
//! acknowledged create is there, and what is there is whole.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::process;

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_user_creates_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let (env, pg) = process::database_env().await;
    let up = process::up(dir.path(), &env);
    let password = process::admin_password(dir.path());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let token = process::admin_token(&client, &up.url, &password).await;

    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..8 {
        let (client, url, token, acked) = (client.clone(), up.url.clone(), token.clone(), acked.clone());
        workers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("crash-{w}-{i}");
                let body =
                    json!({"user": {"name": name, "password": format!("pw-{name}"), "description": "x".repeat(200)}});
                let r = client
                    .post(format!("{url}/identity/v3/users"))
                    .header("X-Auth-Token", &token)
                    .json(&body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => {
                        let v: Value = match r.json().await {
                            Ok(v) => v,
                            Err(_) => return,
                        };
                        acked.lock().unwrap().push((v["user"]["id"].as_str().unwrap().to_string(), name));
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    // Let the burst run, then pull the plug.
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if acked.lock().unwrap().len() >= 40 {
            break;
        }
    }
    let mut up = up;
    up.child.kill().unwrap(); // SIGKILL, on the pid we started
    up.child.wait().unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 40);

    let mut up = process::up(dir.path(), &env);
    let token = process::admin_token(&client, &up.url, &password).await;
    let users: Value = client
        .get(format!("{}/identity/v3/users", up.url))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let users = users["users"].as_array().unwrap();
    for (id, name) in &acked {
        let u =
            users.iter().find(|u| u["id"] == id.as_str()).unwrap_or_else(|| panic!("acknowledged user {name} lost"));
        assert_eq!(u["name"], name.as_str());
    }
    // Every user that exists is whole: it can authenticate with its password.
    for u in users.iter().filter(|u| u["name"].as_str().unwrap().starts_with("crash-")).take(10) {
        let name = u["name"].as_str().unwrap();
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "id": u["id"], "password": format!("pw-{name}")}}}}});
        let r = client.post(format!("{}/identity/v3/auth/tokens", up.url)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "user {name} authenticates after the crash");
    }
    up.terminate();
    if testkit::backend() != "postgres" {
        let db = db::Db::connect(&format!("sqlite://{}/ferrostack.db", dir.path().display()), 2).await.unwrap();
        let check: String = db::sqlx::query_scalar("PRAGMA integrity_check").fetch_one(db.reader()).await.unwrap();
        assert_eq!(check, "ok");
        db.close().await;
    }
    process::drop_database(pg).await;
}
