//! Login and logout pages. The login form is protected by a double-submit CSRF cookie
//! (there is no session yet); logout by the session's CSRF token.

use askama::Template;
use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Router,
};
use serde::Deserialize;

use super::{cookie, render, CsrfForm, NoFields, WebResult, SESSION_COOKIE};
use crate::{
    auth::{self, session, ClientAddr},
    error::ApiError,
    service,
    state::AppState,
};

const LOGIN_CSRF_COOKIE: &str = "tideway_login_csrf";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(page).post(submit))
        .route("/logout", post(logout))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    username: String,
    error: Option<String>,
    directory: bool,
}

fn cookie_header(state: &AppState, name: &str, value: &str, max_age: i64) -> String {
    let secure = if state.config.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

async fn page(State(state): State<AppState>) -> WebResult<Response> {
    let csrf = auth::random_token(24);
    let html = render(&LoginPage {
        csrf: csrf.clone(),
        username: String::new(),
        error: None,
        directory: state.ldap.is_some(),
    })?;
    Ok((
        [(
            header::SET_COOKIE,
            cookie_header(&state, LOGIN_CSRF_COOKIE, &csrf, 3600),
        )],
        html,
    )
        .into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    csrf: String,
}

async fn submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> WebResult<Response> {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    let failure = |status: StatusCode, message: String| -> WebResult<Response> {
        let csrf = auth::random_token(24);
        let page = LoginPage {
            csrf: csrf.clone(),
            username: form.username.clone(),
            error: Some(message),
            directory: state.ldap.is_some(),
        };
        Ok((
            status,
            [(
                header::SET_COOKIE,
                cookie_header(&state, LOGIN_CSRF_COOKIE, &csrf, 3600),
            )],
            render(&page)?,
        )
            .into_response())
    };
    if expected.is_empty() || expected != form.csrf {
        return failure(
            StatusCode::FORBIDDEN,
            "The login form expired; please try again.".into(),
        );
    }
    let user =
        match service::users::login(&state, form.username.trim(), &form.password, client).await {
            Ok(user) => user,
            Err(
                e @ (ApiError::Unauthorized(_)
                | ApiError::Unavailable(_)
                | ApiError::TooManyRequests { .. }),
            ) => {
                return failure(e.status(), e.public_detail());
            }
            Err(e) => return Err(e.into()),
        };
    let issued = session::issue(&state, user.id).await?;
    let max_age = state.config.session_ttl.as_secs() as i64;
    let mut response = Redirect::to("/").into_response();
    let headers = response.headers_mut();
    for c in [
        cookie_header(&state, SESSION_COOKIE, &issued.token, max_age),
        cookie_header(&state, LOGIN_CSRF_COOKIE, "", 0),
    ] {
        headers.append(
            header::SET_COOKIE,
            c.parse().map_err(|_| ApiError::Internal("cookie".into()))?,
        );
    }
    Ok(response)
}

async fn logout(
    State(state): State<AppState>,
    CsrfForm(session, NoFields {}): CsrfForm<NoFields>,
) -> WebResult<Response> {
    session::revoke(&state, &session.claims).await?;
    Ok((
        [(
            header::SET_COOKIE,
            cookie_header(&state, SESSION_COOKIE, "", 0),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}
