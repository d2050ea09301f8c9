//! The server-rendered web UI: askama templates, htmx for partial updates, the same
//! services as the REST API. Sessions are a signed JWT in an HttpOnly SameSite cookie;
//! every form POST carries the session's CSRF token.

mod admin;
mod charts;
mod clusters;
mod hosts;
mod kafka_users;
mod login;
mod monitoring;
mod tenant;
mod topics;

use askama::Template;
use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
    Router,
};
use serde::de::DeserializeOwned;

use crate::{
    auth::{self, session, Caller},
    error::ApiError,
    state::AppState,
};

/// The cookie holding the session JWT.
pub const SESSION_COOKIE: &str = "tideway_session";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/style.css", get(style))
        .route("/static/htmx.min.js", get(htmx))
        .merge(login::router())
        .merge(clusters::router())
        .merge(admin::router())
        .merge(hosts::router())
        .merge(tenant::router())
        .merge(topics::router())
        .merge(kafka_users::router())
        .merge(monitoring::router())
}

async fn style() -> impl IntoResponse {
    static_file(
        "text/css; charset=utf-8",
        include_str!("../../../../web/static/style.css"),
    )
}

async fn htmx() -> impl IntoResponse {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/htmx.min.js"),
    )
}

fn static_file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}

/// What every page's layout needs: who is logged in and the CSRF token for its forms.
pub struct Chrome {
    pub actor: String,
    pub platform_admin: bool,
    pub csrf: String,
}

/// A logged-in browser session.
pub struct WebSession {
    pub caller: Caller,
    pub claims: auth::jwt::Claims,
}

impl WebSession {
    pub fn chrome(&self) -> Chrome {
        Chrome {
            actor: self.caller.actor.to_string(),
            platform_admin: self.caller.platform_admin,
            csrf: self.claims.csrf.clone().unwrap_or_default(),
        }
    }

    fn check_csrf(&self, sent: Option<&str>) -> Result<(), WebError> {
        let expected = self.claims.csrf.as_deref().unwrap_or_default();
        match sent {
            Some(s)
                if !expected.is_empty() && constant_time_eq(s.as_bytes(), expected.as_bytes()) =>
            {
                Ok(())
            }
            _ => Err(WebError(ApiError::Forbidden(
                "the form is stale or was not sent by this site; reload the page and try again"
                    .into(),
            ))),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads a cookie by name.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for WebSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(|| to_login(parts))?;
        let (mut caller, claims) = session::authenticate(state, token)
            .await
            .map_err(|_| to_login(parts))?;
        if claims.kind != auth::jwt::TokenKind::Session {
            return Err(to_login(parts));
        }
        caller.request_id = auth::request_id(parts);
        Ok(WebSession { caller, claims })
    }
}

/// Sends the browser to the login page (htmx follows `HX-Redirect`).
fn to_login(parts: &Parts) -> Response {
    if parts.headers.contains_key("hx-request") {
        return ([("hx-redirect", "/login")], StatusCode::UNAUTHORIZED).into_response();
    }
    Redirect::to("/login").into_response()
}

/// A urlencoded form from a logged-in session whose CSRF token was checked.
pub struct CsrfForm<T>(pub WebSession, pub T);

#[derive(serde::Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = WebSession::from_request_parts(&mut parts, state).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let field: CsrfField =
            serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfField { csrf: None });
        let header = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        session
            .check_csrf(field.csrf.as_deref().or(header))
            .map_err(IntoResponse::into_response)?;
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            WebError(ApiError::BadRequest(format!(
                "the form could not be read: {e}"
            )))
            .into_response()
        })?;
        Ok(CsrfForm(session, form))
    }
}

/// An id from the path; one that does not parse names nothing, so it is not found.
pub fn path_id<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, WebError> {
    text.parse()
        .map_err(|_| WebError(ApiError::NotFound(format!("{what} not found"))))
}

/// A form with nothing but its CSRF token.
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// Renders a template to an HTML response.
pub fn render(t: &impl Template) -> Result<Html<String>, WebError> {
    t.render()
        .map(Html)
        .map_err(|e| WebError(ApiError::Internal(format!("template: {e}"))))
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: String,
    detail: String,
}

/// An error shown to a person as a page.
pub struct WebError(pub ApiError);

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        WebError(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self.0 {
            tracing::error!(%detail, "page failed");
        }
        let problem = self.0.problem();
        let page = ErrorPage {
            status: problem.status,
            title: problem.title,
            detail: problem.detail,
        };
        let html = page.render().unwrap_or_else(|_| "error".into());
        (self.0.status(), Html(html)).into_response()
    }
}

pub type WebResult<T> = Result<T, WebError>;
