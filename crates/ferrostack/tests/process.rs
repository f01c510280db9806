//! Runs the real `ferrostack` binary as a child process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ferrostack");

pub struct Up {
    pub child: Child,
    pub url: String,
    pub stdout: Vec<String>,
}

impl Up {
    /// SIGTERM, and the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        terminate(&mut self.child)
    }
}

/// A test that fails midway still ends the process it started.
impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `ferrostack up` on a free port; returns once it printed its exports.
pub fn up(data_dir: &Path, envs: &[(String, String)]) -> Up {
    up_on(data_dir, "127.0.0.1:0", envs)
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `ferrostack up` on `listen`.
pub fn up_on(data_dir: &Path, listen: &str, envs: &[(String, String)]) -> Up {
    let mut cmd = Command::new(BIN);
    cmd.args(["up", "--data-dir"]).arg(data_dir).args(["--listen", listen]);
    cmd.env("FERROSTACK_IDENTITY__PASSWORD_HASH_ROUNDS", "4").env("FERROSTACK_LOG", "warn");
    // The fake driver unless a test asks for QEMU.
    cmd.env("FERROSTACK_AGENT__DRIVER", "fake");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn ferrostack up");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("ferrostack up exited early: {lines:?}");
        }
        lines.push(line.trim_end().to_string());
        if line.starts_with("export OS_CLOUD=") {
            break;
        }
    }
    let url = lines.iter().find_map(|l| l.strip_prefix("ferrostack is up at ")).expect("URL printed").to_string();
    Up { child, url, stdout: lines }
}

/// Environment for a database of the backend under test (a fresh PostgreSQL
/// database when FERROSTACK_TEST_BACKEND=postgres); returns the env and a
/// cleanup URL for PostgreSQL.
pub async fn database_env() -> (Vec<(String, String)>, Option<(String, String)>) {
    if testkit::backend() != "postgres" {
        return (vec![], None);
    }
    use db::sqlx;
    let server = std::env::var("FERROSTACK_TEST_POSTGRES_URL").expect("FERROSTACK_TEST_POSTGRES_URL");
    let name = format!("fc_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&server).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    (vec![("FERROSTACK_DATABASE__URL".into(), format!("{base}/{name}"))], Some((server, name)))
}

pub async fn drop_database(pg: Option<(String, String)>) {
    use db::sqlx;
    if let Some((server, name)) = pg {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&server).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.unwrap();
    }
}

pub fn admin_password(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("admin-password")).unwrap().trim().to_string()
}

pub async fn admin_token(client: &reqwest::Client, url: &str, password: &str) -> String {
    let body = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let r = client.post(format!("{url}/identity/v3/auth/tokens")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    r.headers()["x-subject-token"].to_str().unwrap().to_string()
}

/// SIGTERM, and the exit status.
pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id() as i32;
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("ferrostack did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
