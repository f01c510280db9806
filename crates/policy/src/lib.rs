//! Authorization policy for every ferrostack service: this crate owns the
//! oslo.policy rule language (parsing check strings such as
//! `role:admin or project_id:%(project_id)s`), their evaluation against a
//! request's [`Credentials`] and a JSON target, the registry of each
//! service's [`RuleDefault`]s held by an [`Enforcer`], operator overrides
//! from oslo-style YAML/JSON policy files, and the sample-file dump
//! ([`dump_defaults_yaml`]).
//!
//! It must not touch HTTP or the database: callers build the credentials
//! from a validated token and the target from their own data, and map
//! [`PolicyError`] onto their API's responses.
//!
//! Semantics follow oslo.policy (`_parser.py`, `_checks.py`, `policy.py`)
//! with `enforce_scope` and `enforce_new_defaults` on, as in current
//! oslo.policy; [`Enforcer`] lists the few places where it deliberately
//! differs.

mod check;
mod dump;
mod enforcer;
mod parser;
mod python;

use std::fmt;
use std::path::PathBuf;

use serde_json::{json, Value};

pub use check::Check;
pub use dump::dump_defaults_yaml;
pub use enforcer::Enforcer;
pub use parser::parse_rule;

/// What is known about the caller, from its token: the equivalent of
/// oslo.context's `RequestContext.to_policy_values()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub user_id: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_id: Option<String>,
    pub project_domain_id: Option<String>,
    pub domain_id: Option<String>,
    /// `Some("all")` for a system-scoped token.
    pub system_scope: Option<String>,
    pub roles: Vec<String>,
    pub is_admin: bool,
    pub is_admin_project: bool,
    pub service_user_id: Option<String>,
    pub service_roles: Vec<String>,
}

fn opt_value(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

impl Credentials {
    /// The credential attribute a generic check (`user_id:%(user_id)s`,
    /// `system_scope:all`, `token.domain.id:...`) compares against.
    ///
    /// As with oslo.context, every standard key is present even when unset
    /// (as JSON `null`, which compares equal to the literal `None`, so that
    /// Keystone's `not domain_id:None` works as it does there). `system` is
    /// set only for a system-scoped token, as oslo.policy does. `token` is a
    /// rendering of the token shaped like Keystone's
    /// (`token.user.domain.id`, `token.project.domain.id`,
    /// `token.domain.id`, `token.roles`, `token.system.all`), which
    /// Keystone's default rules use. Unknown keys are `None`.
    pub fn get(&self, key: &str) -> Option<Value> {
        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        Some(match key {
            "user_id" => opt_value(&self.user_id),
            "user_domain_id" => opt_value(&self.user_domain_id),
            "project_id" => opt_value(&self.project_id),
            "project_domain_id" => opt_value(&self.project_domain_id),
            "domain_id" => opt_value(&self.domain_id),
            "system_scope" => opt_value(&self.system_scope),
            "system" => Value::String(non_empty(&self.system_scope)?.to_owned()),
            "roles" => strings(&self.roles),
            "is_admin" => Value::Bool(self.is_admin),
            "is_admin_project" => Value::Bool(self.is_admin_project),
            "service_user_id" => opt_value(&self.service_user_id),
            "service_roles" => strings(&self.service_roles),
            "service_user_domain_id" | "service_project_id" | "service_project_domain_id" => Value::Null,
            "token" => self.token_view(),
            _ => return None,
        })
    }

    /// The scope oslo.policy attributes to the request: system if
    /// `system_scope` is set, else domain if `domain_id` is set, else project
    /// (which is also what an unscoped token counts as).
    pub fn scope_type(&self) -> ScopeType {
        if non_empty(&self.system_scope).is_some() {
            ScopeType::System
        } else if non_empty(&self.domain_id).is_some() {
            ScopeType::Domain
        } else {
            ScopeType::Project
        }
    }

    fn token_view(&self) -> Value {
        let mut token = json!({
            "user": {"id": opt_value(&self.user_id), "domain": {"id": opt_value(&self.user_domain_id)}},
            "roles": self.roles.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        });
        if let Some(project_id) = &self.project_id {
            token["project"] = json!({
                "id": project_id,
                "domain": {"id": opt_value(&self.project_domain_id)},
            });
            token["is_admin_project"] = Value::Bool(self.is_admin_project);
        }
        if let Some(domain_id) = &self.domain_id {
            token["domain"] = json!({"id": domain_id});
        }
        if let Some(system) = non_empty(&self.system_scope) {
            token["system"] = json!({ system: true });
        }
        token
    }
}

/// The kinds of token scope an operation is meant for (oslo.policy's
/// `scope_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeType {
    System,
    Domain,
    Project,
}

impl ScopeType {
    /// `system`, `domain` or `project`, as oslo.policy spells them.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeType::System => "system",
            ScopeType::Domain => "domain",
            ScopeType::Project => "project",
        }
    }
}

impl fmt::Display for ScopeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule a service registers with its default check string: oslo.policy's
/// `RuleDefault` / `DocumentedRuleDefault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleDefault {
    pub name: &'static str,
    pub check_str: &'static str,
    /// Empty for an undocumented rule.
    pub description: &'static str,
    /// Empty means any scope.
    pub scope_types: &'static [ScopeType],
    /// `(method, path)` pairs of the API operations the rule guards.
    pub operations: &'static [(&'static str, &'static str)],
    /// The name this rule was previously registered under, if it was
    /// renamed: an override of the old name in a policy file then applies to
    /// this rule unless the new name is overridden too. (A deprecated
    /// *check string* is not kept: new defaults are always enforced.)
    pub deprecated_rule: Option<&'static str>,
}

/// Why a policy operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The rule denied the request (oslo.policy's `PolicyNotAuthorized`).
    #[error("{rule} is disallowed by policy")]
    Forbidden { rule: String },
    /// The token's scope is not among the rule's `scope_types`
    /// (oslo.policy's `InvalidScope`).
    #[error("{rule} is not allowed with the scope of the request's token")]
    InvalidScope { rule: String },
    /// A policy file could not be read.
    #[error("cannot read policy file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A policy file is not a valid map of rule names to check strings.
    #[error("invalid policy file: {0}")]
    InvalidFile(String),
}
