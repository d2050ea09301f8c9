//! Who is calling and what they may do: the `Caller` built from a bearer token or a
//! session cookie, and the authorization checks every service runs.

pub mod agent;
pub mod jwt;
pub mod ldap;
pub mod password;
pub mod session;

use std::collections::HashMap;

use axum::{extract::FromRequestParts, http::request::Parts};
use tideway_api::{Role, TenantId, TokenId, UserId};

use crate::{error::ApiError, state::AppState};

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User {
        id: UserId,
        username: String,
    },
    Token {
        id: TokenId,
        name: String,
    },
    /// A broker agent (`agent:NAME`).
    Agent {
        name: String,
    },
    /// The control plane itself (bootstrap, reconciler).
    System,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::User { username, .. } => write!(f, "user:{username}"),
            Actor::Token { name, id } => write!(f, "token:{name}:{id}"),
            Actor::Agent { name } => f.write_str(name),
            Actor::System => f.write_str("system"),
        }
    }
}

/// An authenticated caller with its rights and the id of the request it made.
#[derive(Clone, Debug)]
pub struct Caller {
    pub actor: Actor,
    pub platform_admin: bool,
    /// Role per tenant the caller belongs to.
    pub roles: HashMap<TenantId, Role>,
    pub request_id: Option<String>,
}

impl Caller {
    /// The control plane acting for itself.
    pub fn system() -> Self {
        Caller {
            actor: Actor::System,
            platform_admin: true,
            roles: HashMap::new(),
            request_id: None,
        }
    }

    /// The caller's role in `tenant`; platform admins hold every tenant.
    pub fn role_in(&self, tenant: TenantId) -> Option<Role> {
        if self.platform_admin {
            return Some(Role::PlatformAdmin);
        }
        self.roles.get(&tenant).copied()
    }

    /// Allows when the caller holds at least `min` in `tenant`. A tenant the caller does not
    /// belong to answers 404 so its existence does not leak; too small a role answers 403.
    pub fn require(&self, tenant: TenantId, min: Role, what: &str) -> Result<Role, ApiError> {
        match self.role_in(tenant) {
            None => Err(ApiError::NotFound(format!("{what} not found"))),
            Some(role) if role < min => Err(ApiError::Forbidden(format!(
                "this needs the {min} role in the tenant; you are {role}"
            ))),
            Some(role) => Ok(role),
        }
    }

    pub fn require_platform_admin(&self) -> Result<(), ApiError> {
        if self.platform_admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this needs the platform-admin role".into(),
            ))
        }
    }

    /// The tenants the caller may see; `None` means all of them.
    pub fn visible_tenants(&self) -> Option<Vec<TenantId>> {
        (!self.platform_admin).then(|| self.roles.keys().copied().collect())
    }
}

/// Reads `Authorization: Bearer` on API routes.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        let mut caller = session::authenticate(state, token).await?.0;
        caller.request_id = request_id(parts);
        Ok(caller)
    }
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("send Authorization: Bearer <token>".into()))?;
    header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be Bearer <token>".into())
        })
}

/// The address of the client's TCP connection, when the server records it (`serve` does;
/// forwarded-for headers are not trusted, since any client can send them).
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// The request id set by the request-id layer.
pub fn request_id(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A random URL-safe token of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
