//! Token validation layer. Each request's `X-Auth-Token` is validated by the
//! [`TokenValidator`] (the identity service in-process, or a remote one on an
//! agent); the result is put in the request's extensions as a
//! [`RequestContext`]. Handlers that need a caller take the [`Auth`]
//! extractor, which answers 401 when there is none.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::context::RequestContext;
use crate::fault::ApiError;
use crate::request_id::{GlobalRequestId, RequestId};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Turns a token into the caller's context. Implementations cache and must
/// honour revocations.
pub trait TokenValidator: Send + Sync + 'static {
    fn validate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Arc<RequestContext>, ApiError>>;
}

pub const AUTH_TOKEN: &str = "x-auth-token";

/// Where clients are told to authenticate (sent with every 401).
#[derive(Clone)]
pub struct AuthLayerState {
    pub validator: Arc<dyn TokenValidator>,
    /// The service type this layer guards, for application-credential access rules.
    pub service_type: &'static str,
    pub www_authenticate: Option<HeaderValue>,
}

/// Why a request has no context; kept so [`Auth`] can say it.
#[derive(Clone, Debug)]
pub struct AuthFailure(pub ApiError);

pub async fn layer(State(state): State<AuthLayerState>, mut req: Request, next: Next) -> Response {
    if let Some(token) = req.headers().get(AUTH_TOKEN).cloned() {
        let token = token.to_str().unwrap_or("");
        match state.validator.validate(token).await {
            Ok(ctx) if !allowed_by_access_rules(&ctx, state.service_type, &req) => {
                tracing::info!(user_id = %ctx.user_id, "request outside the application credential's access rules");
                req.extensions_mut().insert(AuthFailure(ApiError::unauthorized(
                    "The request you have made requires authentication: the application credential's access rules do not allow it.",
                )));
            }
            Ok(ctx) => {
                let mut ctx = (*ctx).clone();
                if let Some(r) = req.extensions().get::<RequestId>() {
                    ctx.request_id = r.0.clone();
                }
                ctx.global_request_id = req.extensions().get::<GlobalRequestId>().map(|g| g.0.clone());
                tracing::Span::current().record("user_id", ctx.user_id.as_str());
                req.extensions_mut().insert(Arc::new(ctx));
            }
            Err(e) => {
                req.extensions_mut().insert(AuthFailure(e));
            }
        }
    }
    let mut resp = next.run(req).await;
    if resp.status() == axum::http::StatusCode::UNAUTHORIZED {
        if let Some(v) = &state.www_authenticate {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v.clone());
        }
    }
    resp
}

fn allowed_by_access_rules(ctx: &RequestContext, service: &str, req: &Request) -> bool {
    match &ctx.access_rules {
        None => true,
        Some(rules) => rules.iter().any(|r| r.allows(service, req.method().as_str(), req.uri().path())),
    }
}

/// The authenticated caller; 401 when the request has no valid token.
pub struct Auth(pub Arc<RequestContext>);

impl std::ops::Deref for Auth {
    type Target = RequestContext;
    fn deref(&self) -> &RequestContext {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Auth, Response> {
        if let Some(ctx) = parts.extensions.get::<Arc<RequestContext>>() {
            return Ok(Auth(ctx.clone()));
        }
        if let Some(AuthFailure(e)) = parts.extensions.get::<AuthFailure>() {
            return Err(e.clone().into_response());
        }
        Err(ApiError::unauthorized("The request you have made requires authentication.").into_response())
    }
}

/// The caller when there is one (for routes that also serve anonymous users).
pub struct MaybeAuth(pub Option<Arc<RequestContext>>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeAuth {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<MaybeAuth, Self::Rejection> {
        Ok(MaybeAuth(parts.extensions.get::<Arc<RequestContext>>().cloned()))
    }
}
