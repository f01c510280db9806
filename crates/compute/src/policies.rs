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
    pub const SERVERS_ALLOW_ALL_FILTERS: &str = "os_compute_api:servers:allow_all_filters";
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
    pub const SERVERS_UPDATE: &str = "os_compute_api:servers:update";
    pub const SERVERS_START: &str = "os_compute_api:servers:start";
    pub const SERVERS_STOP: &str = "os_compute_api:servers:stop";
    pub const SERVERS_REBOOT: &str = "os_compute_api:servers:reboot";
    pub const SERVERS_RESIZE: &str = "os_compute_api:servers:resize";
    pub const SERVERS_CONFIRM_RESIZE: &str = "os_compute_api:servers:confirm_resize";
    pub const SERVERS_REVERT_RESIZE: &str = "os_compute_api:servers:revert_resize";
    pub const SERVERS_REBUILD: &str = "os_compute_api:servers:rebuild";
    pub const SERVERS_CREATE_IMAGE: &str = "os_compute_api:servers:create_image";
    pub const SERVERS_TRIGGER_CRASH_DUMP: &str = "os_compute_api:servers:trigger_crash_dump";
    pub const SERVERS_CREATE_FORCED_HOST: &str = "os_compute_api:servers:create:forced_host";
    pub const PAUSE: &str = "os_compute_api:os-pause-server:pause";
    pub const UNPAUSE: &str = "os_compute_api:os-pause-server:unpause";
    pub const SUSPEND: &str = "os_compute_api:os-suspend-server:suspend";
    pub const RESUME: &str = "os_compute_api:os-suspend-server:resume";
    pub const LOCK: &str = "os_compute_api:os-lock-server:lock";
    pub const UNLOCK: &str = "os_compute_api:os-lock-server:unlock";
    pub const UNLOCK_OVERRIDE: &str = "os_compute_api:os-lock-server:unlock:unlock_override";
    pub const RESCUE: &str = "os_compute_api:os-rescue";
    pub const UNRESCUE: &str = "os_compute_api:os-unrescue";
    pub const SHELVE: &str = "os_compute_api:os-shelve:shelve";
    pub const SHELVE_OFFLOAD: &str = "os_compute_api:os-shelve:shelve_offload";
    pub const UNSHELVE: &str = "os_compute_api:os-shelve:unshelve";
    pub const UNSHELVE_TO_HOST: &str = "os_compute_api:os-shelve:unshelve_to_host";
    pub const CONSOLE_OUTPUT: &str = "os_compute_api:os-console-output";
    pub const RESET_STATE: &str = "os_compute_api:os-admin-actions:reset_state";
    pub const EVACUATE: &str = "os_compute_api:os-evacuate";
    pub const MIGRATE: &str = "os_compute_api:os-migrate-server:migrate";
    pub const MIGRATE_HOST: &str = "os_compute_api:os-migrate-server:migrate:host";
    pub const MIGRATE_LIVE: &str = "os_compute_api:os-migrate-server:migrate_live";
    pub const MIGRATE_LIVE_HOST: &str = "os_compute_api:os-migrate-server:migrate_live:host";
    pub const METADATA_INDEX: &str = "os_compute_api:server-metadata:index";
    pub const METADATA_SHOW: &str = "os_compute_api:server-metadata:show";
    pub const METADATA_CREATE: &str = "os_compute_api:server-metadata:create";
    pub const METADATA_UPDATE_ALL: &str = "os_compute_api:server-metadata:update_all";
    pub const METADATA_UPDATE: &str = "os_compute_api:server-metadata:update";
    pub const METADATA_DELETE: &str = "os_compute_api:server-metadata:delete";
    pub const TAGS_INDEX: &str = "os_compute_api:os-server-tags:index";
    pub const TAGS_SHOW: &str = "os_compute_api:os-server-tags:show";
    pub const TAGS_UPDATE: &str = "os_compute_api:os-server-tags:update";
    pub const TAGS_UPDATE_ALL: &str = "os_compute_api:os-server-tags:update_all";
    pub const TAGS_DELETE: &str = "os_compute_api:os-server-tags:delete";
    pub const TAGS_DELETE_ALL: &str = "os_compute_api:os-server-tags:delete_all";
    pub const INSTANCE_ACTIONS_LIST: &str = "os_compute_api:os-instance-actions:list";
    pub const INSTANCE_ACTIONS_SHOW: &str = "os_compute_api:os-instance-actions:show";
    pub const INSTANCE_ACTIONS_EVENTS: &str = "os_compute_api:os-instance-actions:events";
    pub const EXTERNAL_EVENTS: &str = "os_compute_api:os-server-external-events:create";
    pub const MIGRATIONS_INDEX: &str = "os_compute_api:os-migrations:index";
    pub const SERVER_MIGRATIONS: &str = "os_compute_api:servers:migrations:index";
    pub const SERVER_MIGRATIONS_SHOW: &str = "os_compute_api:servers:migrations:show";
    pub const SERVER_MIGRATIONS_FORCE_COMPLETE: &str = "os_compute_api:servers:migrations:force_complete";
    pub const SERVER_MIGRATIONS_DELETE: &str = "os_compute_api:servers:migrations:delete";
    pub const CREATE_BACKUP: &str = "os_compute_api:os-create-backup";
    pub const ADMIN_PASSWORD: &str = "os_compute_api:os-admin-password";
    pub const DEFERRED_DELETE_RESTORE: &str = "os_compute_api:os-deferred-delete:restore";
    pub const DEFERRED_DELETE_FORCE: &str = "os_compute_api:os-deferred-delete:force";
    pub const PASSWORD_SHOW: &str = "os_compute_api:os-server-password:show";
    pub const PASSWORD_CLEAR: &str = "os_compute_api:os-server-password:clear";
    pub const DIAGNOSTICS: &str = "os_compute_api:os-server-diagnostics";
    pub const SERVER_GROUPS_INDEX: &str = "os_compute_api:os-server-groups:index";
    pub const SERVER_GROUPS_INDEX_ALL: &str = "os_compute_api:os-server-groups:index:all_projects";
    pub const SERVER_GROUPS_SHOW: &str = "os_compute_api:os-server-groups:show";
    pub const SERVER_GROUPS_CREATE: &str = "os_compute_api:os-server-groups:create";
    pub const SERVER_GROUPS_DELETE: &str = "os_compute_api:os-server-groups:delete";
    pub const AGGREGATES_INDEX: &str = "os_compute_api:os-aggregates:index";
    pub const AGGREGATES_CREATE: &str = "os_compute_api:os-aggregates:create";
    pub const AGGREGATES_SHOW: &str = "os_compute_api:os-aggregates:show";
    pub const AGGREGATES_UPDATE: &str = "os_compute_api:os-aggregates:update";
    pub const AGGREGATES_DELETE: &str = "os_compute_api:os-aggregates:delete";
    pub const AGGREGATES_ADD_HOST: &str = "os_compute_api:os-aggregates:add_host";
    pub const AGGREGATES_REMOVE_HOST: &str = "os_compute_api:os-aggregates:remove_host";
    pub const AGGREGATES_SET_METADATA: &str = "os_compute_api:os-aggregates:set_metadata";
    pub const QUOTA_SETS_SHOW: &str = "os_compute_api:os-quota-sets:show";
    pub const QUOTA_SETS_UPDATE: &str = "os_compute_api:os-quota-sets:update";
    pub const QUOTA_SETS_DEFAULTS: &str = "os_compute_api:os-quota-sets:defaults";
    pub const QUOTA_SETS_DELETE: &str = "os_compute_api:os-quota-sets:delete";
    pub const QUOTA_SETS_DETAIL: &str = "os_compute_api:os-quota-sets:detail";
    pub const QUOTA_CLASS_SHOW: &str = "os_compute_api:os-quota-class-sets:show";
    pub const QUOTA_CLASS_UPDATE: &str = "os_compute_api:os-quota-class-sets:update";
    pub const USAGE_LIST: &str = "os_compute_api:os-simple-tenant-usage:list";
    pub const USAGE_SHOW: &str = "os_compute_api:os-simple-tenant-usage:show";
    pub const EXTENSIONS: &str = "os_compute_api:extensions";
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
    RuleDefault {
        name: "os_compute_api:servers:update",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Update a server",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/servers/{server_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:start",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Start a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (os-start)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:stop",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Stop a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (os-stop)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:reboot",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Reboot a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (reboot)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:resize",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Resize a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (resize)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:confirm_resize",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Confirm a server resize",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (confirmResize)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:revert_resize",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Revert a server resize",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (revertResize)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:rebuild",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Rebuild a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (rebuild)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:create_image",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Create an image from a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (createImage)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:trigger_crash_dump",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Trigger a crash dump in a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (trigger_crash_dump)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:create:forced_host",
        check_str: "role:admin",
        description: "Create a server on a given host",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-pause-server:pause",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Pause a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (pause)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-pause-server:unpause",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Unpause a paused server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (unpause)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-suspend-server:suspend",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Suspend a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (suspend)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-suspend-server:resume",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Resume a suspended server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (resume)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-lock-server:lock",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Lock a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (lock)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-lock-server:unlock",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Unlock a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (unlock)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-lock-server:unlock:unlock_override",
        check_str: "role:admin",
        description: "Unlock a server locked by an administrator",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (unlock)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-rescue",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Rescue a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (rescue)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-unrescue",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Unrescue a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (unrescue)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-shelve:shelve",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Shelve a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (shelve)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-shelve:shelve_offload",
        check_str: "role:admin",
        description: "Shelf-offload a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (shelveOffload)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-shelve:unshelve",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Unshelve a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (unshelve)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-shelve:unshelve_to_host",
        check_str: "role:admin",
        description: "Unshelve a server to a given host",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (unshelve)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-console-output",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Show the console output of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (os-getConsoleOutput)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-admin-actions:reset_state",
        check_str: "role:admin",
        description: "Reset the state of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (os-resetState)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-evacuate",
        check_str: "role:admin",
        description: "Evacuate a server from a failed host",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (evacuate)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-migrate-server:migrate",
        check_str: "(role:manager and project_id:%(project_id)s) or role:admin",
        description: "Cold migrate a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (migrate)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-migrate-server:migrate:host",
        check_str: "role:admin",
        description: "Cold migrate a server to a given host",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (migrate)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-migrate-server:migrate_live",
        check_str: "(role:manager and project_id:%(project_id)s) or role:admin",
        description: "Live migrate a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (os-migrateLive)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-migrate-server:migrate_live:host",
        check_str: "role:admin",
        description: "Live migrate a server to a given host",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (os-migrateLive)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:server-metadata:index",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "List all metadata of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{server_id}/metadata")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:server-metadata:show",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "Show metadata for a server",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{server_id}/metadata/{key}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:server-metadata:create",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Create metadata for a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/metadata")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:server-metadata:update_all",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Replace the metadata of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/servers/{server_id}/metadata")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:server-metadata:update",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Update metadata of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/servers/{server_id}/metadata/{key}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:server-metadata:delete",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Delete metadata of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/servers/{server_id}/metadata/{key}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-tags:index",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "List all tags of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{server_id}/tags")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-tags:show",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "Check a tag of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{server_id}/tags/{tag}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-tags:update",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Add a tag to a server",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/servers/{server_id}/tags/{tag}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-tags:update_all",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Replace the tags of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/servers/{server_id}/tags")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-tags:delete",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Delete a tag of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/servers/{server_id}/tags/{tag}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-tags:delete_all",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Delete all tags of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/servers/{server_id}/tags")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-instance-actions:list",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "List the actions of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{server_id}/os-instance-actions")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-instance-actions:show",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "Show an action of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{server_id}/os-instance-actions/{request_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-instance-actions:events",
        check_str: "role:admin",
        description: "Show the events of a server action",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{server_id}/os-instance-actions/{request_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-external-events:create",
        check_str: "role:admin or role:service",
        description: "Send events to servers",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/os-server-external-events")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-migrations:index",
        check_str: "(role:manager and project_id:%(project_id)s) or role:admin",
        description: "List migrations",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-migrations")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:migrations:index",
        check_str: "(role:manager and project_id:%(project_id)s) or role:admin",
        description: "List the in-progress live migrations of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{server_id}/migrations")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-password:show",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "Show the encrypted password of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{server_id}/os-server-password")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-password:clear",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Clear the encrypted password of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/servers/{server_id}/os-server-password")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-diagnostics",
        check_str: "role:admin",
        description: "Show the diagnostics of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{server_id}/diagnostics")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-groups:index",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "List server groups",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-server-groups")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-groups:index:all_projects",
        check_str: "role:admin",
        description: "List the server groups of all projects",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-server-groups")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-groups:show",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "Show a server group",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-server-groups/{server_group_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-groups:create",
        check_str: "(role:member and project_id:%(project_id)s)",
        description: "Create a server group",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/os-server-groups")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-server-groups:delete",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Delete a server group",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/os-server-groups/{server_group_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-aggregates:index",
        check_str: "role:admin",
        description: "List host aggregates",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-aggregates")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-aggregates:create",
        check_str: "role:admin",
        description: "Create a host aggregate",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/os-aggregates")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-aggregates:show",
        check_str: "role:admin",
        description: "Show a host aggregate",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-aggregates/{aggregate_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-aggregates:update",
        check_str: "role:admin",
        description: "Update a host aggregate",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/os-aggregates/{aggregate_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-aggregates:delete",
        check_str: "role:admin",
        description: "Delete a host aggregate",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/os-aggregates/{aggregate_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-aggregates:add_host",
        check_str: "role:admin",
        description: "Add a host to an aggregate",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/os-aggregates/{aggregate_id}/action (add_host)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-aggregates:remove_host",
        check_str: "role:admin",
        description: "Remove a host from an aggregate",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/os-aggregates/{aggregate_id}/action (remove_host)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-aggregates:set_metadata",
        check_str: "role:admin",
        description: "Set the metadata of an aggregate",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/os-aggregates/{aggregate_id}/action (set_metadata)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-quota-sets:show",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "Show the quotas of a project",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-quota-sets/{tenant_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-quota-sets:update",
        check_str: "role:admin",
        description: "Update the quotas of a project",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/os-quota-sets/{tenant_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-quota-sets:defaults",
        check_str: "@",
        description: "Show the default quotas",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-quota-sets/{tenant_id}/defaults")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-quota-sets:delete",
        check_str: "role:admin",
        description: "Revert the quotas of a project to the defaults",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/os-quota-sets/{tenant_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-quota-sets:detail",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "Show the quotas of a project with usage",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-quota-sets/{tenant_id}/detail")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-quota-class-sets:show",
        check_str: "role:admin",
        description: "Show a quota class",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-quota-class-sets/{quota_class}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-quota-class-sets:update",
        check_str: "role:admin",
        description: "Update a quota class",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/os-quota-class-sets/{quota_class}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-simple-tenant-usage:list",
        check_str: "role:admin",
        description: "List the usage of all projects",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-simple-tenant-usage")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-simple-tenant-usage:show",
        check_str: "(role:reader and project_id:%(project_id)s) or role:admin",
        description: "Show the usage of a project",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/os-simple-tenant-usage/{tenant_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:extensions",
        check_str: "@",
        description: "List the API extensions",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/extensions")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-create-backup",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Create a back up of a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (createBackup)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-admin-password",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Change the administrative password for a server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (changePassword)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-deferred-delete:restore",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Restore a soft deleted server",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (restore)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:os-deferred-delete:force",
        check_str: "(role:member and project_id:%(project_id)s) or role:admin",
        description: "Force delete a server before deferred cleanup",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/action (forceDelete)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:migrations:show",
        check_str: "role:admin",
        description: "Show details for an in-progress live migration for a given server",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers/{server_id}/migrations/{migration_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:migrations:force_complete",
        check_str: "(role:manager and project_id:%(project_id)s) or role:admin",
        description: "Force an in-progress live migration for a given server to complete",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/servers/{server_id}/migrations/{migration_id}/action (force_complete)")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:migrations:delete",
        check_str: "(role:manager and project_id:%(project_id)s) or role:admin",
        description: "Delete(Abort) an in-progress live migration",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/servers/{server_id}/migrations/{migration_id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "os_compute_api:servers:allow_all_filters",
        check_str: "role:admin",
        description: "Allow all filters when listing servers",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/servers"), ("GET", "/servers/detail")],
        deprecated_rule: None,
    },
];
