//! Behaviour of the policy engine, mostly on the examples from oslo.policy's
//! documentation (`doc/source/admin/policy-yaml-file.rst` and the module
//! docstring of `oslo_policy/policy.py`). Expected results are what
//! oslo.policy itself returns for the same input.

use std::sync::Arc;

use policy::{dump_defaults_yaml, parse_rule, Credentials, Enforcer, PolicyError, RuleDefault, ScopeType};
use proptest::prelude::*;
use serde_json::{json, Value};

/// An enforcer with no defaults and `rules` loaded as a policy file.
fn enforcer_with(rules: &[(&str, &str)]) -> Enforcer {
    let map: serde_json::Map<String, Value> =
        rules.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect();
    let mut e = Enforcer::new(&[]);
    e.load_overrides_str(&Value::Object(map).to_string()).expect("valid policy");
    e
}

/// Evaluate a single check string.
fn eval(rule: &str, creds: &Credentials, target: &Value) -> bool {
    enforcer_with(&[("t", rule)]).check("t", creds, target)
}

fn roles(r: &[&str]) -> Credentials {
    project_creds("p1", "u1", r)
}

fn project_creds(project: &str, user: &str, r: &[&str]) -> Credentials {
    Credentials {
        user_id: Some(user.into()),
        user_domain_id: Some("default".into()),
        project_id: Some(project.into()),
        project_domain_id: Some("default".into()),
        roles: r.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn system_creds(r: &[&str]) -> Credentials {
    Credentials {
        user_id: Some("u1".into()),
        system_scope: Some("all".into()),
        roles: r.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn domain_creds(domain: &str, r: &[&str]) -> Credentials {
    Credentials {
        user_id: Some("u1".into()),
        user_domain_id: Some(domain.into()),
        domain_id: Some(domain.into()),
        roles: r.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------
// The documentation's examples
// ---------------------------------------------------------------------------

#[test]
fn empty_string_and_at_always_pass_bang_never() {
    let nobody = Credentials::default();
    assert!(eval("", &nobody, &json!({})));
    assert!(eval("@", &nobody, &json!({})));
    assert!(!eval("!", &roles(&["admin"]), &json!({})));
}

#[test]
fn literal_compared_with_target_attribute() {
    // "copy_image": "'shared':%(visibility)s"
    let c = roles(&[]);
    assert!(eval("'shared':%(visibility)s", &c, &json!({"visibility": "shared"})));
    assert!(!eval("'shared':%(visibility)s", &c, &json!({"visibility": "private"})));
    assert!(!eval("'shared':%(visibility)s", &c, &json!({})));
    // True:%(user.enabled)s compares the literal True with str(target value).
    assert!(eval("True:%(user.enabled)s", &c, &json!({"user.enabled": true})));
    assert!(!eval("True:%(user.enabled)s", &c, &json!({"user.enabled": false})));
    assert!(eval("True:%(user.enabled)s", &c, &json!({"user.enabled": "True"})));
    // A string literal with double quotes, a number literal, None.
    assert!(eval("\"x\":%(s)s", &c, &json!({"s": "x"})));
    assert!(eval("20:%(n)s", &c, &json!({"n": 20})));
    assert!(!eval("20:%(n)s", &c, &json!({"n": 20.0})));
    assert!(eval("None:%(d)s", &c, &json!({"d": null})));
    assert!(!eval("None:%(d)s", &c, &json!({"d": "d1"})));
}

#[test]
fn role_checks() {
    assert!(eval("role:admin", &roles(&["admin"]), &json!({})));
    assert!(!eval("role:admin", &roles(&["member"]), &json!({})));
    // Case-insensitive, both ways.
    assert!(eval("role:Admin", &roles(&["ADMIN"]), &json!({})));
    // The role name may come from the target.
    assert!(eval("role:%(r)s", &roles(&["reader"]), &json!({"r": "READER"})));
    assert!(!eval("role:%(r)s", &roles(&["reader"]), &json!({})));
    // "stacks:create": "not role:heat_stack_user"
    assert!(!eval("not role:heat_stack_user", &roles(&["heat_stack_user"]), &json!({})));
    assert!(eval("not role:heat_stack_user", &roles(&["member"]), &json!({})));
}

#[test]
fn rule_aliases() {
    // "deny_stack_user": "not role:heat_stack_user"
    // "stacks:create": "rule:deny_stack_user"
    let e =
        enforcer_with(&[("deny_stack_user", "not role:heat_stack_user"), ("stacks:create", "rule:deny_stack_user")]);
    assert!(e.check("stacks:create", &roles(&["member"]), &json!({})));
    assert!(!e.check("stacks:create", &roles(&["heat_stack_user"]), &json!({})));
}

#[test]
fn keystone_admin_or_owner_example() {
    let e = enforcer_with(&[
        ("admin_required", "role:admin or is_admin:1"),
        ("owner", "user_id:%(user_id)s"),
        ("admin_or_owner", "rule:admin_required or rule:owner"),
        ("identity:change_password", "rule:admin_or_owner"),
        (
            "identity:ec2_delete_credential",
            "rule:admin_required or\n             (rule:owner and user_id:%(target.credential.user_id)s)",
        ),
    ]);
    let owner = project_creds("p1", "u1", &["member"]);
    let other = project_creds("p1", "u2", &["member"]);
    let admin = project_creds("p1", "u9", &["admin"]);
    let target = json!({"user_id": "u1"});
    assert!(e.check("identity:change_password", &owner, &target));
    assert!(!e.check("identity:change_password", &other, &target));
    assert!(e.check("identity:change_password", &admin, &target));

    let cred = json!({"user_id": "u1", "target.credential.user_id": "u1"});
    let not_theirs = json!({"user_id": "u1", "target.credential.user_id": "u2"});
    assert!(e.check("identity:ec2_delete_credential", &owner, &cred));
    assert!(!e.check("identity:ec2_delete_credential", &owner, &not_theirs));
    assert!(e.check("identity:ec2_delete_credential", &admin, &not_theirs));
}

#[test]
fn is_admin_flag() {
    let mut c = roles(&[]);
    assert!(!eval("is_admin:True", &c, &json!({})));
    c.is_admin = true;
    assert!(eval("is_admin:True", &c, &json!({})));
    // oslo compares str(True) == "1": Keystone's `is_admin:1` never matches
    // a boolean flag.
    assert!(!eval("is_admin:1", &c, &json!({})));
}

#[test]
fn conjunctions_from_the_docs() {
    let rule = "role:admin or (project_id:%(project_id)s and role:projectadmin)";
    let t = json!({"project_id": "p1"});
    assert!(eval(rule, &roles(&["admin"]), &json!({"project_id": "other"})));
    assert!(eval(rule, &roles(&["projectadmin"]), &t));
    assert!(!eval(rule, &project_creds("p2", "u1", &["projectadmin"]), &t));
    assert!(!eval(rule, &roles(&["member"]), &t));

    let rule = "project_id:%(project_id)s and not role:dunce";
    assert!(eval(rule, &roles(&["member"]), &t));
    assert!(!eval(rule, &roles(&["member", "dunce"]), &t));
}

#[test]
fn generic_checks_against_credentials() {
    let c = roles(&["member"]);
    // A literal on the right is compared with the credential's value.
    assert!(eval("project_id:p1", &c, &json!({})));
    assert!(!eval("project_id:p2", &c, &json!({})));
    assert!(eval("user_id:%(target.user.id)s", &c, &json!({"target.user.id": "u1"})));
    // oslo.policy keeps quotes on the right-hand side: they are part of the
    // compared string (the documentation's `<variable>:'xpto2035abc'`
    // notwithstanding).
    assert!(!eval("project_id:'p1'", &c, &json!({})));
    // List-valued credentials match if any element does.
    assert!(eval("roles:member", &c, &json!({})));
    assert!(!eval("roles:admin", &c, &json!({})));
    // system_scope, and oslo's `system` alias for it.
    assert!(eval("system_scope:all", &system_creds(&[]), &json!({})));
    assert!(eval("system:all", &system_creds(&[]), &json!({})));
    assert!(!eval("system_scope:all", &c, &json!({})));
    // domain_id from the target.
    let d = domain_creds("d1", &["reader"]);
    assert!(eval("domain_id:%(target.user.domain_id)s", &d, &json!({"target.user.domain_id": "d1"})));
    assert!(!eval("domain_id:%(target.user.domain_id)s", &d, &json!({"target.user.domain_id": "d2"})));
    // An unknown credential attribute never matches.
    assert!(!eval("colour:blue", &c, &json!({})));
}

#[test]
fn unset_credentials_are_none_like_oslo_context() {
    // Keystone: "(role:manager and not domain_id:None)" relies on an unset
    // domain_id being Python's None.
    let rule = "role:manager and not domain_id:None";
    assert!(!eval(rule, &roles(&["manager"]), &json!({})));
    assert!(eval(rule, &domain_creds("d1", &["manager"]), &json!({})));
}

#[test]
fn keystone_token_attributes() {
    let rule = "role:reader and token.domain.id:%(target.user.domain_id)s";
    let t = json!({"target.user.domain_id": "d1"});
    assert!(eval(rule, &domain_creds("d1", &["reader"]), &t));
    assert!(!eval(rule, &domain_creds("d2", &["reader"]), &t));
    assert!(!eval(rule, &roles(&["reader"]), &t));
    let rule = "token.project.domain.id:%(target.domain.id)s";
    assert!(eval(rule, &roles(&[]), &json!({"target.domain.id": "default"})));
    assert!(!eval(rule, &domain_creds("default", &[]), &json!({"target.domain.id": "default"})));
}

#[test]
fn target_lookup_is_flat_first_then_nested() {
    let c = roles(&[]);
    let rule = "user_id:%(target.user.id)s";
    assert!(eval(rule, &c, &json!({"target.user.id": "u1"})));
    assert!(eval(rule, &c, &json!({"target": {"user": {"id": "u1"}}})));
    assert!(eval(rule, &c, &json!({"target": {"user.id": "u1"}})));
    assert!(!eval(rule, &c, &json!({"target": {"user": {"id": "u2"}}})));
    // A flat key wins over a nested path.
    assert!(!eval(rule, &c, &json!({"target.user.id": "u2", "target": {"user": {"id": "u1"}}})));
}

#[test]
fn precedence() {
    // `not` binds tighter than `and`, which binds tighter than `or`.
    let rule = "role:a or role:b and role:c";
    assert!(eval(rule, &roles(&["a"]), &json!({})));
    assert!(!eval(rule, &roles(&["b"]), &json!({})));
    assert!(eval(rule, &roles(&["b", "c"]), &json!({})));
    let rule = "not role:a and role:b";
    assert!(eval(rule, &roles(&["b"]), &json!({})));
    assert!(!eval(rule, &roles(&["a", "b"]), &json!({})));
    let rule = "not role:a or role:b";
    assert!(eval(rule, &roles(&["a", "b"]), &json!({})));
    assert!(!eval(rule, &roles(&["a"]), &json!({})));
    let rule = "(role:a or role:b) and role:c";
    assert!(!eval(rule, &roles(&["a"]), &json!({})));
    assert!(eval(rule, &roles(&["a", "c"]), &json!({})));
    // Keywords are case-insensitive.
    assert!(eval("role:x OR role:a AND NOT role:z", &roles(&["a"]), &json!({})));

    assert_eq!(
        parse_rule("role:a or role:b and not role:c and role:d").to_string(),
        "(role:a or (role:b and not role:c and role:d))"
    );
}

#[test]
fn malformed_rules_never_pass() {
    let admin = roles(&["admin"]);
    for bad in [
        "role:admin and",
        "or role:admin",
        "role:admin role:member",
        "(role:admin",
        "role:admin)",
        "not",
        "'role:admin'",
        "   ",
        "admin",
    ] {
        assert!(!eval(bad, &admin, &json!({})), "{bad:?}");
        assert!(!eval(&format!("not ({bad})"), &admin, &json!({})) || bad == "admin");
    }
    // A check without a colon is `!` on its own, not the whole rule.
    assert!(eval("admin or role:admin", &admin, &json!({})));
    assert!(eval("not admin", &admin, &json!({})));
}

#[test]
fn http_checks_never_pass() {
    let c = roles(&["admin"]);
    assert!(!eval("http://policy.example/%(name)s", &c, &json!({"name": "x"})));
    assert!(!eval("https:whatever", &c, &json!({})));
    assert!(eval("https:whatever or role:admin", &c, &json!({})));
}

#[test]
fn where_oslo_raises_the_request_is_denied() {
    let c = roles(&["member"]);
    // A bad format aborts the whole enforcement, even under `not`.
    assert!(!eval("not user_id:%(bad", &c, &json!({})));
    assert!(!eval("not project_id:100%", &c, &json!({})));
    // So does a left-hand side Python cannot parse.
    assert!(!eval("not %(x)s:literal", &c, &json!({"x": "y"})));
    // So does indexing into a list of strings.
    assert!(!eval("not roles.name:x", &c, &json!({})));
    assert!(eval("not roles.name:x", &roles(&[]), &json!({})));
    // A missing target key is just a failed check.
    assert!(eval("not user_id:%(missing)s", &c, &json!({})));
    // Short-circuiting happens before the error is reached.
    assert!(eval("role:member or user_id:%(bad", &c, &json!({})));
}

#[test]
fn unknown_and_cyclic_rules_fail_closed() {
    let e = enforcer_with(&[
        ("uses_unknown", "rule:nope"),
        ("a", "rule:b"),
        ("b", "rule:a"),
        ("self", "rule:self or @"),
        ("ok", "rule:uses_unknown or role:member"),
    ]);
    let c = roles(&["member"]);
    assert!(!e.check("uses_unknown", &c, &json!({})));
    assert!(!e.check("a", &c, &json!({})));
    assert!(!e.check("self", &c, &json!({})));
    assert!(e.check("ok", &c, &json!({})));
    assert!(matches!(
        e.enforce("not-a-rule", &c, &json!({})),
        Err(PolicyError::Forbidden { rule }) if rule == "not-a-rule"
    ));
}

#[test]
fn list_of_lists_syntax() {
    let mut e = Enforcer::new(&[]);
    e.load_overrides_str(
        r#"{"r": [["role:admin"], ["project_id:%(project_id)s", "role:projectadmin"]],
            "always": [], "bare": ["role:a", "role:b"], "empties": [[], ""]}"#,
    )
    .unwrap();
    let t = json!({"project_id": "p1"});
    assert!(e.check("r", &roles(&["admin"]), &json!({})));
    assert!(e.check("r", &roles(&["projectadmin"]), &t));
    assert!(!e.check("r", &roles(&["projectadmin"]), &json!({"project_id": "p2"})));
    assert!(e.check("always", &Credentials::default(), &json!({})));
    assert!(e.check("bare", &roles(&["b"]), &json!({})));
    assert!(!e.check("empties", &roles(&["b"]), &json!({})));
}

// ---------------------------------------------------------------------------
// Defaults, overrides and scope
// ---------------------------------------------------------------------------

const ALL: &[ScopeType] = &[ScopeType::System, ScopeType::Domain, ScopeType::Project];

static DEFAULTS: &[RuleDefault] = &[
    RuleDefault {
        name: "admin_required",
        check_str: "role:admin",
        description: "",
        scope_types: &[],
        operations: &[],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "svc:get_thing",
        check_str: "rule:admin_required or project_id:%(target.project_id)s",
        description: "Show a thing.",
        scope_types: ALL,
        operations: &[("GET", "/v1/things/{id}")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "svc:system_only",
        check_str: "role:reader",
        description: "A system operation.",
        scope_types: &[ScopeType::System],
        operations: &[("GET", "/v1/system")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "svc:project_only",
        check_str: "@",
        description: "A project operation.",
        scope_types: &[ScopeType::Project],
        operations: &[("POST", "/v1/things")],
        deprecated_rule: None,
    },
    RuleDefault {
        name: "svc:delete_thing",
        check_str: "rule:admin_required",
        description: "Delete a thing.",
        scope_types: ALL,
        operations: &[("DELETE", "/v1/things/{id}")],
        deprecated_rule: Some("svc:remove_thing"),
    },
];

#[test]
fn defaults_enforce() {
    let e = Enforcer::new(DEFAULTS);
    let t = json!({"target.project_id": "p1"});
    assert!(e.enforce("svc:get_thing", &roles(&["member"]), &t).is_ok());
    assert!(matches!(
        e.enforce("svc:get_thing", &project_creds("p2", "u1", &["member"]), &t),
        Err(PolicyError::Forbidden { rule }) if rule == "svc:get_thing"
    ));
    assert!(e.check("svc:get_thing", &project_creds("p2", "u1", &["admin"]), &t));
}

#[test]
fn scope_types_are_enforced() {
    let e = Enforcer::new(DEFAULTS);
    let t = json!({});
    let invalid = |r: Result<(), PolicyError>| matches!(r, Err(PolicyError::InvalidScope { .. }));
    assert!(e.enforce("svc:system_only", &system_creds(&["reader"]), &t).is_ok());
    assert!(invalid(e.enforce("svc:system_only", &roles(&["reader"]), &t)));
    assert!(invalid(e.enforce("svc:system_only", &domain_creds("d1", &["reader"]), &t)));
    // Scope is checked before the rule: a system token with no roles still
    // gets Forbidden, not InvalidScope.
    assert!(matches!(e.enforce("svc:system_only", &system_creds(&[]), &t), Err(PolicyError::Forbidden { .. })));
    assert!(e.check("svc:project_only", &roles(&[]), &t));
    assert!(invalid(e.enforce("svc:project_only", &system_creds(&[]), &t)));
    // An unscoped token counts as project-scoped, as in oslo.policy.
    let unscoped = Credentials { user_id: Some("u1".into()), ..Default::default() };
    assert!(e.check("svc:project_only", &unscoped, &t));
    assert!(invalid(e.enforce("svc:system_only", &unscoped, &t)));
    // Rules without scope_types accept any scope.
    assert!(e.check("admin_required", &system_creds(&["admin"]), &t));

    let mut lax = Enforcer::new(DEFAULTS);
    lax.set_enforce_scope(false);
    assert!(lax.check("svc:system_only", &roles(&["reader"]), &t));
    assert!(!lax.check("svc:system_only", &roles(&["member"]), &t));
}

#[test]
fn scope_type_of_credentials() {
    assert_eq!(system_creds(&[]).scope_type(), ScopeType::System);
    assert_eq!(domain_creds("d", &[]).scope_type(), ScopeType::Domain);
    assert_eq!(roles(&[]).scope_type(), ScopeType::Project);
    assert_eq!(Credentials::default().scope_type(), ScopeType::Project);
    let mut both = domain_creds("d", &[]);
    both.system_scope = Some("all".into());
    assert_eq!(both.scope_type(), ScopeType::System);
    both.system_scope = Some(String::new());
    assert_eq!(both.scope_type(), ScopeType::Domain);
}

#[test]
fn overrides_replace_single_rules_and_add_new_ones() {
    let mut e = Enforcer::new(DEFAULTS);
    e.load_overrides_str(
        "# operator overrides\n\
         \"admin_required\": \"role:superuser\"\n\
         svc:extra: \"rule:admin_required\"\n",
    )
    .unwrap();
    let t = json!({"target.project_id": "elsewhere"});
    assert!(!e.check("svc:get_thing", &roles(&["admin"]), &t));
    assert!(e.check("svc:get_thing", &roles(&["superuser"]), &t));
    assert!(e.check("svc:extra", &roles(&["superuser"]), &t));
    // Untouched defaults stay.
    assert!(e.check("svc:project_only", &roles(&[]), &t));
    // A later load layers on top.
    e.load_overrides_str(r#"{"svc:extra": "!"}"#).unwrap();
    assert!(!e.check("svc:extra", &roles(&["superuser"]), &t));
    assert!(e.check("svc:get_thing", &roles(&["superuser"]), &t));
    // As with PyYAML, the last of duplicate keys wins.
    e.load_overrides_str("svc:extra: role:x\nsvc:extra: role:y\n").unwrap();
    assert!(e.check("svc:extra", &roles(&["y"]), &t));
    assert!(!e.check("svc:extra", &roles(&["x"]), &t));
    // An overridden default keeps its scope types.
    e.load_overrides_str("svc:system_only: '@'").unwrap();
    assert!(matches!(e.enforce("svc:system_only", &roles(&[]), &t), Err(PolicyError::InvalidScope { .. })));
}

#[test]
fn overrides_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, "\"svc:project_only\": \"role:creator\"\n").unwrap();
    let mut e = Enforcer::new(DEFAULTS);
    e.load_overrides_file(&path).unwrap();
    assert!(!e.check("svc:project_only", &roles(&[]), &json!({})));
    assert!(e.check("svc:project_only", &roles(&["creator"]), &json!({})));
    let missing = dir.path().join("nope.yaml");
    assert!(matches!(
        e.load_overrides_file(&missing),
        Err(PolicyError::Io { path, .. }) if path == missing
    ));
    // JSON policy files (with tabs, which YAML rejects) work too.
    std::fs::write(&path, "{\n\t\"svc:project_only\": \"role:json\"\n}\n").unwrap();
    e.load_overrides_file(&path).unwrap();
    assert!(e.check("svc:project_only", &roles(&["json"]), &json!({})));
}

#[test]
fn bad_override_files_are_rejected_without_changes() {
    let mut e = Enforcer::new(DEFAULTS);
    for bad in [
        "- just\n- a list\n",
        "\"svc:project_only\": [1, 2]\n",
        "\"svc:project_only\": true\n",
        "\"svc:project_only\": 0\n",
        "1: role:x\n",
        "\"a\": \"b\n",
        "key: {nested: map}\n",
    ] {
        let err = e.load_overrides_str(bad).unwrap_err();
        assert!(matches!(err, PolicyError::InvalidFile(_)), "{bad:?}: {err}");
    }
    assert!(e.check("svc:project_only", &roles(&[]), &json!({})));
    // Empty files and an empty map change nothing.
    e.load_overrides_str("").unwrap();
    e.load_overrides_str("{}").unwrap();
    e.load_overrides_str("# only a comment\n").unwrap();
    assert!(e.check("svc:project_only", &roles(&[]), &json!({})));
    // A malformed check string is not an error: the rule never passes.
    e.load_overrides_str("svc:project_only: 'role:a and'").unwrap();
    assert!(!e.check("svc:project_only", &roles(&["a"]), &json!({})));
    // A rule with no value always passes, as in oslo.policy.
    e.load_overrides_str("svc:project_only:\n").unwrap();
    assert!(e.check("svc:project_only", &roles(&[]), &json!({})));
}

#[test]
fn override_of_deprecated_name_applies_to_the_new_rule() {
    let mut e = Enforcer::new(DEFAULTS);
    e.load_overrides_str("svc:remove_thing: role:janitor").unwrap();
    assert!(e.check("svc:delete_thing", &roles(&["janitor"]), &json!({})));
    assert!(!e.check("svc:delete_thing", &roles(&["admin"]), &json!({})));
    // ...unless the new name is overridden too.
    e.load_overrides_str("svc:delete_thing: role:owner").unwrap();
    assert!(!e.check("svc:delete_thing", &roles(&["janitor"]), &json!({})));
    assert!(e.check("svc:delete_thing", &roles(&["owner"]), &json!({})));
    // An alias of the old name to the new one keeps the default.
    let mut e = Enforcer::new(DEFAULTS);
    e.load_overrides_str("svc:remove_thing: rule:svc:delete_thing").unwrap();
    assert!(e.check("svc:delete_thing", &roles(&["admin"]), &json!({})));
}

#[test]
#[should_panic(expected = "malformed check string")]
fn malformed_default_panics() {
    static BAD: &[RuleDefault] = &[RuleDefault {
        name: "bad",
        check_str: "role:admin or",
        description: "",
        scope_types: &[],
        operations: &[],
        deprecated_rule: None,
    }];
    let _ = Enforcer::new(BAD);
}

#[test]
#[should_panic(expected = "registered twice")]
fn duplicate_default_panics() {
    let _ = Enforcer::new(&[DEFAULTS[0], DEFAULTS[0]]);
}

#[test]
fn enforcer_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Enforcer>();
    let e = Arc::new(Enforcer::new(DEFAULTS));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || e.check("admin_required", &roles(&["admin"]), &json!({})))
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap());
    }
}

#[test]
fn dump_matches_sample_generator() {
    // Expected text produced by oslo.policy's generator
    // (`_format_rule_default_yaml`) for the same defaults.
    static RULES: &[RuleDefault] = &[
        RuleDefault {
            name: "identity:check_grant",
            check_str: "(role:reader and system_scope:all)",
            description: "Check a role grant between a target and an actor. A target can be either a domain or a project. An actor can be either a user or a group. These terms also apply to the OS-INHERIT APIs, where grants on the target are inherited to all projects in the subtree, if applicable.",
            scope_types: &[ScopeType::System, ScopeType::Domain, ScopeType::Project],
            operations: &[("HEAD", "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"), ("GET", "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}")],
            deprecated_rule: None,
        },
        RuleDefault {
            name: "owner",
            check_str: "user_id:%(user_id)s",
            description: "",
            scope_types: &[],
            operations: &[],
            deprecated_rule: None,
        },
        RuleDefault {
            name: "x",
            check_str: "",
            description: "A self-service, system-scoped operation with a verylongwordthatgoesonandonandonandonandonandonandonandonandonandonandon\n\n    literal   block\nlast.",
            scope_types: &[ScopeType::Project],
            operations: &[],
            deprecated_rule: None,
        },
    ];
    let expected = "\
# Check a role grant between a target and an actor. A target can be
# either a domain or a project. An actor can be either a user or a
# group. These terms also apply to the OS-INHERIT APIs, where grants
# on the target are inherited to all projects in the subtree, if
# applicable.
# HEAD  /v3/projects/{project_id}/users/{user_id}/roles/{role_id}
# GET  /v3/projects/{project_id}/users/{user_id}/roles/{role_id}
# Intended scope(s): system, domain, project
#\"identity:check_grant\": \"(role:reader and system_scope:all)\"

#\"owner\": \"user_id:%(user_id)s\"

# A self-service, system-scoped operation with a verylongwordthatgoeso
# nandonandonandonandonandonandonandonandonandonandon
#
#     literal   block
# last.
# Intended scope(s): project
#\"x\": \"\"

";
    assert_eq!(dump_defaults_yaml(RULES), expected);
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

fn token_soup() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "role:admin",
        "role:%(r)s",
        "rule:a",
        "rule:b",
        "rule:nope",
        "rule:cyc",
        "@",
        "!",
        "and",
        "or",
        "not",
        "AND",
        "(",
        ")",
        "((",
        "))",
        "user_id:%(user_id)s",
        "'x':%(s)s",
        "True:%(b)s",
        "is_admin:True",
        "project_id:%(target.project.id)s",
        "%(x)s:y",
        "roles.name:x",
        "token.domain.id:%(d)s",
        "http://x/%(s)s",
        "domain_id:None",
        "'q'",
        "\"",
        "user_id:%(bad",
        "x:100%",
        "nocolon",
        ":",
        "1.5:%(f)s",
        "0x1f:%(n)s",
        "system:all",
    ]);
    prop::collection::vec((atoms, prop::sample::select(vec![" ", "", "\t", "\n"])), 0..12)
        .prop_map(|parts| parts.into_iter().map(|(a, s)| format!("{a}{s}")).collect())
}

