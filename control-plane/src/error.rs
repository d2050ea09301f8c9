//! The control plane's error type and its one mapping to problem+json.

use axum::{
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use tideway_api::{problem::PROBLEM_CONTENT_TYPE, FieldError, Problem};

/// Everything a request can fail with, named after what failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the request is invalid")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Unavailable(String),
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        /// Sent as `Retry-After`.
        retry_after_secs: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A validation failure of one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem body; internal details are logged, not sent.
    pub fn problem(&self) -> Problem {
        let mut p = Problem::new(self.status().as_u16(), self.public_detail());
        if let ApiError::Invalid(errors) = self {
            p.errors = errors.clone();
        }
        p
    }

    /// The sentence shown to the caller.
    pub fn public_detail(&self) -> String {
        match self {
            ApiError::Internal(_) => "an internal error occurred; it has been logged".into(),
            ApiError::Invalid(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response =
            (status, [(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)], body).into_response();
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = &self
        {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(*retry_after_secs),
            );
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => ApiError::NotFound("not found".into()),
            sqlx::Error::PoolTimedOut => {
                ApiError::Unavailable("the database is busy; retry shortly".into())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                ApiError::Conflict("a resource with this name already exists".into())
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => ApiError::Conflict(
                "other resources still depend on this one (e.g. slices of a shared cluster); remove them first".into(),
            ),
            sqlx::Error::Database(db) if db.is_check_violation() => {
                ApiError::BadRequest(format!("a value is out of range ({})", db.message()))
            }
            _ => ApiError::Internal(format!("database: {e}")),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::BadRequest(format!(
                "the JSON body does not match the expected shape: {}",
                e.body_text()
            )),
            JsonRejection::MissingJsonContentType(_) => ApiError::BadRequest(
                "send the body as JSON with Content-Type: application/json".into(),
            ),
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest(format!("invalid path parameter: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(format!("invalid query string: {}", r.body_text()))
    }
}

/// A JSON body whose rejection is a problem+json.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// Path parameters whose rejection is a problem+json.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// A query string whose rejection is a problem+json.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

pub type ApiResult<T> = Result<T, ApiError>;
