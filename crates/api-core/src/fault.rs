//! Errors as each OpenStack service writes them.
//!
//! Handlers return [`ApiError`]; it becomes a response carrying a [`Fault`]
//! extension, and the service's [`render_faults`] layer writes the body in
//! that service's format. Responses that axum produces itself (unknown route,
//! wrong method) get the same treatment, so no plain-text error escapes.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::request_id::RequestId;

/// Which service's error body to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultFormat {
    /// `{"error": {"code", "title", "message"}}`
    Keystone,
    /// `{"itemNotFound": {"code", "message"}}`
    Nova,
    /// `{"errors": [{"status", "title", "detail", "code", "request_id"}]}`
    Placement,
    /// Plain `{"message", "code", "title"}` as Glance's webob faults.
    Glance,
}

/// An error a handler returns; rendered by the service's fault layer.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Machine-readable error code where the service has them (Placement).
    pub code: Option<&'static str>,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), code: None, headers: Vec::new() }
    }
    pub fn with_code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }
    pub fn payload_too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }
    /// An unexpected failure. The cause is logged with the request id; the
    /// client sees a generic message.
    pub fn internal(err: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "internal error; see the cause above and report it if it repeats");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error prevented the server from fulfilling your request.",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

/// Marker carried from [`ApiError`] to the fault layer.
#[derive(Clone, Debug)]
pub struct Fault(pub ApiError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = self.status;
        for (k, v) in &self.headers {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
        resp.extensions_mut().insert(Fault(self));
        resp
    }
}

fn title(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

fn nova_key(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 => "overLimit",
        415 => "badMediaType",
        429 => "overLimit",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

/// Renders `err` as `format` would.
pub fn fault_body(format: FaultFormat, err: &ApiError, request_id: &str) -> serde_json::Value {
    let code = err.status.as_u16();
    match format {
        FaultFormat::Keystone => json!({"error": {
            "code": code, "title": title(err.status), "message": err.message}}),
        // Nova's 401s come from keystonemiddleware, in its own format.
        FaultFormat::Nova if code == 401 => json!({"error": {
            "code": code, "title": title(err.status), "message": err.message}}),
        FaultFormat::Nova => json!({ nova_key(err.status): {"code": code, "message": err.message}}),
        // Placement sends `code` from microversion 1.23 on; its layer sets
        // `code` for those requests (to `placement.undefined_code` at least).
        FaultFormat::Placement => {
            let mut e = json!({"status": code, "title": title(err.status), "detail": err.message,
                "request_id": request_id});
            if let Some(c) = err.code {
                e["code"] = json!(c);
            }
            json!({"errors": [e]})
        }
        FaultFormat::Glance => json!({
            "message": err.message, "code": format!("{} {}", code, title(err.status)),
            "title": title(err.status)}),
    }
}

/// Middleware (use with `axum::middleware::from_fn_with_state`) that writes
/// every error response of a service in that service's format.
pub async fn render_faults(
    axum::extract::State(format): axum::extract::State<FaultFormat>,
    req: Request,
    next: Next,
) -> Response {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut resp = next.run(req).await;
    let fault = match resp.extensions_mut().remove::<Fault>() {
        Some(Fault(f)) => f,
        None if resp.status() == StatusCode::NOT_FOUND && is_bare(&resp) => {
            ApiError::not_found(format!("The resource could not be found: {method} {path}."))
        }
        None if resp.status() == StatusCode::METHOD_NOT_ALLOWED && is_bare(&resp) => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("The method {method} is not allowed for the resource {path}."),
        ),
        None => return resp,
    };
    if fault.status.is_server_error() {
        tracing::error!(status = fault.status.as_u16(), message = %fault.message, "request failed");
    } else {
        tracing::info!(status = fault.status.as_u16(), message = %fault.message, "request refused");
    }
    let body = fault_body(format, &fault, &request_id);
    let (mut parts, _) = resp.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

fn is_bare(resp: &Response) -> bool {
    !resp.headers().contains_key(header::CONTENT_TYPE)
}
