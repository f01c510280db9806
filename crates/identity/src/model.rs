//! Identity's resources as plain Rust values, and their JSON form on the wire.

use serde_json::{json, Map, Value};

pub const DOMAIN_ROOT: &str = "<<keystone.domain.root>>";
pub const NULL_DOMAIN: &str = "<<null>>";
pub const DEFAULT_DOMAIN_ID: &str = "default";

pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Keystone's timestamp format: `2026-11-23T08:27:32.000000Z`.
pub fn iso(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Parses the timestamps clients send (`2026-11-23T08:27:32Z`, with or
/// without fraction and zone).
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%SZ"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub enabled: bool,
    pub parent_id: Option<String>,
    pub is_domain: bool,
    pub extra: Map<String, Value>,
    pub tags: Vec<String>,
}

impl Project {
    pub fn to_json(&self, base: &str) -> Value {
        let mut v = json!({
            "id": self.id, "name": self.name, "domain_id": self.domain_id,
            "description": self.description, "enabled": self.enabled,
            "parent_id": self.parent_id, "is_domain": self.is_domain,
            "tags": self.tags, "options": {},
            "links": {"self": format!("{base}/v3/projects/{}", self.id)},
        });
        merge_extra(&mut v, &self.extra);
        v
    }

    /// A domain is a project with `is_domain`; this is its domain view.
    pub fn to_domain_json(&self, base: &str) -> Value {
        let mut v = json!({
            "id": self.id, "name": self.name, "description": self.description,
            "enabled": self.enabled, "tags": self.tags, "options": {},
            "links": {"self": format!("{base}/v3/domains/{}", self.id)},
        });
        merge_extra(&mut v, &self.extra);
        v
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub domain_id: String,
    pub name: String,
    pub enabled: bool,
    pub default_project_id: Option<String>,
    pub extra: Map<String, Value>,
    pub options: Map<String, Value>,
    pub password_hash: Option<String>,
    pub password_created_at: Option<i64>,
    pub password_expires_at: Option<i64>,
    pub failed_auth_count: i64,
    pub failed_auth_at: Option<i64>,
    pub created_at: i64,
    pub last_active_at: Option<i64>,
}

impl User {
    pub fn to_json(&self, base: &str) -> Value {
        let mut v = json!({
            "id": self.id, "name": self.name, "domain_id": self.domain_id,
            "enabled": self.enabled,
            "password_expires_at": self.password_expires_at.map(iso_naive),
            "options": self.options,
            "links": {"self": format!("{base}/v3/users/{}", self.id)},
        });
        if let Some(p) = &self.default_project_id {
            v["default_project_id"] = json!(p);
        }
        merge_extra(&mut v, &self.extra);
        v
    }

    pub fn option_bool(&self, name: &str) -> bool {
        self.options.get(name).and_then(Value::as_bool).unwrap_or(false)
    }
}

/// Keystone writes `password_expires_at` without a zone suffix.
pub fn iso_naive(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

#[derive(Clone, Debug)]
pub struct Group {
    pub id: String,
    pub domain_id: String,
    pub name: String,
    pub description: String,
    pub extra: Map<String, Value>,
}

impl Group {
    pub fn to_json(&self, base: &str) -> Value {
        let mut v = json!({
            "id": self.id, "name": self.name, "domain_id": self.domain_id,
            "description": self.description,
            "links": {"self": format!("{base}/v3/groups/{}", self.id)},
        });
        merge_extra(&mut v, &self.extra);
        v
    }
}

#[derive(Clone, Debug)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub domain_id: Option<String>,
    pub description: String,
    pub options: Map<String, Value>,
    pub extra: Map<String, Value>,
}

impl Role {
    pub fn to_json(&self, base: &str) -> Value {
        let mut v = json!({
            "id": self.id, "name": self.name, "domain_id": self.domain_id,
            "description": self.description, "options": self.options,
            "links": {"self": format!("{base}/v3/roles/{}", self.id)},
        });
        merge_extra(&mut v, &self.extra);
        v
    }

    pub fn immutable(&self) -> bool {
        self.options.get("immutable").and_then(Value::as_bool).unwrap_or(false)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssignmentType {
    UserProject,
    GroupProject,
    UserDomain,
    GroupDomain,
    UserSystem,
    GroupSystem,
}

impl AssignmentType {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentType::UserProject => "UserProject",
            AssignmentType::GroupProject => "GroupProject",
            AssignmentType::UserDomain => "UserDomain",
            AssignmentType::GroupDomain => "GroupDomain",
            AssignmentType::UserSystem => "UserSystem",
            AssignmentType::GroupSystem => "GroupSystem",
        }
    }
    pub fn parse(s: &str) -> Option<AssignmentType> {
        Some(match s {
            "UserProject" => AssignmentType::UserProject,
            "GroupProject" => AssignmentType::GroupProject,
            "UserDomain" => AssignmentType::UserDomain,
            "GroupDomain" => AssignmentType::GroupDomain,
            "UserSystem" => AssignmentType::UserSystem,
            "GroupSystem" => AssignmentType::GroupSystem,
            _ => return None,
        })
    }
    pub fn is_group(self) -> bool {
        matches!(self, AssignmentType::GroupProject | AssignmentType::GroupDomain | AssignmentType::GroupSystem)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Assignment {
    pub kind: AssignmentType,
    pub actor_id: String,
    pub target_id: String,
    pub role_id: String,
    pub inherited: bool,
}

#[derive(Clone, Debug)]
pub struct Region {
    pub id: String,
    pub description: String,
    pub parent_region_id: Option<String>,
    pub extra: Map<String, Value>,
}

impl Region {
    pub fn to_json(&self, base: &str) -> Value {
        let mut v = json!({
            "id": self.id, "description": self.description,
            "parent_region_id": self.parent_region_id,
            "links": {"self": format!("{base}/v3/regions/{}", self.id)},
        });
        merge_extra(&mut v, &self.extra);
        v
    }
}

#[derive(Clone, Debug)]
pub struct Service {
    pub id: String,
    pub service_type: String,
    pub enabled: bool,
    pub extra: Map<String, Value>,
}

impl Service {
    pub fn name(&self) -> &str {
        self.extra.get("name").and_then(Value::as_str).unwrap_or("")
    }
    pub fn to_json(&self, base: &str) -> Value {
        let mut v = json!({
            "id": self.id, "type": self.service_type, "enabled": self.enabled,
            "links": {"self": format!("{base}/v3/services/{}", self.id)},
        });
        merge_extra(&mut v, &self.extra);
        v
    }
}

#[derive(Clone, Debug)]
pub struct Endpoint {
    pub id: String,
    pub interface: String,
    pub service_id: String,
    pub url: String,
    pub region_id: Option<String>,
    pub enabled: bool,
    pub extra: Map<String, Value>,
}

impl Endpoint {
    pub fn to_json(&self, base: &str) -> Value {
        let mut v = json!({
            "id": self.id, "interface": self.interface, "service_id": self.service_id,
            "url": self.url, "region_id": self.region_id, "region": self.region_id,
            "enabled": self.enabled,
            "links": {"self": format!("{base}/v3/endpoints/{}", self.id)},
        });
        merge_extra(&mut v, &self.extra);
        v
    }
}

#[derive(Clone, Debug)]
pub struct AccessRule {
    pub id: String,
    pub service: String,
    pub path: String,
    pub method: String,
}

impl AccessRule {
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "service": self.service, "path": self.path, "method": self.method})
    }
}

#[derive(Clone, Debug)]
pub struct ApplicationCredential {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub system: Option<String>,
    pub secret_hash: String,
    pub description: String,
    pub expires_at: Option<i64>,
    pub unrestricted: bool,
    pub roles: Vec<Role>,
    pub access_rules: Vec<AccessRule>,
}

impl ApplicationCredential {
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "id": self.id, "name": self.name, "user_id": self.user_id,
            "project_id": self.project_id, "system": self.system,
            "description": self.description,
            "expires_at": self.expires_at.map(iso_naive),
            "unrestricted": self.unrestricted,
            "roles": self.roles.iter().map(|r| json!({"id": r.id, "name": r.name, "domain_id": r.domain_id})).collect::<Vec<_>>(),
            "access_rules": self.access_rules.iter().map(AccessRule::to_json).collect::<Vec<_>>(),
            "links": {"self": format!("{base}/v3/users/{}/application_credentials/{}", self.user_id, self.id)},
        })
    }
}

