//! ferrostack.toml: one file, every option overridable by an environment
//! variable `FERROSTACK_<SECTION>__<KEY>` (nested sections joined by `__`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where state lives: the SQLite database, Fernet keys, clouds.yaml.
    pub data_dir: PathBuf,
    pub api: ApiConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub policy: PolicyConfig,
    pub identity: identity::IdentityConfig,
    pub placement: placement::PlacementConfig,
    pub image: image::ImageConfig,
    pub compute: compute::ComputeConfig,
    pub agent: AgentSection,
}

/// `[agent]`: the host agent that `up` runs beside the controller (and
/// that `ferrostack agent` runs on its own).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSection {
    /// Run an agent inside `up`.
    pub enabled: bool,
    /// Hypervisor driver: `qemu` (real VMs, one QEMU process each) or
    /// `fake` (instances in memory, for tests and scale runs).
    pub driver: String,
    /// QEMU driver: where instances and cached images live (default: the
    /// `compute` directory in the data dir).
    pub data_dir: String,
    /// QEMU driver: the base image cache's size limit, in GiB.
    pub image_cache_max_gb: u64,
    /// QEMU driver: seconds a guest gets to power off on the ACPI button
    /// before it is stopped hard.
    pub shutdown_timeout: u64,
    /// QEMU driver: the address other hosts reach this one on for live
    /// migration.
    pub migration_address: String,
    pub qemu_binary: String,
    /// Host name of the (first) compute service; default: this machine's name.
    pub host: String,
    /// Fake driver: how many hosts (one node each) the agent serves, named
    /// `<host>`, or `<host>-0`, `<host>-1`, ... when more than one.
    pub fake_nodes: usize,
    pub fake_vcpus: i64,
    pub fake_memory_mb: i64,
    pub fake_disk_gb: i64,
    /// Fake driver: physical GPUs per node (each a child provider with VGPU
    /// inventory, so `resources:VGPU=1` flavors schedule).
    pub fake_pgpus: usize,
    /// Fake driver: virtual GPUs each physical GPU holds.
    pub fake_vgpus_per_pgpu: i64,
    /// Seconds a long poll for commands waits.
    pub poll_wait: u64,
    /// Seconds between the agent's full-state reports.
    pub report_interval: u64,
}

impl Default for AgentSection {
    fn default() -> Self {
        AgentSection {
            enabled: true,
            driver: "qemu".into(),
            data_dir: String::new(),
            image_cache_max_gb: 20,
            shutdown_timeout: 60,
            migration_address: "127.0.0.1".into(),
            qemu_binary: "qemu-system-x86_64".into(),
            host: String::new(),
            fake_nodes: 1,
            fake_vcpus: 16,
            fake_memory_mb: 32768,
            fake_disk_gb: 500,
            fake_pgpus: 0,
            fake_vgpus_per_pgpu: 4,
            poll_wait: 20,
            report_interval: 60,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address every API listens on.
    pub listen: String,
    /// Base URL clients reach the APIs at; default `http://<listen>`.
    pub public_url: String,
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_size: usize,
    /// Region of the catalog endpoints.
    pub region: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://<path>` or `postgres://user:pass@host:port/db`; default
    /// `sqlite://<data_dir>/ferrostack.db`.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `ferrostack=debug,sqlx=warn`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// oslo.policy YAML file overriding single rules of any service.
    pub file: String,
    /// Refuse tokens whose scope is not among a rule's scope types.
    pub enforce_scope: Option<bool>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            api: ApiConfig::default(),
            database: DatabaseConfig::default(),
            log: LogConfig::default(),
            policy: PolicyConfig::default(),
            identity: identity::IdentityConfig::default(),
            placement: placement::PlacementConfig::default(),
            image: image::ImageConfig::default(),
            compute: compute::ComputeConfig::default(),
            agent: AgentSection::default(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:5000".into(),
            public_url: String::new(),
            max_body_size: api_core::json::DEFAULT_BODY_LIMIT,
            region: "RegionOne".into(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: String::new(), max_connections: 16 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: "text".into() }
    }
}

/// `$FERROSTACK_DATA_DIR`, else `~/.local/share/ferrostack`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FERROSTACK_DATA_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".local/share/ferrostack")
}

impl Config {
    /// Reads `file` (if any), then applies `FERROSTACK_*` environment overrides.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut table = match file {
            Some(f) => {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read configuration file {}", f.display()))?;
                text.parse::<toml::Table>().with_context(|| format!("{} is not valid TOML", f.display()))?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, std::env::vars())?;
        let config: Config = toml::Value::Table(table)
            .try_into()
            .context("invalid configuration (see docs/configuration.md for every option)")?;
        Ok(config)
    }

    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("ferrostack.db").display())
        } else {
            self.database.url.clone()
        }
    }

    pub fn public_url(&self) -> String {
        if self.api.public_url.is_empty() {
            format!("http://{}", self.api.listen)
        } else {
            self.api.public_url.trim_end_matches('/').to_string()
        }
    }
}

