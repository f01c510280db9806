//! OpenAPI 3 documents built from what each service declares about its
//! operations (method, path, summary), served at `/<service>/openapi.json`.

use serde_json::{json, Map, Value};

/// One documented operation.
pub struct Operation<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub summary: &'a str,
    pub operation_id: &'a str,
}

pub fn document<'a>(title: &str, version: &str, server: &str, ops: impl IntoIterator<Item = Operation<'a>>) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for op in ops {
        let method = op.method.to_ascii_lowercase();
        if !matches!(method.as_str(), "get" | "put" | "post" | "delete" | "patch" | "head") {
            continue;
        }
        let params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut o = json!({
            "summary": op.summary,
            "operationId": op.operation_id,
            "responses": {
                "2XX": {"description": "Success"},
                "400": {"description": "Bad request"},
                "401": {"description": "Authentication required"},
                "403": {"description": "Forbidden by policy"},
                "404": {"description": "Not found"},
            },
        });
        if !params.is_empty() {
            o["parameters"] = Value::Array(params);
        }
        if matches!(method.as_str(), "put" | "post" | "patch") {
            o["requestBody"] =
                json!({"required": false, "content": {"application/json": {"schema": {"type": "object"}}}});
        }
        let entry = paths.entry(op.path.to_string()).or_insert_with(|| json!({}));
        if entry.get(&method).is_none() {
            entry[method] = o;
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": title, "version": version},
        "servers": [{"url": server}],
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_and_methods() {
        let doc = document(
            "t",
            "1",
            "http://x",
            [
                Operation {
                    method: "GET",
                    path: "/v3/users/{user_id}",
                    summary: "Show user",
                    operation_id: "get_user",
                },
                Operation {
                    method: "PATCH",
                    path: "/v3/users/{user_id}",
                    summary: "Update",
                    operation_id: "update_user",
                },
            ],
        );
        let p = &doc["paths"]["/v3/users/{user_id}"];
        assert_eq!(p["get"]["parameters"][0]["name"], "user_id");
        assert!(p["patch"]["requestBody"].is_object());
        assert!(p["get"].get("requestBody").is_none());
    }
}