#[derive(Clone, Debug)]
pub struct Credential {
    pub id: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub kind: String,
    pub blob: String,
    pub extra: Map<String, Value>,
}

impl Credential {
    pub fn to_json(&self, base: &str) -> Value {
        let mut v = json!({
            "id": self.id, "user_id": self.user_id, "project_id": self.project_id,
            "type": self.kind, "blob": self.blob,
            "links": {"self": format!("{base}/v3/credentials/{}", self.id)},
        });
        merge_extra(&mut v, &self.extra);
        v
    }
}

#[derive(Clone, Debug)]
pub struct RegisteredLimit {
    pub id: String,
    pub service_id: String,
    pub region_id: Option<String>,
    pub resource_name: String,
    pub default_limit: i64,
    pub description: String,
}

impl RegisteredLimit {
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "id": self.id, "service_id": self.service_id, "region_id": self.region_id,
            "resource_name": self.resource_name, "default_limit": self.default_limit,
            "description": self.description,
            "links": {"self": format!("{base}/v3/registered_limits/{}", self.id)},
        })
    }
}

#[derive(Clone, Debug)]
pub struct Limit {
    pub id: String,
    pub project_id: Option<String>,
    pub domain_id: Option<String>,
    pub service_id: String,
    pub region_id: Option<String>,
    pub resource_name: String,
    pub resource_limit: i64,
    pub description: String,
}

impl Limit {
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "id": self.id, "project_id": self.project_id, "domain_id": self.domain_id,
            "service_id": self.service_id, "region_id": self.region_id,
            "resource_name": self.resource_name, "resource_limit": self.resource_limit,
            "description": self.description,
            "links": {"self": format!("{base}/v3/limits/{}", self.id)},
        })
    }
}

/// A revocation event: tokens whose attributes match every set field and
/// that were issued before `issued_before` are no longer valid.
#[derive(Clone, Debug, Default)]
pub struct RevocationEvent {
    pub id: String,
    pub domain_id: Option<String>,
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    pub role_id: Option<String>,
    pub consumer_id: Option<String>,
    pub audit_id: Option<String>,
    pub issued_before: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: i64,
}

fn merge_extra(v: &mut Value, extra: &Map<String, Value>) {
    if let Value::Object(o) = v {
        for (k, val) in extra {
            o.entry(k.clone()).or_insert_with(|| val.clone());
        }
    }
}
