//! A JSON Schema (draft 4 subset) validator whose messages read like Python
//! `jsonschema`'s, which OpenStack services return in their 400s
//! (`'name' is a required property`, `-1 is less than the minimum of 1`).
//!
//! Supported keywords: type, properties, patternProperties,
//! additionalProperties, required, minProperties, items, minItems,
//! uniqueItems, minimum, maximum, minLength, maxLength, pattern, enum, anyOf
//! and format `uuid`. Schemas are `serde_json::Value`s, written as OpenStack
//! writes them.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::Value;

/// Validates `instance`; the error is the message of the first violation.
pub fn validate(instance: &Value, schema: &Value) -> Result<(), String> {
    check(instance, schema)
}

/// Validates `instance`; the error names where the first violation is (the
/// keys and item indexes from the root) beside its message, for services
/// that print the field (Nova: `Invalid input for field/attribute <key>`).
pub fn validate_at(instance: &Value, schema: &Value) -> Result<(), (Vec<String>, String)> {
    let mut path = Vec::new();
    check_at(instance, schema, &mut path).map_err(|m| (path, m))
}

fn check(v: &Value, s: &Value) -> Result<(), String> {
    check_at(v, s, &mut Vec::new())
}

/// Checks a member; on failure `path` keeps naming it.
fn check_in(v: &Value, s: &Value, path: &mut Vec<String>, key: String) -> Result<(), String> {
    path.push(key);
    check_at(v, s, path)?;
    path.pop();
    Ok(())
}

fn regex(pattern: &str) -> Regex {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().expect("regex cache");
    map.entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).unwrap_or_else(|_| Regex::new("$^").expect("regex")))
        .clone()
}

