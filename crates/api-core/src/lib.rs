//! HTTP plumbing that every ferrostack service shares: fault bodies in each
//! service's own format, request ids, the request context and its token
//! validation layer, microversion negotiation, pagination, JSON bodies with
//! clear 4xx errors, and Prometheus metrics.
//!
//! It knows nothing of any one service's resources and never touches the
//! database; services plug in through [`auth::TokenValidator`] and
//! [`fault::FaultFormat`].

pub mod auth;
pub mod context;
pub mod fault;
pub mod json;
pub mod metrics;
pub mod microversion;
pub mod openapi;
pub mod pagination;
pub mod request_id;
pub mod schema;
pub mod undecodable;

pub use auth::{Auth, TokenValidator};
pub use context::RequestContext;
pub use fault::{ApiError, ApiResult, FaultFormat};
pub use json::Json;
