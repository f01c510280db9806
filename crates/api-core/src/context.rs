//! Who is calling and in which scope: built from a validated token.

use serde::{Deserialize, Serialize};

/// The identity behind a request, as a validated token describes it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RequestContext {
    pub request_id: String,
    pub global_request_id: Option<String>,
    pub user_id: String,
    pub user_name: String,
    pub user_domain_id: String,
    pub user_domain_name: String,
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub project_domain_id: Option<String>,
    pub project_domain_name: Option<String>,
    pub domain_id: Option<String>,
    pub domain_name: Option<String>,
    /// `Some("all")` for a system-scoped token.
    pub system_scope: Option<String>,
    /// Role names, implied roles included.
    pub roles: Vec<String>,
    pub role_ids: Vec<String>,
    pub is_admin_project: bool,
    pub application_credential_id: Option<String>,
    pub audit_ids: Vec<String>,
    pub expires_at: String,
    pub issued_at: String,
    pub methods: Vec<String>,
    /// For tokens of an application credential with access rules: the only
    /// requests the token may make.
    pub access_rules: Option<Vec<AccessRule>>,
}

/// One access rule of an application credential.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessRule {
    /// Service type, e.g. `identity`, `compute`.
    pub service: String,
    /// Path relative to the service's endpoint; `*` matches one segment,
    /// `**` any number of segments.
    pub path: String,
    pub method: String,
}

impl AccessRule {
    pub fn allows(&self, service: &str, method: &str, path: &str) -> bool {
        self.service == service && self.method.eq_ignore_ascii_case(method) && glob(&self.path, path)
    }
}

fn glob(pattern: &str, path: &str) -> bool {
    fn m(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => (0..=s.len()).any(|i| m(&p[1..], &s[i..])),
            (Some(&"*"), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    m(&p, &s)
}

impl RequestContext {
    pub fn credentials(&self) -> policy::Credentials {
        policy::Credentials {
            user_id: Some(self.user_id.clone()),
            user_domain_id: Some(self.user_domain_id.clone()),
            project_id: self.project_id.clone(),
            project_domain_id: self.project_domain_id.clone(),
            domain_id: self.domain_id.clone(),
            system_scope: self.system_scope.clone(),
            roles: self.roles.clone(),
            is_admin: false,
            is_admin_project: self.is_admin_project,
            ..Default::default()
        }
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rule_globs() {
        let r = AccessRule { service: "identity".into(), path: "/v3/users/*".into(), method: "GET".into() };
        assert!(r.allows("identity", "GET", "/v3/users/abc"));
        assert!(!r.allows("identity", "GET", "/v3/users/abc/groups"));
        assert!(!r.allows("identity", "POST", "/v3/users/abc"));
        assert!(!r.allows("compute", "GET", "/v3/users/abc"));
        let r = AccessRule { service: "identity".into(), path: "/v3/**".into(), method: "GET".into() };
        assert!(r.allows("identity", "GET", "/v3/users/abc/groups"));
    }
}
