//! Starts a whole ferrostack controller in-process for tests: a temp data
//! dir, a free port on 127.0.0.1, SQLite by default or PostgreSQL when
//! `FERROSTACK_TEST_BACKEND=postgres` (a throw-away database on the server at
//! `FERROSTACK_TEST_POSTGRES_URL`, dropped when the test ends).
//!
//! Test support only; nothing in the product depends on it.

use std::time::Duration;

use db::sqlx;
pub use ferrostack::Config;
use ferrostack::Controller;
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const ADMIN_PASSWORD: &str = "secret-admin-password";

pub struct TestCloud {
    pub url: String,
    /// The controller's compute service, for tests that drive it directly.
    pub compute: std::sync::Arc<compute::Compute>,
    pub client: Client,
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pg_database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

/// A running test agent; `stop` ends it (as a killed agent process would
/// end: it stops polling and answering).
pub struct AgentHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl AgentHandle {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// `postgres` when tests should run on PostgreSQL.
pub fn backend() -> String {
    std::env::var("FERROSTACK_TEST_BACKEND").unwrap_or_else(|_| "sqlite".into())
}

impl TestCloud {
    pub async fn start() -> TestCloud {
        Self::start_with(|_| {}).await
    }

    /// Starts a cloud after `tweak` adjusts its configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestCloud {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        config.identity.password_hash_rounds = 4;
        let mut pg_database = None;
        if backend() == "postgres" {
            let server = std::env::var("FERROSTACK_TEST_POSTGRES_URL")
                .expect("FERROSTACK_TEST_POSTGRES_URL must name a PostgreSQL server");
            let name = format!("ft_{}", uuid::Uuid::new_v4().simple());
            let mut conn =
                <sqlx::PgConnection as sqlx::Connection>::connect(&server).await.expect("connect to PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
            let (base, _) = server.rsplit_once('/').expect("URL with a database name");
            config.database.url = format!("{base}/{name}");
            config.database.max_connections = 8;
            pg_database = Some((server, name));
        }
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        config.api.listen = listener.local_addr().unwrap().to_string();
        let controller = Controller::new(config.clone()).await.expect("controller");
        controller.bootstrap(ADMIN_PASSWORD, true).await.expect("bootstrap");
        let compute = controller.compute.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(controller.serve(listener, async move {
            let _ = rx.await;
        }));
        TestCloud {
            url: format!("http://{}", config.api.listen),
            compute,
            client: Client::builder().timeout(Duration::from_secs(60)).build().unwrap(),
            config,
            shutdown: Some(tx),
            server: Some(server),
            pg_database,
            _dir: dir,
        }
    }

    /// Starts a host agent with the fake driver serving `hosts` hosts (one
    /// node each: `<name>-0`, `<name>-1`, ...) and waits until the
    /// controller knows them all.
    pub async fn start_agent(&self, name: &str, hosts: usize, vcpus: i64, memory_mb: i64, disk_gb: i64) -> AgentHandle {
        self.start_agent_with_pgpus(name, hosts, vcpus, memory_mb, disk_gb, (0, 0)).await
    }

    /// As [`TestCloud::start_agent`], each node with `pgpus.0` physical GPUs
    /// of `pgpus.1` virtual GPUs.
    pub async fn start_agent_with_pgpus(
        &self,
        name: &str,
        hosts: usize,
        vcpus: i64,
        memory_mb: i64,
        disk_gb: i64,
        pgpus: (usize, i64),
    ) -> AgentHandle {
        let drivers: Vec<(String, std::sync::Arc<dyn virt::Driver>)> = (0..hosts)
            .map(|i| {
                let host = format!("{name}-{i}");
                let d: std::sync::Arc<dyn virt::Driver> = std::sync::Arc::new(
                    virt::fake::FakeDriver::new(&host, 1, vcpus, memory_mb, disk_gb).with_pgpus(pgpus.0, pgpus.1),
                );
                (host, d)
            })
            .collect();
        let config = agent::AgentConfig {
            controller: self.url.clone(),
            agent_id: name.to_string(),
            username: "admin".into(),
            password: ADMIN_PASSWORD.into(),
            project: "admin".into(),
            poll_wait: 1,
            report_interval: 1,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(agent::Agent::new(config, drivers).run(async move {
            let _ = stopped.await;
        }));
        for _ in 0..300 {
            let known = compute::db::services(&self.compute.db).await.unwrap_or_default();
            if (0..hosts).all(|i| known.iter().any(|s| s.host == format!("{name}-{i}"))) {
                return AgentHandle { stop: Some(stop), task: Some(task) };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("agent {name} did not report its hosts");
    }

    /// Stops the server and drops a PostgreSQL test database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
        if let Some((server, name)) = self.pg_database.take() {
            if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&server).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
            }
        }
    }