/// Python's repr of a JSON value, as jsonschema prints it.
pub fn repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_str(s),
        Value::Array(a) => format!("[{}]", a.iter().map(repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => {
            format!(
                "{{{}}}",
                o.iter().map(|(k, v)| format!("{}: {}", py_str(k), repr(v))).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

fn py_str(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\'', "\\'"))
    }
}

fn type_matches(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0 && !v.is_f64()),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

pub fn is_uuid_like(s: &str) -> bool {
    // oslo_utils.uuidutils.is_uuid_like: uuid.UUID() accepts hex with or
    // without dashes and braces, and the canonical form must equal the
    // input with dashes removed, lowercased.
    let stripped: String = s.trim_start_matches("urn:").trim_start_matches("uuid:").replace(['{', '}', '-'], "");
    stripped.len() == 32 && stripped.bytes().all(|c| c.is_ascii_hexdigit())
}

fn check_at(v: &Value, s: &Value, path: &mut Vec<String>) -> Result<(), String> {
    let Some(s) = s.as_object() else { return Ok(()) };
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_matches(v, t),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_matches(v, t)),
            _ => true,
        };
        if !ok {
            let want = match t {
                Value::String(t) => py_str(t),
                other => repr(other),
            };
            return Err(format!("{} is not of type {}", repr(v), want));
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|sub| check(v, sub).is_ok()) {
            return Err(format!("{} is not valid under any of the given schemas", repr(v)));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return Err(format!("{} is not one of {}", repr(v), repr(&Value::Array(e.clone()))));
        }
    }
    match v {
        Value::Object(o) => {
            if let Some(req) = s.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !o.contains_key(r) {
                        return Err(format!("{} is a required property", py_str(r)));
                    }
                }
            }
            if let Some(min) = s.get("minProperties").and_then(Value::as_u64) {
                if (o.len() as u64) < min {
                    return Err(if o.is_empty() {
                        format!("{} should be non-empty", repr(v))
                    } else {
                        format!("{} does not have enough properties", repr(v))
                    });
                }
            }
            if let Some(max) = s.get("maxProperties").and_then(Value::as_u64) {
                if (o.len() as u64) > max {
                    return Err(format!("{} has too many properties", repr(v)));
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            let patterns = s.get("patternProperties").and_then(Value::as_object);
            let mut extra = Vec::new();
            for (k, val) in o {
                let mut matched = false;
                if let Some(sub) = props.and_then(|p| p.get(k)) {
                    matched = true;
                    check_in(val, sub, path, k.clone())?;
                }
                if let Some(pats) = patterns {
                    for (p, sub) in pats {
                        if regex(p).is_match(k) {
                            matched = true;
                            check_in(val, sub, path, k.clone())?;
                        }
                    }
                }
                if !matched {
                    extra.push(k.clone());
                }
            }
            if !extra.is_empty() {
                match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        if patterns.is_some() && props.is_none() {
                            let pats: Vec<String> =
                                patterns.into_iter().flat_map(|p| p.keys()).map(|p| py_str(p)).collect();
                            let verb = if extra.len() == 1 { "does" } else { "do" };
                            return Err(format!(
                                "{} {verb} not match any of the regexes: {}",
                                extra.iter().map(|k| py_str(k)).collect::<Vec<_>>().join(", "),
                                pats.join(", ")
                            ));
                        }
                        let verb = if extra.len() == 1 { "was" } else { "were" };
                        return Err(format!(
                            "Additional properties are not allowed ({} {verb} unexpected)",
                            extra.iter().map(|k| py_str(k)).collect::<Vec<_>>().join(", ")
                        ));
                    }
                    Some(sub @ Value::Object(_)) => {
                        for k in &extra {
                            check_in(&o[k], sub, path, k.clone())?;
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Array(a) => {
            if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                if (a.len() as u64) < min {
                    return Err(if a.is_empty() {
                        format!("{} should be non-empty", repr(v))
                    } else {
                        format!("{} is too short", repr(v))
                    });
                }
            }
            if s.get("uniqueItems") == Some(&Value::Bool(true)) {
                for (i, x) in a.iter().enumerate() {
                    if a[..i].contains(x) {
                        return Err(format!("{} has non-unique elements", repr(v)));
                    }
                }
            }
            if let Some(items) = s.get("items") {
                for (i, x) in a.iter().enumerate() {
                    check_in(x, items, path, i.to_string())?;
                }
            }
        }
        Value::String(st) => {
            let len = st.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
                if len < min {
                    return Err(if len == 0 {
                        format!("{} should be non-empty", repr(v))
                    } else {
                        format!("{} is too short", repr(v))
                    });
                }
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                if len > max {
                    return Err(format!("{} is too long", repr(v)));
                }
            }
            if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                if !regex(p).is_match(st) {
                    return Err(format!("{} does not match {}", repr(v), py_str(p)));
                }
            }
            if s.get("format").and_then(Value::as_str) == Some("uuid") && !is_uuid_like(st) {
                return Err(format!("{} is not a 'uuid'", repr(v)));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
                if x < min {
                    return Err(format!("{} is less than the minimum of {}", repr(v), repr(&s["minimum"])));
                }
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
                if x > max {
                    return Err(format!("{} is greater than the maximum of {}", repr(v), repr(&s["maximum"])));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_read_like_python_jsonschema() {
        let s = json!({"type": "object", "properties": {"name": {"type": "string", "maxLength": 3},
            "n": {"type": "integer", "minimum": 1}, "u": {"type": "string", "format": "uuid"}},
            "required": ["name"], "additionalProperties": false});
        assert_eq!(validate(&json!({}), &s).unwrap_err(), "'name' is a required property");
        assert_eq!(validate(&json!({"name": 1}), &s).unwrap_err(), "1 is not of type 'string'");
        assert_eq!(validate(&json!({"name": "abcd"}), &s).unwrap_err(), "'abcd' is too long");
        assert_eq!(validate(&json!({"name": "a", "n": 0}), &s).unwrap_err(), "0 is less than the minimum of 1");
        assert_eq!(validate(&json!({"name": "a", "u": "x"}), &s).unwrap_err(), "'x' is not a 'uuid'");
        assert_eq!(
            validate(&json!({"name": "a", "x": 1}), &s).unwrap_err(),
            "Additional properties are not allowed ('x' was unexpected)"
        );
        assert_eq!(validate(&json!({"name": "a", "n": 1.5}), &s).unwrap_err(), "1.5 is not of type 'integer'");
        assert!(validate(&json!({"name": "a", "n": 2, "u": "7a3ac3c5-2fb4-4c88-a1ea-05b0f1b6bf1a"}), &s).is_ok());
    }

    #[test]
    fn pattern_properties_and_any_of() {
        let s = json!({"type": "object", "patternProperties": {"^[A-Z_]+$": {"type": "integer"}},
            "additionalProperties": false});
        assert_eq!(
            validate(&json!({"bad": 1}), &s).unwrap_err(),
            "'bad' does not match any of the regexes: '^[A-Z_]+$'"
        );
        let a = json!({"anyOf": [{"type": "string"}, {"type": "null"}]});
        assert!(validate(&json!(null), &a).is_ok());
        assert_eq!(validate(&json!(3), &a).unwrap_err(), "3 is not valid under any of the given schemas");
        assert_eq!(validate(&json!(3), &json!({"type": ["integer", "null"]})), Ok(()));
    }
}
