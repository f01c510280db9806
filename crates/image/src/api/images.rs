//! `/v2/images`: create, list, show, JSON-patch update, delete, actions, tags.

use std::sync::Arc;

use api_core::auth::Auth;
use api_core::ApiResult;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::{image_schema, json_body, no_body, object, validate};
use crate::core::{bad, gerr, Images, ListQuery, PatchOp};
use crate::model::Image;

const PATCH_V20: &str = "application/openstack-images-v2.0-json-patch";
const PATCH_V21: &str = "application/openstack-images-v2.1-json-patch";

/// An image as Glance shows it.
pub fn view(im: &Image) -> Value {
    let mut m = Map::new();
    for (k, v) in &im.properties {
        if k != "os_glance_stage_host" && k != "os_glance_hash_op_host" {
            m.insert(k.clone(), json!(v));
        }
    }
    let base = json!({
        "name": im.name, "disk_format": im.disk_format, "container_format": im.container_format,
        "visibility": im.visibility, "size": im.size, "virtual_size": im.virtual_size, "status": im.status,
        "checksum": im.checksum, "protected": im.protected, "min_ram": im.min_ram, "min_disk": im.min_disk,
        "owner": im.owner, "os_hidden": im.os_hidden, "os_hash_algo": im.os_hash_algo,
        "os_hash_value": im.os_hash_value, "id": im.id, "created_at": im.created_at, "updated_at": im.updated_at,
        "tags": im.tags, "self": format!("/v2/images/{}", im.id), "file": format!("/v2/images/{}/file", im.id),
        "schema": "/v2/schemas/image",
    });
    if let Value::Object(b) = base {
        m.extend(b);
    }
    Value::Object(m)
}

/// `OpenStack-image-import-methods` on a created image (absent when none is on).
fn import_methods(images: &Images) -> HeaderMap {
    let mut h = HeaderMap::new();
    let methods = images.import_methods().join(",");
    if let Ok(v) = HeaderValue::from_str(&methods) {
        if !methods.is_empty() {
            h.insert(header::HeaderName::from_static("openstack-image-import-methods"), v);
        }
    }
    h
}

pub async fn create(auth: Auth, State(images): State<Arc<Images>>, body: Bytes) -> ApiResult<Response> {
    let body = object(json_body(&body)?)?;
    for k in ["direct_url", "self", "file", "schema", "stores"] {
        if body.contains_key(k) {
            return Err(gerr(StatusCode::FORBIDDEN, format!("Attribute '{k}' is read-only.")));
        }
    }
    validate(&Value::Object(body.clone()), "image", image_schema())?;
    let im = images.create(&auth, body).await?;
    let location = format!("{}/v2/images/{}", images.endpoint.trim_end_matches('/'), im.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, HeaderValue::from_str(&location).map_err(|_| bad("Invalid image id."))?)],
        import_methods(&images),
        axum::Json(view(&im)),
    )
        .into_response())
}

pub async fn show(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    no_body(&headers, &body)?;
    let im = images.get(&auth, &id).await?;
    Ok(axum::Json(view(&im)).into_response())
}

