//! The check tree a rule parses into, and its evaluation.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::python::{classify_kind, interpolate, py_str, Kind};
use crate::Credentials;

/// How deep `rule:` references may nest before evaluation gives up (and
/// denies). Only a cyclic set of rules gets anywhere near this; oslo.policy
/// would hit Python's recursion limit there.
const MAX_RULE_DEPTH: usize = 64;

/// A parsed check string: the equivalent of oslo.policy's `BaseCheck` tree.
///
/// `Display` renders it exactly like `str()` of the oslo.policy object, e.g.
/// `(role:admin or (project_id:%(project_id)s and role:member))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `@`, or the empty check string: always passes.
    True,
    /// `!`, or a check string that could not be understood: never passes.
    False,
    /// `not <check>`.
    Not(Box<Check>),
    /// `<check> and <check> [and ...]`.
    And(Vec<Check>),
    /// `<check> or <check> [or ...]`.
    Or(Vec<Check>),
    /// `rule:<name>`: the result of another rule; an unknown rule fails.
    Rule(String),
    /// `role:<name>`: the credentials hold that role (case-insensitively).
    /// The name may interpolate target attributes (`role:%(role_name)s`).
    Role(String),
    /// `<kind>:<match>`: a literal or credential attribute (`kind`) compared
    /// with the match string after interpolating target attributes.
    Generic {
        /// Left-hand side: a Python literal (`'member'`, `True`, `1`) or a
        /// dotted path into the credentials (`user_id`, `token.domain.id`).
        kind: String,
        /// Right-hand side, possibly with `%(target.attr)s` substitutions.
        matches: String,
    },
    /// `http:` / `https:` checks (oslo.policy calls out to a remote server).
    /// They are recognised but never pass here.
    External {
        /// `http` or `https`.
        kind: String,
        /// The URL template.
        url: String,
    },
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::True => f.write_str("@"),
            Check::False => f.write_str("!"),
            Check::Not(inner) => write!(f, "not {inner}"),
            Check::And(rules) => write_joined(f, rules, " and "),
            Check::Or(rules) => write_joined(f, rules, " or "),
            Check::Rule(name) => write!(f, "rule:{name}"),
            Check::Role(name) => write!(f, "role:{name}"),
            Check::Generic { kind, matches } => write!(f, "{kind}:{matches}"),
            Check::External { kind, url } => write!(f, "{kind}:{url}"),
        }
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, rules: &[Check], sep: &str) -> fmt::Result {
    f.write_str("(")?;
    for (i, rule) in rules.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{rule}")?;
    }
    f.write_str(")")
}

/// Everything a check needs to evaluate.
pub(crate) struct Context<'a> {
    pub rules: &'a HashMap<String, Check>,
    pub creds: &'a Credentials,
    pub target: &'a Value,
}

/// Where oslo.policy would raise out of a check, abandoning the whole
/// enforcement (which then denies the request) rather than failing only
/// that check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Abort {
    /// A `%` format Python rejects (e.g. `%(key` or a trailing `%`).
    Format(String),
    /// A left-hand side that is neither a literal nor a dotted name.
    Kind(String),
    /// A credential path that indexes into something that is not a map.
    NotAMap(String),
    /// `rule:` references nested beyond [`MAX_RULE_DEPTH`].
    TooDeep(String),
}

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Abort::Format(m) => write!(f, "cannot interpolate {m:?} with the target"),
            Abort::Kind(k) => write!(f, "{k:?} is neither a literal nor a credential name"),
            Abort::NotAMap(k) => write!(f, "credential path {k:?} goes through a non-map value"),
            Abort::TooDeep(r) => write!(f, "rule references nest too deeply at {r:?} (a cycle?)"),
        }
    }
}

fn interpolate_or_abort(template: &str, target: &Value) -> Result<Option<String>, Abort> {
    interpolate(template, target).map_err(|_| Abort::Format(template.to_owned()))
}

impl Check {
    /// Evaluate this check. `depth` counts the `rule:` references followed.
    pub(crate) fn eval(&self, ctx: &Context<'_>, depth: usize) -> Result<bool, Abort> {
        match self {
            Check::True => Ok(true),
            Check::False | Check::External { .. } => Ok(false),
            Check::Not(inner) => Ok(!inner.eval(ctx, depth)?),
            Check::And(rules) => {
                for rule in rules {
                    if !rule.eval(ctx, depth)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Check::Or(rules) => {
                for rule in rules {
                    if rule.eval(ctx, depth)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Check::Rule(name) => {
                let Some(rule) = ctx.rules.get(name) else {
                    tracing::debug!(rule = %name, "policy references an undefined rule");
                    return Ok(false);
                };
                if depth >= MAX_RULE_DEPTH {
                    return Err(Abort::TooDeep(name.clone()));
                }
                rule.eval(ctx, depth + 1)
            }
            Check::Role(template) => {
                let Some(role) = interpolate_or_abort(template, ctx.target)? else {
                    return Ok(false);
                };
                let role = role.to_lowercase();
                Ok(ctx.creds.roles.iter().any(|r| r.to_lowercase() == role))
            }
            Check::Generic { kind, matches } => {
                let Some(expected) = interpolate_or_abort(matches, ctx.target)? else {
                    return Ok(false);
                };
                match classify_kind(kind) {
                    Kind::Literal(literal) => Ok(expected == literal),
                    Kind::Invalid => Err(Abort::Kind(kind.clone())),
                    Kind::Path => {
                        let mut segments = kind.split('.');
                        let first = segments.next().unwrap_or_default();
                        let rest: Vec<&str> = segments.collect();
                        match ctx.creds.get(first) {
                            Some(value) => {
                                find_in_value(&value, &rest, &expected).ok_or_else(|| Abort::NotAMap(kind.clone()))
                            }
                            None => Ok(false),
                        }
                    }
                }
            }
        }
    }

    /// The rule names this check refers to with `rule:`.
    pub(crate) fn referenced_rules<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Check::Rule(name) => out.push(name),
            Check::Not(inner) => inner.referenced_rules(out),
            Check::And(rules) | Check::Or(rules) => {
                for rule in rules {
                    rule.referenced_rules(out);
                }
            }
            _ => {}
        }
    }
}

/// oslo.policy's `GenericCheck._find_in_dict`, after the first key has been
/// looked up: a list found by a lookup matches if any of its elements
/// matches the rest of the path; at the end of the path the value's `str()`
/// must equal `expected`. `None` where Python would raise `TypeError`
/// (indexing into something that is not a map).
fn find_in_value(found: &Value, path: &[&str], expected: &str) -> Option<bool> {
    if let Value::Array(items) = found {
        for item in items {
            if find_in_dict(item, path, expected)? {
                return Some(true);
            }
        }
        return Some(false);
    }
    find_in_dict(found, path, expected)
}

fn find_in_dict(value: &Value, path: &[&str], expected: &str) -> Option<bool> {
    match path.split_first() {
        None => Some(py_str(value) == expected),
        Some((key, rest)) => match value {
            Value::Object(map) => match map.get(*key) {
                Some(v) => find_in_value(v, rest, expected),
                None => Some(false),
            },
            _ => None,
        },
    }
}
