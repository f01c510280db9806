//! Placement's default policy rules, as data: every rule that Placement's
//! `placement/policies/*.py` registers (openstack/placement master at commit
//! 7ad9ef078b490423ac6605e805fad2b75c8f2107), in the order of
//! `placement.policies.list_rules()`, with their check strings, descriptions,
//! scope types and operations. Python string constants such as
//! `base.ADMIN_OR_SERVICE` are expanded into literal check strings
//! (`rule:admin_or_service_api`); rule references are kept as upstream has
//! them.
//!
//! Upstream's deprecated rules are not carried, so `deprecated_rule` is
//! `None` throughout. The four base rules `service_api`,
//! `admin_or_service_api`, `project_reader_api` and
//! `admin_or_project_reader_or_service_api` each have a `DeprecatedRule`
//! whose "name" is the check string `rule:admin_api` with the old check
//! string `role:admin`: it is not a rename (no policy file would override a
//! rule literally named `rule:admin_api`) but a deprecated check string,
//! which only matters when `enforce_new_defaults` is off, and the `policy`
//! crate always enforces the new defaults. No rule was renamed.

use policy::{RuleDefault, ScopeType};

/// The names of the Placement API rules, one per guarded operation group.
/// Each constant names the rule upstream's handler checks for the routes in
/// its doc comment.
pub mod names {
    /// `GET /resource_providers`.
    pub const RP_LIST: &str = "placement:resource_providers:list";
    /// `POST /resource_providers`.
    pub const RP_CREATE: &str = "placement:resource_providers:create";
    /// `GET /resource_providers/{uuid}`.
    pub const RP_SHOW: &str = "placement:resource_providers:show";
    /// `PUT /resource_providers/{uuid}`.
    pub const RP_UPDATE: &str = "placement:resource_providers:update";
    /// `DELETE /resource_providers/{uuid}`.
    pub const RP_DELETE: &str = "placement:resource_providers:delete";
    /// `GET /resource_providers/{uuid}/inventories`.
    pub const INVENTORY_LIST: &str = "placement:resource_providers:inventories:list";
    /// `POST /resource_providers/{uuid}/inventories`.
    pub const INVENTORY_CREATE: &str = "placement:resource_providers:inventories:create";
    /// `GET /resource_providers/{uuid}/inventories/{resource_class}`.
    pub const INVENTORY_SHOW: &str = "placement:resource_providers:inventories:show";
    /// `PUT /resource_providers/{uuid}/inventories` and `PUT /resource_providers/{uuid}/inventories/{resource_class}`.
    pub const INVENTORY_UPDATE: &str = "placement:resource_providers:inventories:update";
    /// `DELETE /resource_providers/{uuid}/inventories` and `DELETE /resource_providers/{uuid}/inventories/{resource_class}`.
    pub const INVENTORY_DELETE: &str = "placement:resource_providers:inventories:delete";
    /// `GET /resource_providers/{uuid}/aggregates`.
    pub const AGGREGATE_LIST: &str = "placement:resource_providers:aggregates:list";
    /// `PUT /resource_providers/{uuid}/aggregates`.
    pub const AGGREGATE_UPDATE: &str = "placement:resource_providers:aggregates:update";
    /// `GET /resource_providers/{uuid}/usages`.
    pub const USAGE_LIST: &str = "placement:resource_providers:usages";
    /// `GET /usages` (upstream passes the target `{"project_id": <the project_id query parameter>}`).
    pub const TOTAL_USAGE_LIST: &str = "placement:usages";
    /// `GET /traits`.
    pub const TRAIT_LIST: &str = "placement:traits:list";
    /// `GET /traits/{name}`.
    pub const TRAIT_SHOW: &str = "placement:traits:show";
    /// `PUT /traits/{name}`.
    pub const TRAIT_UPDATE: &str = "placement:traits:update";
    /// `DELETE /traits/{name}`.
    pub const TRAIT_DELETE: &str = "placement:traits:delete";
    /// `GET /resource_providers/{uuid}/traits`.
    pub const RP_TRAIT_LIST: &str = "placement:resource_providers:traits:list";
    /// `PUT /resource_providers/{uuid}/traits`.
    pub const RP_TRAIT_UPDATE: &str = "placement:resource_providers:traits:update";
    /// `DELETE /resource_providers/{uuid}/traits`.
    pub const RP_TRAIT_DELETE: &str = "placement:resource_providers:traits:delete";
    /// `GET /resource_classes`.
    pub const RC_LIST: &str = "placement:resource_classes:list";
    /// `POST /resource_classes`.
    pub const RC_CREATE: &str = "placement:resource_classes:create";
    /// `GET /resource_classes/{name}`.
    pub const RC_SHOW: &str = "placement:resource_classes:show";
    /// `PUT /resource_classes/{name}` (every microversion).
    pub const RC_UPDATE: &str = "placement:resource_classes:update";
    /// `DELETE /resource_classes/{name}`.
    pub const RC_DELETE: &str = "placement:resource_classes:delete";
    /// `GET /allocations/{consumer_uuid}`.
    pub const ALLOC_LIST: &str = "placement:allocations:list";
    /// `POST /allocations`.
    pub const ALLOC_MANAGE: &str = "placement:allocations:manage";
    /// `PUT /allocations/{consumer_uuid}`.
    pub const ALLOC_UPDATE: &str = "placement:allocations:update";
    /// `DELETE /allocations/{consumer_uuid}`.
    pub const ALLOC_DELETE: &str = "placement:allocations:delete";
    /// `GET /resource_providers/{uuid}/allocations`.
    pub const RP_ALLOC_LIST: &str = "placement:resource_providers:allocations:list";
    /// `GET /allocation_candidates`.
    pub const ALLOC_CANDIDATE_LIST: &str = "placement:allocation_candidates:list";
    /// `POST /reshaper`.
    pub const RESHAPE: &str = "placement:reshaper:reshape";
}