pub async fn delete(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    no_body(&headers, &body)?;
    images.delete(&auth, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn deactivate(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    no_body(&headers, &body)?;
    images.deactivate(&auth, &id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn reactivate(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    no_body(&headers, &body)?;
    images.deactivate(&auth, &id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn add_tag(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path((id, tag)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    no_body(&headers, &body)?;
    validate(&json!({"tags": [tag]}), "image", image_schema())?;
    images.add_tag(&auth, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_tag(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path((id, tag)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    no_body(&headers, &body)?;
    images.delete_tag(&auth, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------- PATCH ----------

/// Decodes one JSON pointer as Glance does (`~1` → `/`, `~0` → `~`).
fn pointer(path: &str) -> ApiResult<Vec<String>> {
    if !path.starts_with('/') {
        return Err(bad(format!("Pointer `{path}` does not start with \"/\".")));
    }
    if path.contains("//") {
        return Err(bad(format!("Pointer `{path}` contains adjacent \"/\".")));
    }
    if path.len() > 1 && path.ends_with('/') {
        return Err(bad(format!("Pointer `{path}` end with \"/\".")));
    }
    let mut parts = Vec::new();
    for raw in path[1..].split('/') {
        if raw.is_empty() {
            return Err(bad(format!("Pointer `{path}` does not contains valid token.")));
        }
        let mut out = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '~' {
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => {
                        return Err(bad(format!(
                            "Pointer `{path}` contains \"~\" not part of a recognized escape sequence."
                        )))
                    }
                }
            } else {
                out.push(c);
            }
        }
        parts.push(out.trim().to_string());
    }
    Ok(parts)
}

fn parse_ops(body: Value, v20: bool) -> ApiResult<Vec<PatchOp>> {
    let Value::Array(items) = body else {
        return Err(bad("Request body must be a JSON array of operation objects."));
    };
    let mut ops = Vec::new();
    for item in items {
        let Value::Object(m) = item else { return Err(bad("Operations must be JSON objects.")) };
        let (op, path) = if v20 {
            let present: Vec<&str> = ["add", "remove", "replace"].into_iter().filter(|k| m.contains_key(*k)).collect();
            match present.as_slice() {
                [one] => (one.to_string(), m[*one].as_str().unwrap_or_default().to_string()),
                [] => {
                    return Err(bad(
                        "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".",
                    ))
                }
                _ => {
                    return Err(bad(
                        "Operation objects must contain only one member named \"add\", \"remove\", or \"replace\".",
                    ))
                }
            }
        } else {
            let Some(op) = m.get("op") else {
                return Err(bad(
                    "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace.",
                ));
            };
            let op = op.as_str().unwrap_or_default();
            if !["add", "remove", "replace"].contains(&op) {
                return Err(bad(format!(
                    "Invalid operation: `{op}`. It must be one of the following: add, remove, replace."
                )));
            }
            let Some(path) = m.get("path") else { return Err(bad("Unable to find 'path' in JSON Schema change")) };
            (op.to_string(), path.as_str().unwrap_or_default().to_string())
        };
        let parts = pointer(&path)?;
        let depth_ok = match parts.first().map(String::as_str) {
            Some("locations") => parts.len() <= if op == "replace" { 1 } else { 2 },
            _ => parts.len() == 1,
        };
        if !depth_ok {
            return Err(bad(format!("Invalid JSON pointer for this resource: '/{}'", parts.join("/"))));
        }
        let value = m.get("value").cloned();
        if op != "remove" && value.is_none() {
            return Err(bad(format!("Operation \"{op}\" requires a member named \"value\".")));
        }
        ops.push(PatchOp { op, path: parts, value });
    }
    Ok(ops)
}

pub async fn update(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default();
    let v20 = match ct.as_str() {
        PATCH_V20 => true,
        PATCH_V21 => false,
        _ => {
            let mut e = api_core::ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "The request media type {ct} is not supported by this server.\n<br /><br />\nImage PATCH expects Content-Type one of: {PATCH_V20}, {PATCH_V21}"
                ),
            );
            e.headers.push((
                header::HeaderName::from_static("accept-patch"),
                HeaderValue::from_str(&format!("{PATCH_V20}, {PATCH_V21}")).expect("header"),
            ));
            return Err(e);
        }
    };
    let ops = parse_ops(json_body(&body)?, v20)?;
    for op in &ops {
        let key = &op.path[0];
        if op.op != "remove" && key != "locations" && !crate::core::is_protected_key(key) {
            let value = op.value.clone().unwrap_or(Value::Null);
            validate(&json!({ key.clone(): value }), "image", image_schema())?;
        }
    }
    let im = images.update(&auth, &id, ops, v20).await?;
    Ok(axum::Json(view(&im)).into_response())
}

// ---------- list ----------

pub async fn list(
    auth: Auth,
    State(images): State<Arc<Images>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    no_body(&headers, &body)?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let lq = parse_list_query(&pairs)?;
    let (list, next) = images.list(&auth, &lq).await?;
    // first/next: the query as given, last value per key, marker last.
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, v) in &pairs {
        if k == "marker" {
            continue;
        }
        match params.iter_mut().find(|(pk, _)| pk == k) {
            Some(p) => p.1 = v.clone(),
            None => params.push((k.clone(), v.clone())),
        }
    }
    let encode = |ps: &[(String, String)]| {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(ps.iter().map(|(k, v)| (k, v))).finish()
    };
    let first = if params.is_empty() { "/v2/images".to_string() } else { format!("/v2/images?{}", encode(&params)) };
    let mut body = json!({
        "images": list.iter().map(view).collect::<Vec<_>>(),
        "first": first,
        "schema": "/v2/schemas/images",
    });
    if let Some(marker) = next {
        params.push(("marker".into(), marker));
        body["next"] = json!(format!("/v2/images?{}", encode(&params)));
    }
    Ok(axum::Json(body).into_response())
}

const SORT_KEYS: &[&str] =
    &["name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at"];

fn parse_list_query(pairs: &[(String, String)]) -> ApiResult<ListQuery> {
    let mut lq = ListQuery { member_status: "accepted".into(), ..Default::default() };
    let mut sort_new: Option<String> = None;
    let mut sort_keys: Vec<String> = Vec::new();
    let mut sort_dirs: Vec<String> = Vec::new();
    let mut filters: Vec<(String, String)> = Vec::new();
    let mut os_hidden = "false".to_string();
    for (k, v) in pairs {
        match k.as_str() {
            "limit" => {
                let n: i64 = v.trim().parse().map_err(|_| bad("limit param must be an integer"))?;
                if n < 0 {
                    return Err(bad("limit param must be positive"));
                }
                lq.limit = Some(n);
            }
            "marker" => lq.marker = Some(v.clone()),
            "member_status" => {
                if !["pending", "accepted", "rejected", "all"].contains(&v.as_str()) {
                    return Err(bad(format!("Invalid status: {v}")));
                }
                lq.member_status = v.clone();
            }
            "tag" => lq.tags.push(v.trim().to_string()),
            "visibility" => {
                if !["community", "public", "private", "shared", "all"].contains(&v.as_str()) {
                    return Err(bad(format!("Invalid visibility value: {v}")));
                }
                lq.visibility = Some(v.clone());
            }
            "changes-since" => return Err(bad("The \"changes-since\" filter is no longer available on v2.")),
            "sort" => sort_new = Some(v.clone()),
            "sort_key" => sort_keys.push(v.clone()),
            "sort_dir" => sort_dirs.push(v.clone()),
            "os_hidden" => os_hidden = v.to_lowercase(),
            _ => match filters.iter_mut().find(|(fk, _)| fk == k) {
                Some(f) => f.1 = v.clone(),
                None => filters.push((k.clone(), v.clone())),
            },
        }
    }
    if os_hidden != "true" && os_hidden != "false" {
        return Err(bad(format!(
            "Invalid value '{os_hidden}' for 'os_hidden' filter. Valid values are 'true' or 'false'."
        )));
    }
    filters.push(("os_hidden".into(), os_hidden));
    let check_key = |k: &str| -> ApiResult<()> {
        if SORT_KEYS.contains(&k) {
            Ok(())
        } else {
            Err(bad(format!(
                "Invalid sort key: {k}. It must be one of the following: name, status, container_format, disk_format, size, id, created_at, updated_at."
            )))
        }
    };
    let check_dir = |d: &str| -> ApiResult<bool> {
        match d {
            "asc" => Ok(true),
            "desc" => Ok(false),
            _ => Err(bad(format!("Invalid sort direction: {d}"))),
        }
    };
    if let Some(sort) = sort_new {
        if !sort_keys.is_empty() || !sort_dirs.is_empty() {
            return Err(bad("Old and new sorting syntax cannot be combined"));
        }
        for part in sort.split(',') {
            let (k, d) = part.split_once(':').unwrap_or((part, "desc"));
            let k = k.trim();
            check_key(k)?;
            lq.sort.push((k.to_string(), check_dir(d.trim())?));
        }
    } else if !sort_keys.is_empty() {
        if sort_dirs.len() > 1 && sort_dirs.len() != sort_keys.len() {
            return Err(bad("Number of sort dirs does not match the number of sort keys"));
        }
        for (i, k) in sort_keys.iter().enumerate() {
            check_key(k)?;
            let d = match sort_dirs.len() {
                0 => "desc",
                1 => sort_dirs[0].as_str(),
                _ => sort_dirs[i].as_str(),
            };
            lq.sort.push((k.clone(), check_dir(d)?));
        }
    } else if let [d] = sort_dirs.as_slice() {
        lq.sort.push(("created_at".into(), check_dir(d)?));
    }
    lq.filters = filters;
    Ok(lq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers() {
        assert_eq!(pointer("/name").unwrap(), vec!["name"]);
        assert_eq!(pointer("/a~1b~0c").unwrap(), vec!["a/b~c"]);
        assert!(pointer("name").unwrap_err().message.contains("does not start with"));
        assert!(pointer("/a//b").unwrap_err().message.contains("adjacent"));
        assert!(pointer("/a/").unwrap_err().message.contains("end with"));
        assert!(pointer("/a~2").unwrap_err().message.contains("recognized escape"));
    }

    #[test]
    fn sorting_syntax() {
        let q = |s: &[(&str, &str)]| {
            parse_list_query(&s.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
        };
        assert_eq!(q(&[("sort", "name:asc,size")]).unwrap().sort, vec![("name".into(), true), ("size".into(), false)]);
        assert!(q(&[("sort", "name"), ("sort_key", "size")]).unwrap_err().message.contains("cannot be combined"));
        assert!(q(&[("sort", "owner:asc")]).unwrap_err().message.contains("Invalid sort key: owner"));
        assert!(q(&[
            ("sort_key", "name"),
            ("sort_key", "id"),
            ("sort_dir", "asc"),
            ("sort_dir", "desc"),
            ("sort_dir", "asc")
        ])
        .unwrap_err()
        .message
        .contains("Number of sort dirs"));
        assert!(q(&[("limit", "x")]).unwrap_err().message.contains("must be an integer"));
        assert!(q(&[("visibility", "nope")]).unwrap_err().message.contains("Invalid visibility value: nope"));
    }
}