/// Sets `a.b.c` in `table` from `FERROSTACK_A__B__C=value`. The value is
/// read as a TOML value when it parses as one (numbers, booleans), else as
/// a string.
pub fn apply_env(table: &mut toml::Table, vars: impl Iterator<Item = (String, String)>) -> anyhow::Result<()> {
    for (k, v) in vars {
        let Some(rest) = k.strip_prefix("FERROSTACK_") else { continue };
        if rest == "DATA_DIR" {
            table.insert("data_dir".into(), toml::Value::String(v));
            continue;
        }
        if !rest.contains("__") {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        let value = format!("v = {v}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(v.clone()));
        let mut cur = &mut *table;
        for seg in &path[..path.len() - 1] {
            cur = cur
                .entry(seg.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .with_context(|| format!("{k}: {seg} is not a section"))?;
        }
        cur.insert(path[path.len() - 1].clone(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_nested_keys_with_types() {
        let mut t: toml::Table = "[api]\nlisten = \"127.0.0.1:1\"\n".parse().unwrap();
        apply_env(
            &mut t,
            [
                ("FERROSTACK_API__LISTEN".to_string(), "127.0.0.1:2".to_string()),
                ("FERROSTACK_IDENTITY__TOKEN_EXPIRATION".to_string(), "60".to_string()),
                ("FERROSTACK_IDENTITY__SECURITY_COMPLIANCE__LOCKOUT_FAILURE_ATTEMPTS".to_string(), "3".to_string()),
                ("FERROSTACK_DATABASE__URL".to_string(), "postgres://u@h/db".to_string()),
                ("OTHER".to_string(), "x".to_string()),
            ]
            .into_iter(),
        )
        .unwrap();
        let c: Config = toml::Value::Table(t).try_into().unwrap();
        assert_eq!(c.api.listen, "127.0.0.1:2");
        assert_eq!(c.identity.token_expiration, 60);
        assert_eq!(c.identity.security_compliance.lockout_failure_attempts, 3);
        assert_eq!(c.database.url, "postgres://u@h/db");
    }

    /// docs/configuration.md must name every option the code has.
    #[test]
    fn every_option_is_documented() {
        fn keys(prefix: &str, t: &toml::Table, out: &mut Vec<(String, String)>) {
            for (k, v) in t {
                match v {
                    toml::Value::Table(sub) => keys(&format!("{prefix}{k}."), sub, out),
                    _ => out.push((prefix.trim_end_matches('.').to_string(), k.clone())),
                }
            }
        }
        let doc = include_str!("../../../docs/configuration.md");
        let table = toml::Table::try_from(Config::default()).unwrap();
        let mut all = Vec::new();
        keys("", &table, &mut all);
        // Options whose default is "unset" do not serialize; name them here.
        all.push(("identity".into(), "fernet_key_repository".into()));
        all.push(("policy".into(), "enforce_scope".into()));
        for (section, key) in all {
            if !section.is_empty() {
                assert!(doc.contains(&format!("## `[{section}]`")), "docs/configuration.md lacks section [{section}]");
            }
            assert!(doc.contains(&format!("| `{key}` |")), "docs/configuration.md lacks option {section}.{key}");
        }
    }

    #[test]
    fn unknown_options_are_refused() {
        let t: toml::Table = "[api]\nlisten_typo = 1\n".parse().unwrap();
        assert!(toml::Value::Table(t).try_into::<Config>().is_err());
    }
}
