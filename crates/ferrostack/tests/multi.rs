//! Two controllers on one database: a revocation on one is honoured by the
//! other within the revocation refresh interval.

use std::time::{Duration, Instant};

use crate::process;

async fn validate(client: &reqwest::Client, url: &str, auth: &str, subject: &str) -> u16 {
    client
        .get(format!("{url}/identity/v3/auth/tokens"))
        .header("X-Auth-Token", auth)
        .header("X-Subject-Token", subject)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_revoked_on_one_controller_is_refused_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let (env, pg) = process::database_env().await;
    let mut a = process::up(dir.path(), &env);
    let mut b = process::up(dir.path(), &env);
    let client = reqwest::Client::new();
    let password = process::admin_password(dir.path());
    let observer = process::admin_token(&client, &a.url, &password).await;
    let victim = process::admin_token(&client, &a.url, &password).await;

    assert_eq!(validate(&client, &b.url, &observer, &victim).await, 200, "B validates A's token (shared keys)");
    let r = client
        .delete(format!("{}/identity/v3/auth/tokens", a.url))
        .header("X-Auth-Token", &observer)
        .header("X-Subject-Token", &victim)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(validate(&client, &a.url, &observer, &victim).await, 404, "A refuses it at once");
    let start = Instant::now();
    loop {
        match validate(&client, &b.url, &observer, &victim).await {
            404 => break,
            200 if start.elapsed() < Duration::from_secs(5) => tokio::time::sleep(Duration::from_millis(100)).await,
            s => panic!("B still answers {s} for a revoked token after {:?}", start.elapsed()),
        }
    }
    assert_eq!(validate(&client, &b.url, &observer, &observer).await, 200, "other tokens stay valid");
    a.terminate();
    b.terminate();
    process::drop_database(pg).await;
}
