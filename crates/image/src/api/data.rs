//! `/v2/images/{id}/file`: streaming upload and download (with ranges).

use std::sync::Arc;

use api_core::auth::Auth;
use api_core::ApiResult;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::no_body;
use crate::core::{bad, Images};

/// Image data must come as `application/octet-stream` (415 otherwise).
pub fn require_octet_stream(headers: &HeaderMap) -> ApiResult<()> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_string());
    if ct.as_deref() != Some("application/octet-stream") {
        let shown = ct.clone().unwrap_or_else(|| "None".into());
        Err(api_core::ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "The request media type {} is not supported by this server.\n<br /><br />\nInvalid content type {shown}",
                ct.unwrap_or_default()
            ),
        ))
    } else {
        Ok(())
    }
}

pub async fn upload(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    require_octet_stream(&headers)?;
    let declared = super::import::declared_size(&headers)?;
    images.upload(&auth, &id, body.into_data_stream(), declared).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A `Range: bytes=a-b` header as (offset, length) within `size`.
fn parse_range(value: &str, size: u64) -> ApiResult<(u64, u64)> {
    let unsatisfiable = |detail: String| {
        api_core::ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            format!("The Range requested is not available.<br /><br />\n{detail}\n\n"),
        )
    };
    if value.contains(',') {
        return Err(bad(
            "Requests with multiple ranges are not supported in Glance. You may make multiple single-range requests instead.",
        ));
    }
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(|| unsatisfiable("Invalid Range header.".into()))?;
    let (a, b) = spec.split_once('-').ok_or_else(|| unsatisfiable("Invalid Range header.".into()))?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| unsatisfiable("Invalid Range header.".into()));
    if a.trim().is_empty() {
        let n = num(b)?;
        let offset = size.saturating_sub(n);
        return Ok((offset, size - offset));
    }
    let start = num(a)?;
    let end = if b.trim().is_empty() { None } else { Some(num(b)?) };
    if end.is_some_and(|e| e < start) {
        return Err(unsatisfiable("Invalid Range header.".into()));
    }
    if start >= size {
        return Err(unsatisfiable(format!(
            "Invalid start position in Range header. Start position MUST be in the inclusive range [0, {}].",
            size.saturating_sub(1)
        )));
    }
    let last = end.map(|e| e.min(size - 1)).unwrap_or(size - 1);
    Ok((start, last - start + 1))
}

pub async fn download(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    no_body(&headers, &body)?;
    let header_text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (range, content_range) = (header_text(header::RANGE), header_text(header::CONTENT_RANGE));
    let (d, partial) = images
        .download(&auth, &id, |size| match (&range, &content_range) {
            (Some(r), _) => parse_range(r, size).map(Some),
            (None, Some(cr)) => parse_content_range(cr, size).map(Some),
            (None, None) => Ok(None),
        })
        .await?;
    let Some((reader, offset, length)) = d.data else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let size = d.image.size.unwrap_or_default();
    let stream = ReaderStream::with_capacity(reader.take(length), 256 * 1024);
    let mut resp = Response::new(Body::from_stream(stream));
    if partial {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(sum) = d.image.checksum.as_deref().and_then(|s| HeaderValue::from_str(s).ok()) {
        h.insert("content-md5", sum);
    }
    if partial {
        let cr = format!("bytes {offset}-{}/{size}", offset + length - 1);
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&cr).expect("header"));
    }
    Ok(resp)
}

/// The deprecated request form Glance still honours when there is no
/// `Range`: `Content-Range: bytes S-E/L` (L may be `*`), as (offset, length).
fn parse_content_range(value: &str, size: u64) -> ApiResult<(u64, u64)> {
    let unsatisfiable = |detail: &str| {
        api_core::ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            format!("The Range requested is not available.<br /><br />\n{detail}\n\n"),
        )
    };
    let invalid = || unsatisfiable("Invalid Content-Range header.");
    let spec = value.trim().strip_prefix("bytes ").ok_or_else(invalid)?;
    let (span, total) = spec.split_once('/').ok_or_else(invalid)?;
    let (a, b) = span.split_once('-').ok_or_else(invalid)?;
    let start: u64 = a.trim().parse().map_err(|_| invalid())?;
    let stop: u64 = b.trim().parse().map_err(|_| invalid())?;
    let total = total.trim();
    if stop < start || (total != "*" && total.parse::<u64>().map_or(true, |t| stop >= t)) {
        return Err(invalid());
    }
    if total == "*" && stop >= size {
        return Err(unsatisfiable(&format!(
            "Invalid stop position in Content-Range header. The stop position MUST be in the inclusive range [0, {}].",
            size.saturating_sub(1)
        )));
    }
    if start >= size {
        return Err(unsatisfiable(&format!(
            "Invalid start position in Content-Range header. Start position MUST be in the inclusive range [0, {}].",
            size.saturating_sub(1)
        )));
    }
    let stop = stop.min(size - 1);
    Ok((start, stop - start + 1))
}

#[cfg(test)]
mod tests {
    use super::{parse_content_range, parse_range};

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 0-4/10", 10).unwrap(), (0, 5));
        assert_eq!(parse_content_range("bytes 3-9/*", 10).unwrap(), (3, 7));
        assert_eq!(parse_content_range("bytes 3-10/*", 10).unwrap_err().status.as_u16(), 416);
        assert_eq!(parse_content_range("bytes 12-14/20", 10).unwrap_err().status.as_u16(), 416);
        assert_eq!(parse_content_range("bytes 4-2/10", 10).unwrap_err().status.as_u16(), 416);
        assert_eq!(parse_content_range("0-4", 10).unwrap_err().status.as_u16(), 416);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10).unwrap(), (0, 5));
        assert_eq!(parse_range("bytes=5-", 10).unwrap(), (5, 5));
        assert_eq!(parse_range("bytes=-3", 10).unwrap(), (7, 3));
        assert_eq!(parse_range("bytes=2-100", 10).unwrap(), (2, 8));
        assert_eq!(parse_range("bytes=10-12", 10).unwrap_err().status.as_u16(), 416);
        assert_eq!(parse_range("bytes=4-2", 10).unwrap_err().status.as_u16(), 416);
        assert_eq!(parse_range("bytes=0-1,3-4", 10).unwrap_err().status.as_u16(), 400);
        assert_eq!(parse_range("items=0-1", 10).unwrap_err().status.as_u16(), 416);
    }
}
