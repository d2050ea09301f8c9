//! `/login`, `/me`, `/users`.

use axum::{extract::State, http::StatusCode, Json};
use tideway_api::tenants::{CreateUser, LoginRequest, LoginResponse, Me, User};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ProblemResponse;

use crate::{
    auth::{session, Caller, ClientAddr},
    error::{ApiJson, ApiResult},
    service,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(me))
        .routes(routes!(create_user))
}

/// Log in with a username and password; returns a session token for `Authorization: Bearer`.
#[utoipa::path(post, path = "/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse),
              (status = "default", response = ProblemResponse)))]
async fn login(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let user = service::users::login(&s, &req.username, &req.password, client).await?;
    let issued = session::issue(&s, user.id).await?;
    Ok(Json(LoginResponse {
        token: issued.token,
        expires_at: issued.expires_at,
    }))
}

/// Who the caller is and which tenants they belong to.
#[utoipa::path(get, path = "/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me),
              (status = "default", response = ProblemResponse)))]
async fn me(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    Ok(Json(service::users::me(&s, &caller).await?))
}

/// Create a local user (platform admin).
#[utoipa::path(post, path = "/users", tag = "auth", security(("bearer" = [])), request_body = CreateUser,
    responses((status = 201, body = User),
              (status = "default", response = ProblemResponse)))]
async fn create_user(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::users::create_local(&s, &caller, req).await?),
    ))
}