fn rule_text() -> impl Strategy<Value = String> {
    prop_oneof![token_soup(), ".*", "[a-z:%()'\" .@!_-]{0,40}"]
}

fn opt_string() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![Just(String::new()), "[a-z0-9]{1,3}", ".{0,4}"])
}

fn credentials() -> impl Strategy<Value = Credentials> {
    (
        (opt_string(), opt_string(), opt_string(), opt_string(), opt_string()),
        (opt_string(), prop::collection::vec(".{0,4}", 0..4), any::<bool>(), any::<bool>()),
        (opt_string(), prop::collection::vec(".{0,4}", 0..3)),
    )
        .prop_map(
            |(
                (user_id, user_domain_id, project_id, project_domain_id, domain_id),
                (system_scope, roles, is_admin, is_admin_project),
                (service_user_id, service_roles),
            )| Credentials {
                user_id,
                user_domain_id,
                project_id,
                project_domain_id,
                domain_id,
                system_scope,
                roles,
                is_admin,
                is_admin_project,
                service_user_id,
                service_roles,
            },
        )
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z.]{0,6}|user_id|s|r|b|d|x|target", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsing_and_evaluating_never_panics(
        rule in rule_text(),
        other in rule_text(),
        creds in credentials(),
        target in json_value(),
    ) {
        let mut e = Enforcer::new(&[]);
        let rules = json!({"t": rule, "a": other, "b": "rule:a and rule:t", "cyc": "rule:cyc or rule:t"});
        e.load_overrides_str(&rules.to_string()).unwrap();
        for name in ["t", "a", "b", "cyc"] {
            let _ = e.enforce(name, &creds, &target);
        }
        let _ = parse_rule(&rule).to_string();
    }

    #[test]
    fn printed_rules_parse_back_to_the_same_tree(rule in rule_text()) {
        let check = parse_rule(&rule);
        prop_assert_eq!(parse_rule(&check.to_string()), check);
    }

    #[test]
    fn any_yaml_is_handled(text in ".{0,80}") {
        let mut e = Enforcer::new(DEFAULTS);
        let _ = e.load_overrides_str(&text);
        let _ = e.check("svc:get_thing", &Credentials::default(), &json!({}));
    }
}
