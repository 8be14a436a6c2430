//! Extractors that answer in the API's error shape: JSON bodies, the bearer session, the
//! caller's source IP.

use super::error::ApiError;
use crate::domain::Permission;
use crate::services::AppState;
use crate::usecases::sessions::{Principal, authenticate};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// `axum::Json`, with malformed, mistyped and oversized bodies answered as [`ApiError`]s.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(v))
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(ApiError::unauthorized)?;
        let principal = authenticate(state, token.trim()).await?;
        tracing::Span::current().record("partner_id", principal.partner_id.as_str());
        Ok(principal)
    }
}

/// A body sent as JSON (by frontends: answered with JSON) or as an HTML form (from a page:
/// answered with a page). A form that does not parse is `Form(None)`, for the page to say so.
pub enum JsonOrForm<T> {
    Json(T),
    Form(Option<T>),
}

impl<T, S> FromRequest<S> for JsonOrForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            return Ok(Self::Form(
                axum::Form::<T>::from_request(req, state).await.ok().map(|f| f.0),
            ));
        }
        let ApiJson(v) = ApiJson::<T>::from_request(req, state).await?;
        Ok(Self::Json(v))
    }
}

/// A signed-in member whose role may manage the partner (owner or admin,
/// [`Permission::Manage`]): the extractor of every route that spends seats or changes who has
/// access. Any other member gets 403 `forbidden` before the handler runs, so nothing changes.
pub struct Manager(pub Principal);

impl FromRequestParts<AppState> for Manager {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        if !principal.may(Permission::Manage) {
            tracing::info!(role = principal.role.as_str(), "refused: role does not allow this");
            return Err(ApiError::forbidden());
        }
        Ok(Self(principal))
    }
}

/// The caller's IP, for per-IP rate limits: API Gateway's `requestContext.http.sourceIp` on
/// Lambda (lambda_http puts the request context in the request extensions), the socket's peer
/// address locally (`into_make_service_with_connect_info`). `None` where neither exists
/// (in-process `oneshot` calls): per-IP limits then do not apply. Client-set headers such as
/// `X-Forwarded-For` are never trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceIp(pub Option<IpAddr>);

impl SourceIp {
    /// The subject of a per-IP limit.
    pub fn subject(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SourceIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) =
            parts.extensions.get::<lambda_http::request::RequestContext>()
        {
            return Ok(Self(ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok())));
        }
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}
