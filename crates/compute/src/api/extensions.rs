//! `GET /extensions`: Nova's static list, the same at every microversion.

use api_core::{ApiError, ApiResult, Auth};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::extension_list::EXTENSIONS;
use super::{check_query, ok, query_pairs, Mv, C};
use crate::core::Compute;
use crate::policies::names;

fn view(alias: &str, name: &str, description: &str) -> Value {
    json!({
        "alias": alias, "name": name, "description": description, "links": [],
        "namespace": "http://docs.openstack.org/compute/ext/fake_xml", "updated": "2014-12-03T00:00:00Z",
    })
}

pub async fn list(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    check_query(mv, &mut query_pairs(raw.as_deref()), &[], 102)?;
    c.authorize(&ctx, names::EXTENSIONS, &Compute::project_target(&ctx))?;
    let all: Vec<Value> = EXTENSIONS.iter().map(|(a, n, d)| view(a, n, d)).collect();
    Ok(ok(StatusCode::OK, json!({"extensions": all})))
}

pub async fn show(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(alias): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    check_query(mv, &mut query_pairs(raw.as_deref()), &[], 102)?;
    c.authorize(&ctx, names::EXTENSIONS, &Compute::project_target(&ctx))?;
    let (a, n, d) = EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .ok_or_else(|| ApiError::not_found("The resource could not be found."))?;
    Ok(ok(StatusCode::OK, json!({"extension": view(a, n, d)})))
}