/// Every rule Placement registers, in registration order.
pub static DEFAULTS: &[RuleDefault] = &[
    RuleDefault {
        name: "admin_api",
        check_str: "role:admin",
        description: "Default rule for most placement APIs.",
        scope_types: &[ScopeType::Project],
        operations: &[],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "service_api",
        check_str: "role:service",
        description: "Default rule for service-to-service placement APIs.",
        scope_types: &[ScopeType::Project],
        operations: &[],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "admin_or_service_api",
        check_str: "role:admin or role:service",
        description: "Default rule for most placement APIs.",
        scope_types: &[ScopeType::Project],
        operations: &[],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "project_reader_api",
        check_str: "role:reader and project_id:%(project_id)s",
        description: "Default rule for Project level reader APIs.",
        scope_types: &[],
        operations: &[],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "admin_or_project_reader_or_service_api",
        check_str: "role:admin or rule:project_reader_api or role:service",
        description: "Default rule for project level reader APIs.",
        scope_types: &[ScopeType::Project],
        operations: &[],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:list",
        check_str: "rule:admin_or_service_api",
        description: "List resource providers.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/resource_providers")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:create",
        check_str: "rule:admin_or_service_api",
        description: "Create resource provider.",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/resource_providers")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:show",
        check_str: "rule:admin_or_service_api",
        description: "Show resource provider.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/resource_providers/{uuid}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:update",
        check_str: "rule:admin_or_service_api",
        description: "Update resource provider.",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/resource_providers/{uuid}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:delete",
        check_str: "rule:admin_or_service_api",
        description: "Delete resource provider.",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/resource_providers/{uuid}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_classes:list",
        check_str: "rule:admin_or_service_api",
        description: "List resource classes.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/resource_classes")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_classes:create",
        check_str: "rule:admin_or_service_api",
        description: "Create resource class.",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/resource_classes")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_classes:show",
        check_str: "rule:admin_or_service_api",
        description: "Show resource class.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/resource_classes/{name}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_classes:update",
        check_str: "rule:admin_or_service_api",
        description: "Update resource class.",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/resource_classes/{name}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_classes:delete",
        check_str: "rule:admin_or_service_api",
        description: "Delete resource class.",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/resource_classes/{name}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:inventories:list",
        check_str: "rule:admin_or_service_api",
        description: "List resource provider inventories.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/resource_providers/{uuid}/inventories")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:inventories:create",
        check_str: "rule:admin_or_service_api",
        description: "Create one resource provider inventory.",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/resource_providers/{uuid}/inventories")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:inventories:show",
        check_str: "rule:admin_or_service_api",
        description: "Show resource provider inventory.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/resource_providers/{uuid}/inventories/{resource_class}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:inventories:update",
        check_str: "rule:admin_or_service_api",
        description: "Update resource provider inventory.",
        scope_types: &[ScopeType::Project],
        operations: &[
            ("PUT", "/resource_providers/{uuid}/inventories"),
            ("PUT", "/resource_providers/{uuid}/inventories/{resource_class}"),
        ],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:inventories:delete",
        check_str: "rule:admin_or_service_api",
        description: "Delete resource provider inventory.",
        scope_types: &[ScopeType::Project],
        operations: &[
            ("DELETE", "/resource_providers/{uuid}/inventories"),
            ("DELETE", "/resource_providers/{uuid}/inventories/{resource_class}"),
        ],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:aggregates:list",
        check_str: "rule:admin_or_service_api",
        description: "List resource provider aggregates.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/resource_providers/{uuid}/aggregates")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:aggregates:update",
        check_str: "rule:admin_or_service_api",
        description: "Update resource provider aggregates.",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/resource_providers/{uuid}/aggregates")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:usages",
        check_str: "rule:admin_or_service_api",
        description: "List resource provider usages.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/resource_providers/{uuid}/usages")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:usages",
        check_str: "rule:admin_or_project_reader_or_service_api",
        description: "List total resource usages for a given project.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/usages")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:traits:list",
        check_str: "rule:admin_or_service_api",
        description: "List traits.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/traits")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:traits:show",
        check_str: "rule:admin_or_service_api",
        description: "Show trait.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/traits/{name}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:traits:update",
        check_str: "rule:admin_or_service_api",
        description: "Update trait.",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/traits/{name}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:traits:delete",
        check_str: "rule:admin_or_service_api",
        description: "Delete trait.",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/traits/{name}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:traits:list",
        check_str: "rule:admin_or_service_api",
        description: "List resource provider traits.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/resource_providers/{uuid}/traits")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:traits:update",
        check_str: "rule:admin_or_service_api",
        description: "Update resource provider traits.",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/resource_providers/{uuid}/traits")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:traits:delete",
        check_str: "rule:admin_or_service_api",
        description: "Delete resource provider traits.",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/resource_providers/{uuid}/traits")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:allocations:manage",
        check_str: "rule:admin_or_service_api",
        description: "Manage allocations.",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/allocations")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:allocations:list",
        check_str: "rule:admin_or_service_api",
        description: "List allocations.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/allocations/{consumer_uuid}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:allocations:update",
        check_str: "rule:admin_or_service_api",
        description: "Update allocations.",
        scope_types: &[ScopeType::Project],
        operations: &[("PUT", "/allocations/{consumer_uuid}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:allocations:delete",
        check_str: "rule:admin_or_service_api",
        description: "Delete allocations.",
        scope_types: &[ScopeType::Project],
        operations: &[("DELETE", "/allocations/{consumer_uuid}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:resource_providers:allocations:list",
        check_str: "rule:admin_or_service_api",
        description: "List resource provider allocations.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/resource_providers/{uuid}/allocations")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:allocation_candidates:list",
        check_str: "rule:admin_or_service_api",
        description: "List allocation candidates.",
        scope_types: &[ScopeType::Project],
        operations: &[("GET", "/allocation_candidates")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "placement:reshaper:reshape",
        check_str: "rule:service_api",
        description: "Reshape Inventory and Allocations.",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/reshaper")],
        deprecated_rule: None,
    },
];

#[cfg(test)]
mod tests {
    use super::{names, DEFAULTS};
    use policy::ScopeType;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique() {
        let mut seen = HashSet::new();
        for rule in DEFAULTS {
            assert!(seen.insert(rule.name), "{} is listed twice", rule.name);
        }
        assert_eq!(DEFAULTS.len(), 38);
    }

    #[test]
    fn rule_references_resolve() {
        let names: HashSet<&str> = DEFAULTS.iter().map(|r| r.name).collect();
        for rule in DEFAULTS {
            for token in rule.check_str.split_whitespace() {
                let token = token.trim_start_matches('(').trim_end_matches(')');
                if let Some(target) = token.strip_prefix("rule:") {
                    assert!(names.contains(target), "{} references unknown rule {target}", rule.name);
                }
            }
        }
    }

    #[test]
    fn api_rules_are_documented() {
        for rule in DEFAULTS.iter().filter(|r| r.name.starts_with("placement:")) {
            assert!(!rule.description.is_empty(), "{} has no description", rule.name);
            assert!(!rule.operations.is_empty(), "{} has no operations", rule.name);
            assert_eq!(rule.scope_types, &[ScopeType::Project], "{}", rule.name);
        }
    }

    #[test]
    fn name_constants_name_rules() {
        let registered: HashSet<&str> = DEFAULTS.iter().map(|r| r.name).collect();
        let constants = [
            names::RP_LIST,
            names::RP_CREATE,
            names::RP_SHOW,
            names::RP_UPDATE,
            names::RP_DELETE,
            names::INVENTORY_LIST,
            names::INVENTORY_CREATE,
            names::INVENTORY_SHOW,
            names::INVENTORY_UPDATE,
            names::INVENTORY_DELETE,
            names::AGGREGATE_LIST,
            names::AGGREGATE_UPDATE,
            names::USAGE_LIST,
            names::TOTAL_USAGE_LIST,
            names::TRAIT_LIST,
            names::TRAIT_SHOW,
            names::TRAIT_UPDATE,
            names::TRAIT_DELETE,
            names::RP_TRAIT_LIST,
            names::RP_TRAIT_UPDATE,
            names::RP_TRAIT_DELETE,
            names::RC_LIST,
            names::RC_CREATE,
            names::RC_SHOW,
            names::RC_UPDATE,
            names::RC_DELETE,
            names::ALLOC_LIST,
            names::ALLOC_MANAGE,
            names::ALLOC_UPDATE,
            names::ALLOC_DELETE,
            names::RP_ALLOC_LIST,
            names::ALLOC_CANDIDATE_LIST,
            names::RESHAPE,
        ];
        for name in constants {
            assert!(registered.contains(name), "{name} is not a registered rule");
        }
        // Every API rule has a constant, and no two constants share a rule.
        let constants: HashSet<&str> = constants.into_iter().collect();
        assert_eq!(constants.len(), 33);
        let api_rules = DEFAULTS.iter().filter(|r| r.name.starts_with("placement:")).count();
        assert_eq!(constants.len(), api_rules);
    }

    #[test]
    fn check_strings() {
        let check = |name: &str| DEFAULTS.iter().find(|r| r.name == name).unwrap().check_str;
        assert_eq!(check(names::RESHAPE), "rule:service_api");
        assert_eq!(check(names::TOTAL_USAGE_LIST), "rule:admin_or_project_reader_or_service_api");
        assert_eq!(check(names::RP_LIST), "rule:admin_or_service_api");
        assert_eq!(check("project_reader_api"), "role:reader and project_id:%(project_id)s");
    }
}