    pub fn identity(&self, path: &str) -> String {
        format!("{}/identity/v3{}", self.url, path)
    }

    /// The URL of `path` under the Placement API (`/placement{path}`).
    pub fn placement(&self, path: &str) -> String {
        format!("{}/placement{}", self.url, path)
    }

    /// A Placement request with an optional token and, unless empty, an
    /// `OpenStack-API-Version: placement {microversion}` header.
    pub fn placement_request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        microversion: &str,
    ) -> RequestBuilder {
        let mut r = self.client.request(method, self.placement(path));
        if let Some(t) = token {
            r = r.header("X-Auth-Token", t);
        }
        if !microversion.is_empty() {
            r = r.header("OpenStack-API-Version", format!("placement {microversion}"));
        }
        r
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut r = self.client.request(method, self.identity(path));
        if let Some(t) = token {
            r = r.header("X-Auth-Token", t);
        }
        r
    }

    /// Password authentication; returns the token and the response body.
    pub async fn token(&self, user: &str, password: &str, scope: Value) -> (String, Value) {
        let resp = self.auth(user, password, scope).await;
        assert_eq!(resp.status(), 201, "authentication of {user} failed");
        let token = resp.headers()["x-subject-token"].to_str().unwrap().to_string();
        (token, resp.json().await.unwrap())
    }

    pub async fn auth(&self, user: &str, password: &str, scope: Value) -> Response {
        let mut body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}}}});
        if !scope.is_null() {
            body["auth"]["scope"] = scope;
        }
        self.client.post(self.identity("/auth/tokens")).json(&body).send().await.unwrap()
    }

    /// A project-scoped admin token.
    pub async fn admin_token(&self) -> String {
        self.token("admin", ADMIN_PASSWORD, json!({"project": {"name": "admin", "domain": {"id": "default"}}})).await.0
    }

    /// A system-scoped admin token.
    pub async fn system_admin_token(&self) -> String {
        self.token("admin", ADMIN_PASSWORD, json!({"system": {"all": true}})).await.0
    }

    /// A new project named `<prefix>-<random>`; returns its id.
    pub async fn project(&self, admin: &str, prefix: &str) -> String {
        let name = format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.create(admin, "/projects", "project", json!({"name": name})).await["id"].as_str().unwrap().to_string()
    }

    /// A new user with `role` on `project`; returns a token scoped to the
    /// project and the user's id.
    pub async fn persona(&self, admin: &str, project: &str, role: &str) -> (String, String) {
        const PASSWORD: &str = "persona-password";
        let name = format!("{role}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let user = self.create(admin, "/users", "user", json!({"name": name, "password": PASSWORD})).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let resp = self.request(Method::GET, &format!("/roles?name={role}"), Some(admin)).send().await;
        let v: Value = resp.unwrap().json().await.unwrap();
        let role_id = v["roles"][0]["id"].as_str().unwrap().to_string();
        let path = format!("/projects/{project}/users/{user}/roles/{role_id}");
        let resp = self.request(Method::PUT, &path, Some(admin)).send().await.unwrap();
        assert_eq!(resp.status(), 204, "PUT {path}");
        (self.token(&name, PASSWORD, json!({"project": {"id": project}})).await.0, user)
    }

    /// POSTs `body` to `path` as `token`, expects 201, returns the object under `key`.
    pub async fn create(&self, token: &str, path: &str, key: &str, body: Value) -> Value {
        let resp = self.request(Method::POST, path, Some(token)).json(&json!({ key: body })).send().await.unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 201, "POST {path}: {v}");
        v[key].clone()
    }
}
