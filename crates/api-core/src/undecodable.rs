//! Paths that do not decode to text (`%ff`) or hold a NUL (`%00`) name
//! nothing: 404 in the service's error format, rather than axum's plain-text
//! rejection or a database error. A query string that does not decode to
//! text is a 400.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use crate::fault::ApiError;

fn decodes(s: &str) -> Option<String> {
    percent_decode_str(s).decode_utf8().ok().map(|c| c.into_owned())
}

pub async fn layer(req: Request, next: Next) -> Response {
    if decodes(req.uri().path()).is_none_or(|p| p.contains('\0')) {
        return ApiError::not_found("The resource could not be found.").into_response();
    }
    if let Some(q) = req.uri().query() {
        if decodes(q).is_none() {
            return ApiError::bad_request("The query string is not valid percent-encoded UTF-8.").into_response();
        }
    }
    next.run(req).await
}
