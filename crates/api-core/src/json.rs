//! JSON request bodies that fail with a 4xx a person can act on: 400 for
//! malformed JSON or wrong types (naming the field), 413 over the size limit,
//! 415 for a non-JSON content type.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::fault::ApiError;

/// Bodies larger than this are refused with 413 unless a service sets its own.
pub const DEFAULT_BODY_LIMIT: usize = 112 * 1024;

pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

pub fn json_rejection(rej: JsonRejection) -> ApiError {
    match rej {
        JsonRejection::JsonDataError(e) => ApiError::bad_request(format!(
            "Invalid input for the request body: {}",
            std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.body_text())
        )),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(format!(
            "Malformed JSON in request body: {}",
            std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.body_text())
        )),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The request body must be JSON: send the header 'Content-Type: application/json'.",
        ),
        JsonRejection::BytesRejection(e) => {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large("Request Entity Too Large: the request body exceeds the size limit.")
            } else {
                ApiError::bad_request(format!("Could not read the request body: {}", e.body_text()))
            }
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => {
                let mut resp = Response::new(axum::body::Body::from(bytes));
                resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                resp
            }
            Err(e) => ApiError::internal(e).into_response(),
        }
    }
}
