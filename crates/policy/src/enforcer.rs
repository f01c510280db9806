//! The rule registry and enforcement (oslo.policy's `Enforcer`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_yaml_ng::Value as YamlValue;

use crate::check::{Check, Context};
use crate::parser::{parse_check, parse_rule, parse_with_issues};
use crate::{Credentials, PolicyError, RuleDefault, ScopeType};

#[derive(Debug, Clone)]
struct Registered {
    check: Check,
    scope_types: &'static [ScopeType],
    deprecated_rule: Option<&'static str>,
}

/// Holds a service's registered defaults, any operator overrides, and
/// enforces rules against credentials and a target.
///
/// Behaves like oslo.policy's `Enforcer` with `enforce_new_defaults` on and
/// (by default) `enforce_scope` on: the same parse of every check string,
/// the same results, and a denial wherever oslo.policy would raise out of a
/// check (a `%` format Python rejects, a left-hand side Python cannot
/// parse, a credential path through a non-map, a cyclic rule). Deliberate
/// differences:
/// - an unknown rule (enforced or referenced with `rule:`) is denied; there
///   is no fallback to a rule named `default` (`policy_default_rule`);
/// - `http:`/`https:` checks parse but never pass (no remote calls);
/// - only the `%(key)s`, `%(key)r` and `%%` formats are supported; any
///   other (`%(key)d`, widths, a bare `%s`) denies the request;
/// - left-hand-side literals are limited to strings, `True`, `False`,
///   `None`, ints and floats; others (containers, bytes, complex numbers)
///   deny the request, as does any left-hand side that is neither a
///   literal nor a dotted name;
/// - `%(key)s` first looks `key` up as a flat target key, as oslo.policy
///   does, and then also as a dotted path through nested objects;
/// - a policy file value that is a boolean or number is an error rather than
///   the accidental "always" oslo.policy makes of some of them; a rule with
///   no value still always passes, as there;
/// - overrides loaded one after another accumulate (later files win per
///   rule), like files in oslo.policy's `policy.d` directories.
#[derive(Debug, Clone)]
pub struct Enforcer {
    registered: HashMap<String, Registered>,
    file_rules: HashMap<String, Check>,
    rules: HashMap<String, Check>,
    enforce_scope: bool,
}

impl Enforcer {
    /// An enforcer with `defaults` registered.
    ///
    /// # Panics
    /// If a default's check string is malformed or a name is registered
    /// twice: both are programming errors in the service's defaults.
    pub fn new(defaults: &[RuleDefault]) -> Enforcer {
        let mut registered = HashMap::with_capacity(defaults.len());
        for default in defaults {
            let (check, issues) = parse_with_issues(default.check_str);
            if let Some(issue) = issues.first() {
                panic!(
                    "policy default {:?} has a malformed check string {:?}: {issue}",
                    default.name, default.check_str
                );
            }
            let previous = registered.insert(
                default.name.to_owned(),
                Registered { check, scope_types: default.scope_types, deprecated_rule: default.deprecated_rule },
            );
            assert!(previous.is_none(), "policy default {:?} is registered twice", default.name);
        }
        let mut enforcer =
            Enforcer { registered, file_rules: HashMap::new(), rules: HashMap::new(), enforce_scope: true };
        enforcer.rebuild();
        enforcer
    }

