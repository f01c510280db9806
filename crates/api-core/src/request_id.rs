//! `x-openstack-request-id`: a fresh `req-<uuid>` for every request, on every
//! response and in every log line (through the request's tracing span).
//! A well-formed id sent by the caller is kept as the global request id, as
//! oslo.middleware does, so one operation can be followed across services.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-openstack-request-id";

#[derive(Clone, Debug)]
pub struct RequestId(pub String);

#[derive(Clone, Debug)]
pub struct GlobalRequestId(pub String);

pub fn new_request_id() -> String {
    format!("req-{}", uuid::Uuid::new_v4())
}

/// True for `req-` followed by a UUID in its canonical form.
pub fn is_valid(id: &str) -> bool {
    id.strip_prefix("req-").is_some_and(|u| u.len() == 36 && uuid::Uuid::parse_str(u).is_ok())
}

pub async fn layer(mut req: Request, next: Next) -> Response {
    let id = new_request_id();
    let global = req.headers().get(HEADER).and_then(|v| v.to_str().ok()).filter(|v| is_valid(v)).map(str::to_string);
    req.extensions_mut().insert(RequestId(id.clone()));
    if let Some(g) = &global {
        req.extensions_mut().insert(GlobalRequestId(g.clone()));
    }
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        global_request_id = global.as_deref().unwrap_or(""),
        method = %req.method(),
        path = %req.uri().path(),
        user_id = tracing::field::Empty,
    );
    let mut resp = next.run(req).instrument(span).await;
    resp.headers_mut().insert(HEADER, HeaderValue::from_str(&id).expect("request id is ASCII"));
    resp
}
