//! Nova's default policy rules (`nova/policies/*.py`, the secure-RBAC
//! defaults), for the operations this crate serves. Nova's base rules
//! (`context_is_admin`, `project_reader_or_admin`, ...) are written out in
//! the check strings: every service shares one enforcer and the base names
//! mean different things in different services.

use policy::{RuleDefault, ScopeType};

/// Rule names, as the handlers check them.
pub mod names {
    pub const FLAVOR_MANAGE_CREATE: &str = "os_compute_api:os-flavor-manage:create";
    pub const FLAVOR_MANAGE_UPDATE: &str = "os_compute_api:os-flavor-manage:update";
    pub const FLAVOR_MANAGE_DELETE: &str = "os_compute_api:os-flavor-manage:delete";
    pub const FLAVOR_ACCESS: &str = "os_compute_api:os-flavor-access";
    pub const FLAVOR_ACCESS_ADD_TENANT_ACCESS: &str = "os_compute_api:os-flavor-access:add_tenant_access";
    pub const FLAVOR_ACCESS_REMOVE_TENANT_ACCESS: &str = "os_compute_api:os-flavor-access:remove_tenant_access";
    pub const FLAVOR_EXTRA_SPECS_INDEX: &str = "os_compute_api:os-flavor-extra-specs:index";
    pub const FLAVOR_EXTRA_SPECS_SHOW: &str = "os_compute_api:os-flavor-extra-specs:show";
    pub const FLAVOR_EXTRA_SPECS_CREATE: &str = "os_compute_api:os-flavor-extra-specs:create";
    pub const FLAVOR_EXTRA_SPECS_UPDATE: &str = "os_compute_api:os-flavor-extra-specs:update";
    pub const FLAVOR_EXTRA_SPECS_DELETE: &str = "os_compute_api:os-flavor-extra-specs:delete";
    pub const KEYPAIRS_INDEX: &str = "os_compute_api:os-keypairs:index";
    pub const KEYPAIRS_CREATE: &str = "os_compute_api:os-keypairs:create";
    pub const KEYPAIRS_DELETE: &str = "os_compute_api:os-keypairs:delete";
    pub const KEYPAIRS_SHOW: &str = "os_compute_api:os-keypairs:show";
    pub const SERVERS_INDEX: &str = "os_compute_api:servers:index";
    pub const SERVERS_DETAIL: &str = "os_compute_api:servers:detail";
    pub const SERVERS_INDEX_ALL_TENANTS: &str = "os_compute_api:servers:index:get_all_tenants";
    pub const SERVERS_DETAIL_ALL_TENANTS: &str = "os_compute_api:servers:detail:get_all_tenants";
    pub const SERVERS_SHOW: &str = "os_compute_api:servers:show";
    pub const SERVERS_CREATE: &str = "os_compute_api:servers:create";
    pub const SERVERS_DELETE: &str = "os_compute_api:servers:delete";
    pub const EXTENDED_SERVER_ATTRIBUTES: &str = "os_compute_api:os-extended-server-attributes";
    pub const SERVICES_LIST: &str = "os_compute_api:os-services:list";
    pub const SERVICES_UPDATE: &str = "os_compute_api:os-services:update";
    pub const SERVICES_DELETE: &str = "os_compute_api:os-services:delete";
    pub const HYPERVISORS_LIST: &str = "os_compute_api:os-hypervisors:list";
    pub const HYPERVISORS_LIST_DETAIL: &str = "os_compute_api:os-hypervisors:list-detail";
    pub const HYPERVISORS_STATISTICS: &str = "os_compute_api:os-hypervisors:statistics";
    pub const HYPERVISORS_SHOW: &str = "os_compute_api:os-hypervisors:show";
    pub const HYPERVISORS_UPTIME: &str = "os_compute_api:os-hypervisors:uptime";
    pub const LIMITS: &str = "os_compute_api:limits";
    pub const LIMITS_OTHER_PROJECT: &str = "os_compute_api:limits:other_project";
    pub const AVAILABILITY_ZONE_LIST: &str = "os_compute_api:os-availability-zone:list";
    pub const AVAILABILITY_ZONE_DETAIL: &str = "os_compute_api:os-availability-zone:detail";
}