    /// Apply an oslo.policy policy file (YAML, or JSON) mapping rule names
    /// to check strings: each entry replaces that rule (or adds a new one);
    /// rules it does not mention keep their current definition.
    pub fn load_overrides_file(&mut self, path: &Path) -> Result<(), PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io { path: path.to_owned(), source })?;
        self.load_overrides_str(&text)
    }

    /// Like [`Enforcer::load_overrides_file`], from the file's contents. On
    /// error nothing is changed.
    pub fn load_overrides_str(&mut self, yaml: &str) -> Result<(), PolicyError> {
        let entries = parse_policy_file(yaml)?;
        for (name, check) in entries {
            if self.registered.get(&name).is_some_and(|reg| reg.check == check) {
                tracing::warn!(
                    rule = %name,
                    "policy file rule is the same as the default; it can be removed from the file"
                );
            }
            self.file_rules.insert(name, check);
        }
        self.rebuild();
        Ok(())
    }

    /// Whether a token whose scope is not among a rule's `scope_types` is
    /// refused ([`PolicyError::InvalidScope`]) or only logged. On by default.
    pub fn set_enforce_scope(&mut self, on: bool) {
        self.enforce_scope = on;
    }

    /// Authorize `rule` for `creds` acting on `target`.
    pub fn enforce(&self, rule: &str, creds: &Credentials, target: &Value) -> Result<(), PolicyError> {
        let forbidden = || PolicyError::Forbidden { rule: rule.to_owned() };
        let Some(check) = self.rules.get(rule) else {
            tracing::debug!(rule, "policy rule does not exist; denying");
            return Err(forbidden());
        };
        if let Some(registered) = self.registered.get(rule) {
            let scopes = registered.scope_types;
            let token_scope = creds.scope_type();
            if !scopes.is_empty() && !scopes.contains(&token_scope) {
                if self.enforce_scope {
                    tracing::debug!(
                        rule,
                        %token_scope,
                        ?scopes,
                        "token scope is not allowed for this policy"
                    );
                    return Err(PolicyError::InvalidScope { rule: rule.to_owned() });
                }
                tracing::warn!(
                    rule,
                    %token_scope,
                    ?scopes,
                    "policy failed scope check; allowed only because scope enforcement is off"
                );
            }
        }
        let ctx = Context { rules: &self.rules, creds, target };
        match check.eval(&ctx, 0) {
            Ok(true) => Ok(()),
            Ok(false) => Err(forbidden()),
            Err(abort) => {
                tracing::warn!(rule, reason = %abort, "policy check failed with an error; denying");
                Err(forbidden())
            }
        }
    }

    /// Whether [`Enforcer::enforce`] would allow the request.
    pub fn check(&self, rule: &str, creds: &Credentials, target: &Value) -> bool {
        self.enforce(rule, creds, target).is_ok()
    }

    /// Recompute the effective rules: the file's rules, then every default
    /// the file does not override (oslo.policy's `load_rules`).
    fn rebuild(&mut self) {
        let mut rules = self.file_rules.clone();
        for (name, registered) in &self.registered {
            if rules.contains_key(name) {
                continue;
            }
            let mut check = registered.check.clone();
            // A file overriding the rule's old name still applies to it,
            // unless the file merely aliases the old name to the new one.
            if let Some(old) = registered.deprecated_rule.filter(|old| old != name) {
                if let Some(file_check) = self.file_rules.get(old) {
                    let alias = Check::Rule(name.clone());
                    if *file_check != alias {
                        tracing::warn!(
                            rule = %name,
                            deprecated = old,
                            "policy file overrides a deprecated rule name; applying it to its replacement"
                        );
                        check = file_check.clone();
                    }
                }
            }
            rules.insert(name.clone(), check);
        }
        self.rules = rules;
        self.check_rules();
    }

    /// Log rules that reference undefined rules or form cycles
    /// (oslo.policy's `check_rules`).
    fn check_rules(&self) {
        let mut undefined: Vec<&str> = Vec::new();
        for (name, check) in &self.rules {
            let mut refs = Vec::new();
            check.referenced_rules(&mut refs);
            if refs.iter().any(|r| !self.rules.contains_key(*r)) {
                undefined.push(name);
            }
        }
        if !undefined.is_empty() {
            undefined.sort_unstable();
            tracing::warn!(rules = ?undefined, "policies reference a rule that is not defined");
        }
        let cyclic = self.cyclic_rules();
        if !cyclic.is_empty() {
            tracing::warn!(rules = ?cyclic, "policies are part of a cyclical reference");
        }
    }

    /// Rules that lie on a cycle of `rule:` references.
    fn cyclic_rules(&self) -> Vec<&str> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Open,
            Done,
        }
        let mut marks: HashMap<&str, Mark> = HashMap::new();
        let mut cyclic: HashSet<&str> = HashSet::new();
        let mut names: Vec<&str> = self.rules.keys().map(String::as_str).collect();
        names.sort_unstable();
        for start in names {
            if marks.contains_key(start) {
                continue;
            }
            // Iterative depth-first search: (rule, its references, next index).
            let mut stack: Vec<(&str, Vec<&str>, usize)> = Vec::new();
            marks.insert(start, Mark::Open);
            stack.push((start, self.references(start), 0));
            while let Some((node, refs, next)) = stack.last_mut() {
                let Some(&child) = refs.get(*next) else {
                    marks.insert(node, Mark::Done);
                    stack.pop();
                    continue;
                };
                *next += 1;
                match marks.get(child) {
                    Some(Mark::Open) => {
                        // Everything on the stack from `child` up is a cycle.
                        let from = stack.iter().position(|(n, _, _)| *n == child);
                        cyclic.extend(stack[from.unwrap_or(0)..].iter().map(|(n, _, _)| *n));
                    }
                    Some(Mark::Done) => {}
                    None if self.rules.contains_key(child) => {
                        marks.insert(child, Mark::Open);
                        stack.push((child, self.references(child), 0));
                    }
                    None => {}
                }
            }
        }
        let mut cyclic: Vec<&str> = cyclic.into_iter().collect();
        cyclic.sort_unstable();
        cyclic
    }

    fn references(&self, name: &str) -> Vec<&str> {
        let mut refs = Vec::new();
        if let Some(check) = self.rules.get(name) {
            check.referenced_rules(&mut refs);
        }
        refs
    }
}

