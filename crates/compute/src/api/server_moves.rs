//! The server actions that move a server or change what it runs:
//! resize (confirm, revert), migrate, live migrate, evacuate, shelve,
//! snapshot, rebuild.

use std::sync::Arc;

use api_core::{ApiResult, Auth};
use axum::response::Response;
use serde_json::Value;

use super::Mv;
use crate::core::{bad, Compute};

pub async fn action(
    _c: &Arc<Compute>,
    _mv: Mv,
    _ctx: &Auth,
    _id: &str,
    key: &str,
    _arg: &Value,
    _body: &Value,
) -> ApiResult<Response> {
    Err(bad(format!("There is no such action: {key}")))
}
