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
