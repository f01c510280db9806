//! A controller killed (SIGKILL) at each step of a server's create, delete,
//! resize and resize confirm, right after the step's action and before the
//! workflow saved it. After a restart the server ends ACTIVE (or gone, or
//! VERIFY_RESIZE), Placement holds exactly its flavor (or nothing, or the
//! migration's share), and the agent — a separate process that lives
//! through the crash — runs exactly it (or nothing) where it should.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};

use crate::process;

const CREATE_STEPS: &[&str] = &["claim_resources", "spawn_on_agent", "mark_active"];
const DELETE_STEPS: &[&str] = &["destroy_on_agent", "release_claim", "mark_deleted"];
const RESIZE_STEPS: &[&str] = &["claim_destination", "stop_source", "prepare_destination", "finish"];
const CONFIRM_STEPS: &[&str] = &["cleanup_source", "drop_source_claim", "finish"];

struct Rig {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    pg: Option<(String, String)>,
    listen: String,
    url: String,
    client: Client,
}

impl Rig {
    async fn new() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let (mut env, pg) = process::database_env().await;
        env.push(("FERROSTACK_AGENT__ENABLED".into(), "false".into()));
        env.push(("FERROSTACK_COMPUTE__WORKFLOW_LEASE_SECONDS".into(), "2".into()));
        let listen = format!("127.0.0.1:{}", process::free_port());
        let url = format!("http://{listen}");
        Rig { dir, env, pg, listen, url, client: Client::builder().timeout(Duration::from_secs(10)).build().unwrap() }
    }

    fn up(&self, failpoint: Option<String>) -> process::Up {
        let mut env = self.env.clone();
        if let Some(f) = failpoint {
            env.push(("FERROSTACK_FAILPOINT".into(), f));
        }
        process::up_on(self.dir.path(), &self.listen, &env)
    }

    fn agent(&self) -> AgentProcess {
        self.agent_with(1)
    }

    /// An agent serving `hosts` hosts (`crash-host-0`, ... when more than one).
    fn agent_with(&self, hosts: usize) -> AgentProcess {
        let child = Command::new(process::BIN)
            .args(["agent", "--controller", &self.url, "--host", "crash-host", "--fake-nodes", &hosts.to_string()])
            .env("FERROSTACK_AGENT_PASSWORD", process::admin_password(self.dir.path()))
            .env("FERROSTACK_AGENT__REPORT_INTERVAL", "1")
            .env("FERROSTACK_AGENT__POLL_WAIT", "1")
            .env("FERROSTACK_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ferrostack agent");
        AgentProcess(child)
    }

    async fn token(&self) -> String {
        process::admin_token(&self.client, &self.url, &process::admin_password(self.dir.path())).await
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.token().await;
        let mut r = self
            .client
            .request(method, format!("{}{path}", self.url))
            .header("X-Auth-Token", token)
            .header("OpenStack-API-Version", "compute 2.47, placement 1.28");
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Waits until `check` holds (30 s at most).
    async fn until<F: std::future::Future<Output = bool>>(&self, what: &str, mut check: impl FnMut() -> F) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn server(&self, id: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, &format!("/compute/v2.1/servers/{id}"), None).await
    }

    async fn allocations(&self, id: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/placement/allocations/{id}"), None).await.1["allocations"].clone()
    }

    /// What the agent last reported its host runs.
    async fn reported(&self) -> Vec<String> {
        self.reported_on("crash-host").await
    }

    async fn reported_on(&self, host: &str) -> Vec<String> {
        let url = match &self.pg {
            Some((server, name)) => format!("{}/{name}", server.rsplit_once('/').unwrap().0),
            None => format!("sqlite://{}/ferrostack.db", self.dir.path().display()),
        };
        let db = db::Db::connect(&url, 1).await.unwrap();
        let r = compute::db::reported_instances(&db, host).await.unwrap();
        db.close().await;
        r
    }

    /// A flavor, an image and the agent's host, ready for a server.
    async fn prepare(&self) -> String {
        self.prepare_hosts(1).await
    }

    /// Flavors c1 and c2, an image and `hosts` hosts, ready for a server.
    async fn prepare_hosts(&self, hosts: usize) -> String {
        self.until("the agent's hosts", || async {
            let (_, v) = self.call(reqwest::Method::GET, "/compute/v2.1/os-services", None).await;
            v["services"].as_array().is_some_and(|s| s.len() == hosts)
        })
        .await;
        for (id, ram) in [("c1", 256), ("c2", 512)] {
            let (s, _) = self
                .call(
                    reqwest::Method::POST,
                    "/compute/v2.1/flavors",
                    Some(json!({"flavor": {"name": id, "id": id, "ram": ram, "vcpus": 1, "disk": 1}})),
                )
                .await;
            assert_eq!(s, 200);
        }
        let token = self.token().await;
        let r = self
            .client
            .post(format!("{}/image/v2/images", self.url))
            .header("X-Auth-Token", &token)
            .json(&json!({"name": "i", "disk_format": "raw", "container_format": "bare"}))
            .send()
            .await
            .unwrap();
        let image = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        let r = self
            .client
            .put(format!("{}/image/v2/images/{image}/file", self.url))
            .header("X-Auth-Token", &token)
            .header("Content-Type", "application/octet-stream")
            .body(vec![0u8; 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        image
    }

    async fn boot(&self, image: &str) -> String {
        let body = json!({"server": {"name": "s", "imageRef": image, "flavorRef": "c1", "networks": "none"}});
        let (s, v) = self.call(reqwest::Method::POST, "/compute/v2.1/servers", Some(body)).await;
        assert_eq!(s, 202, "{v}");
        v["server"]["id"].as_str().unwrap().to_string()
    }
}

fn wait_exit(mut up: process::Up, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if up.child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the controller did not die at {what}");
}

/// The agent process, ended (SIGKILL) when the test ends, passed or not.
struct AgentProcess(Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn crash_during_create(step: &str) {
    let rig = Rig::new().await;
    let up = rig.up(Some(format!("workflow:server_create:{step}")));
    let agent = rig.agent();
    let image = rig.prepare().await;
    let id = rig.boot(&image).await;
    wait_exit(up, step);

    let mut up = rig.up(None);
    rig.until("the server to become ACTIVE", || async { rig.server(&id).await.1["server"]["status"] == "ACTIVE" })
        .await;
    let allocs = rig.allocations(&id).await;
    assert_eq!(allocs.as_object().unwrap().len(), 1, "after a crash at {step}: {allocs}");
    let (_, a) = allocs.as_object().unwrap().iter().next().unwrap();
    assert_eq!(a["resources"], json!({"VCPU": 1, "MEMORY_MB": 256, "DISK_GB": 1}), "after a crash at {step}");
    rig.until("the agent to run exactly the server", || async { rig.reported().await == [id.clone()] }).await;
    drop(agent);
    up.terminate();
    process::drop_database(rig.pg).await;
}

async fn crash_during_delete(step: &str) {
    let rig = Rig::new().await;
    let mut up = rig.up(None);
    let agent = rig.agent();
    let image = rig.prepare().await;
    let id = rig.boot(&image).await;
    rig.until("the server to become ACTIVE", || async { rig.server(&id).await.1["server"]["status"] == "ACTIVE" })
        .await;
    up.terminate();

    let up = rig.up(Some(format!("workflow:server_delete:{step}")));
    let (s, _) = rig.call(reqwest::Method::DELETE, &format!("/compute/v2.1/servers/{id}"), None).await;
    assert_eq!(s, 204);
    wait_exit(up, step);

    let mut up = rig.up(None);
    rig.until("the server to be gone", || async { rig.server(&id).await.0 == 404 }).await;
    assert_eq!(rig.allocations(&id).await, json!({}), "after a crash at {step}");
    rig.until("the agent to run nothing", || async { rig.reported().await.is_empty() }).await;
    drop(agent);
    up.terminate();
    process::drop_database(rig.pg).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_each_step_of_a_server_create_resumes_to_active() {
    for step in CREATE_STEPS {
        crash_during_create(step).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_each_step_of_a_server_delete_finishes_the_delete() {
    for step in DELETE_STEPS {
        crash_during_delete(step).await;
    }
}

/// The host a server runs on.
async fn host_of(rig: &Rig, id: &str) -> String {
    rig.server(id).await.1["server"]["OS-EXT-SRV-ATTR:host"].as_str().unwrap_or_default().to_string()
}

/// One ACTIVE server on one of two hosts, with the controller stopped.
async fn resizable(rig: &Rig) -> (AgentProcess, String) {
    let mut up = rig.up(None);
    let agent = rig.agent_with(2);
    let image = rig.prepare_hosts(2).await;
    let id = rig.boot(&image).await;
    rig.until("the server to become ACTIVE", || async { rig.server(&id).await.1["server"]["status"] == "ACTIVE" })
        .await;
    up.terminate();
    (agent, id)
}

async fn resize(rig: &Rig, id: &str) {
    let body = json!({"resize": {"flavorRef": "c2"}});
    let (s, v) = rig.call(reqwest::Method::POST, &format!("/compute/v2.1/servers/{id}/action"), Some(body)).await;
    assert_eq!(s, 202, "{v}");
}

/// The claims and copies of a server waiting for its resize to be confirmed.
async fn check_verify_resize(rig: &Rig, id: &str, source: &str, what: &str) -> String {
    rig.until("VERIFY_RESIZE", || async { rig.server(id).await.1["server"]["status"] == "VERIFY_RESIZE" }).await;
    let dest = host_of(rig, id).await;
    assert_ne!(dest, source, "{what}");
    let allocs = rig.allocations(id).await;
    assert_eq!(allocs.as_object().unwrap().len(), 1, "{what}: {allocs}");
    let (_, a) = allocs.as_object().unwrap().iter().next().unwrap();
    assert_eq!(a["resources"], json!({"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}), "{what}");
    rig.until("both hosts to hold a copy", || async {
        rig.reported_on(source).await == [id.to_string()] && rig.reported_on(&dest).await == [id.to_string()]
    })
    .await;
    dest
}

async fn confirm(rig: &Rig, id: &str) {
    let body = json!({"confirmResize": null});
    let (s, v) = rig.call(reqwest::Method::POST, &format!("/compute/v2.1/servers/{id}/action"), Some(body)).await;
    assert_eq!(s, 204, "{v}");
}

/// After the confirm: ACTIVE on the destination with its new flavor only.
async fn check_confirmed(rig: &Rig, id: &str, source: &str, dest: &str, what: &str) {
    rig.until("ACTIVE", || async { rig.server(id).await.1["server"]["status"] == "ACTIVE" }).await;
    assert_eq!(host_of(rig, id).await, dest, "{what}");
    let allocs = rig.allocations(id).await;
    assert_eq!(allocs.as_object().unwrap().len(), 1, "{what}: {allocs}");
    let migrations = rig.call(reqwest::Method::GET, "/compute/v2.1/os-migrations", None).await.1;
    let m = migrations["migrations"][0].clone();
    assert_eq!(m["status"], "confirmed", "{what}: {m}");
    rig.until("the source to run nothing", || async {
        rig.reported_on(source).await.is_empty() && rig.reported_on(dest).await == [id.to_string()]
    })
    .await;
}

async fn crash_during_resize(step: &str) {
    let rig = Rig::new().await;
    let (agent, id) = resizable(&rig).await;
    let up = rig.up(Some(format!("workflow:server_resize:{step}")));
    let source = host_of(&rig, &id).await;
    // The API waits for the claim, so the answer may die with the process.
    let token = rig.token().await;
    let _ = rig
        .client
        .post(format!("{}/compute/v2.1/servers/{id}/action", rig.url))
        .header("X-Auth-Token", token)
        .json(&json!({"resize": {"flavorRef": "c2"}}))
        .send()
        .await;
    wait_exit(up, step);

    let mut up = rig.up(None);
    let what = format!("after a crash at resize step {step}");
    let dest = check_verify_resize(&rig, &id, &source, &what).await;
    confirm(&rig, &id).await;
    check_confirmed(&rig, &id, &source, &dest, &what).await;
    drop(agent);
    up.terminate();
    process::drop_database(rig.pg).await;
}

async fn crash_during_confirm(step: &str) {
    let rig = Rig::new().await;
    let (agent, id) = resizable(&rig).await;
    let mut up = rig.up(None);
    let source = host_of(&rig, &id).await;
    resize(&rig, &id).await;
    let dest = check_verify_resize(&rig, &id, &source, "before the confirm").await;
    up.terminate();

    let up = rig.up(Some(format!("workflow:server_resize_confirm:{step}")));
    confirm(&rig, &id).await;
    wait_exit(up, step);
    let mut up = rig.up(None);
    check_confirmed(&rig, &id, &source, &dest, &format!("after a crash at confirm step {step}")).await;
    drop(agent);
    up.terminate();
    process::drop_database(rig.pg).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_each_step_of_a_resize_resumes_to_verify_resize() {
    for step in RESIZE_STEPS {
        crash_during_resize(step).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_each_step_of_a_resize_confirm_finishes_it() {
    for step in CONFIRM_STEPS {
        crash_during_confirm(step).await;
    }
}
