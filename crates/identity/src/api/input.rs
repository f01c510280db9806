//! Request-body checks with Keystone's messages: which field, what is wrong.

use api_core::{ApiError, ApiResult};
use serde_json::{Map, Value};

pub fn invalid(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Invalid input for field '{field}': {why}"))
}

/// Refuses NUL characters anywhere in a body: no backend stores them.
pub fn check_nul(v: &Value) -> ApiResult<()> {
    match v {
        Value::String(s) if s.contains('\0') => {
            Err(ApiError::bad_request("Invalid input: strings must not contain NUL characters."))
        }
        Value::Array(a) => a.iter().try_for_each(check_nul),
        Value::Object(o) => o.iter().try_for_each(|(k, v)| {
            if k.contains('\0') {
                return Err(ApiError::bad_request("Invalid input: keys must not contain NUL characters."));
            }
            check_nul(v)
        }),
        _ => Ok(()),
    }
}

/// The object under `key` in a request body (`{"user": {...}}`).
pub fn object<'a>(body: &'a Value, key: &str) -> ApiResult<&'a Map<String, Value>> {
    check_nul(body)?;
    match body.get(key) {
        Some(Value::Object(o)) => Ok(o),
        Some(other) => Err(invalid(key, format!("{other} is not of type 'object'"))),
        None => Err(ApiError::bad_request(format!("Invalid input for field '/': '{key}' is a required property"))),
    }
}

pub fn opt_string(o: &Map<String, Value>, field: &str, max: usize) -> ApiResult<Option<String>> {
    match o.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => {
            if s.chars().count() > max {
                return Err(invalid(
                    field,
                    format!("'{}...' is too long (at most {max} characters)", s.chars().take(16).collect::<String>()),
                ));
            }
            Ok(Some(s.clone()))
        }
        Some(v) => Err(invalid(field, format!("{v} is not of type 'string'"))),
    }
}

/// A name: 1..=max characters, not only whitespace.
pub fn opt_name(o: &Map<String, Value>, field: &str, max: usize) -> ApiResult<Option<String>> {
    let s = opt_string(o, field, max)?;
    if let Some(s) = &s {
        if s.trim().is_empty() {
            return Err(invalid(field, format!("'{s}' does not match '[\\S]+'")));
        }
    }
    Ok(s)
}

pub fn name(o: &Map<String, Value>, field: &str, max: usize) -> ApiResult<String> {
    opt_name(o, field, max)?
        .ok_or_else(|| ApiError::bad_request(format!("Invalid input for field '/': '{field}' is a required property")))
}

pub fn opt_bool(o: &Map<String, Value>, field: &str) -> ApiResult<Option<bool>> {
    match o.get(field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(invalid(field, format!("{v} is not of type 'boolean'"))),
    }
}

/// An id: a string of 1..=64 characters.
pub fn opt_id(o: &Map<String, Value>, field: &str) -> ApiResult<Option<String>> {
    let s = opt_string(o, field, 64)?;
    if s.as_deref() == Some("") {
        return Err(invalid(field, "'' is too short"));
    }
    Ok(s)
}

pub fn nullable_id(o: &Map<String, Value>, field: &str) -> ApiResult<Option<Option<String>>> {
    match o.get(field) {
        Some(Value::Null) => Ok(Some(None)),
        _ => Ok(opt_id(o, field)?.map(Some)),
    }
}

/// Fields not listed in `known` (Keystone keeps them as the resource's extras).
pub fn extras(o: &Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    o.iter().filter(|(k, _)| !known.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Refuses fields not in `allowed` (schemas with `additionalProperties: false`).
pub fn no_other_fields(o: &Map<String, Value>, allowed: &[&str]) -> ApiResult<()> {
    if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field '/': Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    Ok(())
}

pub fn tags(o: &Map<String, Value>) -> ApiResult<Option<Vec<String>>> {
    match o.get("tags") {
        None => Ok(None),
        Some(Value::Array(a)) => {
            if a.len() > 80 {
                return Err(invalid("tags", "too many tags (at most 80)"));
            }
            let mut out = Vec::new();
            for t in a {
                let Value::String(s) = t else { return Err(invalid("tags", format!("{t} is not of type 'string'"))) };
                check_tag(s)?;
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
            Ok(Some(out))
        }
        Some(v) => Err(invalid("tags", format!("{v} is not of type 'array'"))),
    }
}

pub fn check_tag(s: &str) -> ApiResult<()> {
    if s.is_empty() || s.chars().count() > 255 || s.contains('/') || s.contains(',') || s.contains('\0') {
        return Err(invalid("tags", format!("'{s}' is not a valid tag: 1 to 255 characters, no '/', ',' or NUL")));
    }
    Ok(())
}
