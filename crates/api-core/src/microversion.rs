//! Microversion negotiation: `OpenStack-API-Version: <service> <x.y>` (and a
//! service's legacy header), `latest`, and 406 outside the served range.

use std::fmt;

use axum::http::{HeaderMap, HeaderValue, StatusCode};

use crate::fault::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

impl Version {
    pub const fn new(major: u16, minor: u16) -> Version {
        Version { major, minor }
    }

    pub fn parse(s: &str) -> Option<Version> {
        let (a, b) = s.trim().split_once('.')?;
        let ok = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) && (p == "0" || !p.starts_with('0'));
        if !ok(a) || !ok(b) {
            return None;
        }
        Some(Version::new(a.parse().ok()?, b.parse().ok()?))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What one service serves.
#[derive(Clone, Copy, Debug)]
pub struct VersionRange {
    /// Name used in `OpenStack-API-Version` (e.g. `compute`, `placement`).
    pub service_type: &'static str,
    /// Legacy header (e.g. `X-OpenStack-Nova-API-Version`), if the service has one.
    pub legacy_header: Option<&'static str>,
    pub min: Version,
    pub max: Version,
}

impl VersionRange {
    /// The version a request asks for; the minimum when it asks for none.
    pub fn negotiate(&self, headers: &HeaderMap) -> Result<Version, ApiError> {
        let mut requested: Option<String> = None;
        for v in headers.get_all("openstack-api-version") {
            let Ok(v) = v.to_str() else { continue };
            for part in v.split(',') {
                let mut words = part.split_whitespace();
                if let (Some(svc), Some(ver)) = (words.next(), words.next()) {
                    if svc.eq_ignore_ascii_case(self.service_type) {
                        requested = Some(ver.to_string());
                    }
                }
            }
        }
        if requested.is_none() {
            if let Some(h) = self.legacy_header {
                requested = headers.get(h).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string());
            }
        }
        let Some(req) = requested else { return Ok(self.min) };
        if req.eq_ignore_ascii_case("latest") {
            return Ok(self.max);
        }
        let v = Version::parse(&req).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Version {req} is not a valid microversion: use 'major.minor' such as {}, or 'latest'.",
                self.max
            ))
        })?;
        if v < self.min || v > self.max {
            return Err(ApiError::new(
                StatusCode::NOT_ACCEPTABLE,
                format!(
                    "Version {v} is not supported by the API. Minimum is {} and maximum is {}.",
                    self.min, self.max
                ),
            ));
        }
        Ok(v)
    }

    /// Headers a response carries to say which version answered.
    pub fn response_headers(&self, v: Version, headers: &mut HeaderMap) {
        let value = HeaderValue::from_str(&format!("{} {}", self.service_type, v)).expect("ascii");
        headers.insert("openstack-api-version", value);
        let mut vary = "OpenStack-API-Version".to_string();
        if let Some(h) = self.legacy_header {
            headers.insert(
                axum::http::HeaderName::from_bytes(h.as_bytes()).expect("a valid header name"),
                HeaderValue::from_str(&v.to_string()).expect("ascii"),
            );
            vary.push_str(", ");
            vary.push_str(h);
        }
        headers.insert(axum::http::header::VARY, HeaderValue::from_str(&vary).expect("ascii"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: VersionRange = VersionRange {
        service_type: "compute",
        legacy_header: Some("X-OpenStack-Nova-API-Version"),
        min: Version::new(2, 1),
        max: Version::new(2, 104),
    };

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn default_is_minimum() {
        assert_eq!(R.negotiate(&h(&[])).unwrap(), Version::new(2, 1));
    }

    #[test]
    fn latest_and_explicit() {
        assert_eq!(R.negotiate(&h(&[("openstack-api-version", "compute latest")])).unwrap(), R.max);
        assert_eq!(
            R.negotiate(&h(&[("openstack-api-version", "placement 1.2, compute 2.53")])).unwrap(),
            Version::new(2, 53)
        );
        assert_eq!(R.negotiate(&h(&[("x-openstack-nova-api-version", "2.10")])).unwrap(), Version::new(2, 10));
    }

    #[test]
    fn out_of_range_is_406_and_garbage_is_400() {
        let e = R.negotiate(&h(&[("openstack-api-version", "compute 2.999")])).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_ACCEPTABLE);
        let e = R.negotiate(&h(&[("openstack-api-version", "compute 1.0")])).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_ACCEPTABLE);
        let e = R.negotiate(&h(&[("openstack-api-version", "compute 2.x")])).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(Version::parse("2.01").is_none());
    }

    #[test]
    fn response_headers_name_the_version() {
        let mut h = HeaderMap::new();
        R.response_headers(Version::new(2, 53), &mut h);
        assert_eq!(h["openstack-api-version"], "compute 2.53");
        assert_eq!(h["x-openstack-nova-api-version"], "2.53");
        assert_eq!(h["vary"], "OpenStack-API-Version, X-OpenStack-Nova-API-Version");
    }
}
