//! Glance's default policy rules (`glance/policies/*.py`, the secure-RBAC
//! defaults that apply with `enforce_new_defaults`), for the operations this
//! crate serves. Upstream's `rule:context_is_admin` and `rule:service_api`
//! inside check strings are written out as `role:admin` and
//! `role:admin or role:service`: every service shares one enforcer, and
//! Placement already registers a different `service_api`. `context_is_admin`
//! and `default` are still registered under their names so a policy file
//! can refer to them.

use policy::{RuleDefault, ScopeType};

/// Rule names, as Glance's handlers check them.
pub mod names {
    pub const ADD_IMAGE: &str = "add_image";
    pub const DELETE_IMAGE: &str = "delete_image";
    pub const GET_IMAGE: &str = "get_image";
    pub const GET_IMAGES: &str = "get_images";
    pub const MODIFY_IMAGE: &str = "modify_image";
    pub const PUBLICIZE_IMAGE: &str = "publicize_image";
    pub const COMMUNITIZE_IMAGE: &str = "communitize_image";
    pub const DOWNLOAD_IMAGE: &str = "download_image";
    pub const UPLOAD_IMAGE: &str = "upload_image";
    pub const ADD_MEMBER: &str = "add_member";
    pub const DELETE_MEMBER: &str = "delete_member";
    pub const GET_MEMBER: &str = "get_member";
    pub const GET_MEMBERS: &str = "get_members";
    pub const MODIFY_MEMBER: &str = "modify_member";
    pub const DEACTIVATE: &str = "deactivate";
    pub const REACTIVATE: &str = "reactivate";
    pub const COPY_IMAGE: &str = "copy_image";
    pub const TASKS_API_ACCESS: &str = "tasks_api_access";
    pub const GET_TASK: &str = "get_task";
    pub const GET_TASKS: &str = "get_tasks";
    pub const STORES_INFO_DETAIL: &str = "stores_info_detail";
}

/// Every rule, in registration order.
pub static DEFAULTS: &[RuleDefault] = &[
    RuleDefault {
        name: "context_is_admin",
        check_str: "role:admin",
        description: "Defines the rule for the is_admin:True check.",
        scope_types: &[],
        operations: &[],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "default",
        check_str: "",
        description: "Defines the default rule used for policies that historically had an empty policy in the supplied policy.json file.",
        scope_types: &[],
        operations: &[],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "add_image",
        check_str: "role:admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s)",
        description: "Create new image",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/v2/images")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "delete_image",
        check_str: "role:admin or (role:member and project_id:%(project_id)s)",
        description: "Deletes the image",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/v2/images/{image_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "get_image",
        check_str: "role:admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))",
        description: "Get specified image",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/v2/images/{image_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "get_images",
        check_str: "role:admin or (role:reader and project_id:%(project_id)s)",
        description: "Get all available images",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/v2/images")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "modify_image",
        check_str: "role:admin or (role:member and project_id:%(project_id)s)",
        description: "Updates given image",
        scope_types: &[ScopeType::Project],
        operations: &[("PATCH", "/v2/images/{image_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "publicize_image",
        check_str: "role:admin",
        description: "Publicize given image",
        scope_types: &[ScopeType::Project],
        operations: &[("PATCH", "/v2/images/{image_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "communitize_image",
        check_str: "role:admin or (role:member and project_id:%(project_id)s)",
        description: "Communitize given image",
        scope_types: &[ScopeType::Project],
        operations: &[("PATCH", "/v2/images/{image_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "download_image",
        check_str: "role:admin or (role:member and (project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))",
        description: "Downloads given image",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/v2/images/{image_id}/file")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "upload_image",
        check_str: "role:admin or (role:member and project_id:%(project_id)s)",
        description: "Uploads data to specified image",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/v2/images/{image_id}/file")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "add_member",
        check_str: "role:admin or (role:member and project_id:%(project_id)s)",
        description: "Create image member",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/v2/images/{image_id}/members")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "delete_member",
        check_str: "role:admin or (role:member and project_id:%(project_id)s)",
        description: "Delete image member",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/v2/images/{image_id}/members/{member_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "get_member",
        check_str: "role:admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)",
        description: "Show image member details",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/v2/images/{image_id}/members/{member_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "get_members",
        check_str: "role:admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)",
        description: "List image members",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/v2/images/{image_id}/members")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "modify_member",
        check_str: "role:admin or (role:member and project_id:%(member_id)s)",
        description: "Update image member",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/v2/images/{image_id}/members/{member_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "deactivate",
        check_str: "role:admin or (role:member and project_id:%(project_id)s)",
        description: "Deactivate image",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/v2/images/{image_id}/actions/deactivate")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "reactivate",
        check_str: "role:admin or (role:member and project_id:%(project_id)s)",
        description: "Reactivate image",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/v2/images/{image_id}/actions/reactivate")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "copy_image",
        check_str: "role:admin",
        description: "Copy existing image to other stores",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/v2/images/{image_id}/import")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "tasks_api_access",
        check_str: "role:admin",
        description: "Access to all tasks APIs",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/v2/tasks"), ("GET", "/v2/tasks/{task_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "get_task",
        check_str: "rule:default",
        description: "Get an image task.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/v2/tasks/{task_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "get_tasks",
        check_str: "rule:default",
        description: "List tasks for all images.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/v2/tasks")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "stores_info_detail",
        check_str: "role:admin or role:service",
        description: "Expose store specific information",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/v2/info/stores/detail")],
        deprecated_rule: None,
    },
];