/// A policy file's top level: its entries in file order (so that, as with
/// PyYAML, the last of duplicate keys wins), or none for an empty document.
struct FileEntries(Vec<(YamlValue, YamlValue)>);

impl<'de> Deserialize<'de> for FileEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = FileEntries;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of rule names to check strings")
            }

            fn visit_unit<E: de::Error>(self) -> Result<FileEntries, E> {
                Ok(FileEntries(Vec::new()))
            }

            fn visit_none<E: de::Error>(self) -> Result<FileEntries, E> {
                Ok(FileEntries(Vec::new()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileEntries, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(FileEntries(entries))
            }
        }

        deserializer.deserialize_any(EntriesVisitor)
    }
}

/// Parse a policy file's text (`policy.parse_file_contents` followed by
/// `Rules.load`).
fn parse_policy_file(text: &str) -> Result<Vec<(String, Check)>, PolicyError> {
    let FileEntries(raw) = match serde_yaml_ng::from_str(text) {
        Ok(entries) => entries,
        // Not every JSON document is YAML a YAML parser accepts (tabs).
        Err(yaml_err) => serde_json::from_str(text).map_err(|_| PolicyError::InvalidFile(yaml_err.to_string()))?,
    };
    let mut entries = Vec::with_capacity(raw.len());
    for (key, value) in raw {
        let YamlValue::String(name) = key else {
            return Err(PolicyError::InvalidFile(format!("rule names must be strings, found {}", yaml_kind(&key))));
        };
        let check = match value {
            YamlValue::String(s) => parse_rule(&s),
            YamlValue::Null => {
                tracing::warn!(rule = %name, "policy file rule has no value; it always passes");
                Check::True
            }
            YamlValue::Sequence(list) => parse_list_rule(&name, &list)?,
            other => {
                return Err(PolicyError::InvalidFile(format!(
                    "rule {name:?}: expected a check string, found {}",
                    yaml_kind(&other)
                )))
            }
        };
        entries.push((name, check));
    }
    Ok(entries)
}

/// The legacy list-of-lists syntax (`_parser._parse_list_rule`): the outer
/// list is or-ed, inner lists are and-ed, each element a single check.
fn parse_list_rule(name: &str, list: &[YamlValue]) -> Result<Check, PolicyError> {
    if list.is_empty() {
        return Ok(Check::True);
    }
    let bad = || PolicyError::InvalidFile(format!("rule {name:?}: malformed list rule"));
    let mut issues = Vec::new();
    let mut or_list = Vec::new();
    for inner in list {
        let and_list: Vec<Check> = match inner {
            YamlValue::String(s) if s.is_empty() => continue,
            YamlValue::String(s) => vec![parse_check(s, &mut issues)],
            YamlValue::Sequence(items) if items.is_empty() => continue,
            YamlValue::Sequence(items) => items
                .iter()
                .map(|item| match item {
                    YamlValue::String(s) => Ok(parse_check(s, &mut issues)),
                    _ => Err(bad()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(bad()),
        };
        or_list.push(if and_list.len() == 1 {
            and_list.into_iter().next().unwrap_or(Check::False)
        } else {
            Check::And(and_list)
        });
    }
    for issue in issues {
        tracing::error!(rule = name, %issue, "failed to understand policy rule");
    }
    Ok(match or_list.len() {
        0 => Check::False,
        1 => or_list.pop().unwrap_or(Check::False),
        _ => Check::Or(or_list),
    })
}

fn yaml_kind(v: &YamlValue) -> &'static str {
    match v {
        YamlValue::Null => "null",
        YamlValue::Bool(_) => "a boolean",
        YamlValue::Number(_) => "a number",
        YamlValue::String(_) => "a string",
        YamlValue::Sequence(_) => "a list",
        YamlValue::Mapping(_) => "a map",
        YamlValue::Tagged(_) => "a tagged value",
    }
}