/// Every rule, in registration order.
pub static DEFAULTS: &[RuleDefault] = &[
    RuleDefault {
        name: "os_compute_api:os-flavor-manage:create",
        check_str: "role:admin",
        description: "Create a flavor",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/flavors")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-flavor-manage:update",
        check_str: "role:admin",
        description: "Update a flavor",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/flavors/{flavor_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-flavor-manage:delete",
        check_str: "role:admin",
        description: "Delete a flavor",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/flavors/{flavor_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-flavor-access",
        check_str: "role:admin",
        description: "List flavor access information",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/flavors/{flavor_id}/os-flavor-access")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-flavor-access:add_tenant_access",
        check_str: "role:admin",
        description: "Add flavor access to a tenant",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/flavors/{flavor_id}/action (addTenantAccess)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-flavor-access:remove_tenant_access",
        check_str: "role:admin",
        description: "Remove flavor access from a tenant",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/flavors/{flavor_id}/action (removeTenantAccess)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-flavor-extra-specs:index",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "List extra specs for a flavor",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/flavors/{flavor_id}/os-extra_specs")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-flavor-extra-specs:show",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "Show an extra spec for a flavor",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/flavors/{flavor_id}/os-extra_specs/{flavor_extra_spec_key}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-flavor-extra-specs:create",
        check_str: "role:admin",
        description: "Create extra specs for a flavor",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/flavors/{flavor_id}/os-extra_specs")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-flavor-extra-specs:update",
        check_str: "role:admin",
        description: "Update an extra spec for a flavor",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/flavors/{flavor_id}/os-extra_specs/{flavor_extra_spec_key}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-flavor-extra-specs:delete",
        check_str: "role:admin",
        description: "Delete an extra spec for a flavor",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/flavors/{flavor_id}/os-extra_specs/{flavor_extra_spec_key}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-keypairs:index",
        check_str: "role:admin or user_id:%(user_id)s",
        description: "List all keypairs",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-keypairs")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-keypairs:create",
        check_str: "role:admin or user_id:%(user_id)s",
        description: "Create a keypair",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/os-keypairs")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-keypairs:delete",
        check_str: "role:admin or user_id:%(user_id)s",
        description: "Delete a keypair",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/os-keypairs/{keypair_name}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-keypairs:show",
        check_str: "role:admin or user_id:%(user_id)s",
        description: "Show details of a keypair",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-keypairs/{keypair_name}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:index",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "List all servers",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:detail",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "List all servers with detailed information",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/detail")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:index:get_all_tenants",
        check_str: "role:admin",
        description: "List all servers for all projects",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:detail:get_all_tenants",
        check_str: "role:admin",
        description: "List all servers with detailed information for all projects",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/detail")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:show",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "Show a server",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{server_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:create",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Create a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:delete",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Delete a server",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/servers/{server_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-extended-server-attributes",
        check_str: "role:admin",
        description: "Return extended attributes for server",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-services:list",
        check_str: "role:admin",
        description: "List all running Compute services in a region",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-services")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-services:update",
        check_str: "role:admin",
        description: "Update a Compute service",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/os-services/{service_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-services:delete",
        check_str: "role:admin",
        description: "Delete a Compute service",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/os-services/{service_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-hypervisors:list",
        check_str: "role:admin",
        description: "List all hypervisors",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-hypervisors")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-hypervisors:list-detail",
        check_str: "role:admin",
        description: "List all hypervisors with details",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-hypervisors/detail")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-hypervisors:statistics",
        check_str: "role:admin",
        description: "Show summary statistics for all hypervisors",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-hypervisors/statistics")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-hypervisors:show",
        check_str: "role:admin",
        description: "Show details for a hypervisor",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-hypervisors/{hypervisor_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-hypervisors:uptime",
        check_str: "role:admin",
        description: "Show the uptime of a hypervisor",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-hypervisors/{hypervisor_id}/uptime")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:limits",
        check_str: "@",
        description: "Show rate and absolute limits for the current user project",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/limits")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:limits:other_project",
        check_str: "role:admin",
        description: "Show rate and absolute limits of another project",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/limits")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-availability-zone:list",
        check_str: "@",
        description: "List availability zone information without host information",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-availability-zone")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-availability-zone:detail",
        check_str: "role:admin",
        description: "List detailed availability zone information with host information",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-availability-zone/detail")],
        deprecated_rule: None,
    },
];
