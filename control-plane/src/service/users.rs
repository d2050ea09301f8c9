//! Users: the first local platform admin, local accounts, login (local password or
//! directory bind, with directory groups mapped to roles), and "who am I".

use std::{collections::HashMap, net::IpAddr, sync::LazyLock};

use tideway_api::{
    tenants::{CreateUser, Me, User},
    Role,
};

use super::{login_throttle, Audit};
use crate::{
    auth::{
        ldap::{Grant, LdapError},
        password, Caller,
    },
    db::{self, users::UserRow},
    error::ApiError,
    state::AppState,
};

const BAD_LOGIN: &str = "invalid username or password";

/// Creates the first local platform admin when the platform has none.
pub async fn bootstrap_admin(
    state: &AppState,
    username: &str,
    pw: Option<&str>,
) -> anyhow::Result<()> {
    if db::users::any_platform_admin(&state.db).await? {
        return Ok(());
    }
    let Some(pw) = pw else {
        tracing::warn!("no platform admin exists; set TIDEWAY_ADMIN_PASSWORD to create one");
        return Ok(());
    };
    let mut tx = state.db.begin().await?;
    match db::users::insert_local(
        &mut tx,
        username,
        "Platform admin",
        &password::hash(pw),
        true,
    )
    .await
    {
        Ok(user) => {
            Audit {
                action: "user.bootstrap",
                tenant_id: None,
                target_type: "user",
                target_id: user.username.clone(),
            }
            .record(
                &mut tx,
                &Caller::system(),
                None::<&()>,
                Some(&User::from(user)),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            tx.commit().await?;
            tracing::info!(%username, "created the first platform admin");
        }
        // Another replica created it first, or a directory user holds the name.
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            tracing::warn!(%username, "cannot create the first admin: the username is taken");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// A hash no password matches, checked when a login names no local account, so that a
/// missing user costs the same time as a wrong password and names cannot be probed.
static NO_ACCOUNT_HASH: LazyLock<String> =
    LazyLock::new(|| password::hash("no account has this password"));

/// Checks `pw` against an argon2 hash off the async threads.
async fn verify_password(pw: &str, hash: &str) -> Result<bool, ApiError> {
    let (hash, pw) = (hash.to_owned(), pw.to_owned());
    tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .map_err(|e| ApiError::Internal(format!("password check: {e}")))
}

/// Logs a user in, throttled per username and per client address (429 with Retry-After
/// once either has failed too often; see `login_throttle`).
pub async fn login(
    state: &AppState,
    username: &str,
    pw: &str,
    client: Option<IpAddr>,
) -> Result<UserRow, ApiError> {
    login_throttle::check(state, username, client).await?;
    match authenticate(state, username, pw).await {
        Ok(user) => {
            login_throttle::succeeded(state, username).await?;
            Ok(user)
        }
        Err(e @ ApiError::Unauthorized(_)) => {
            login_throttle::failed(state, username, client).await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Checks a username and password: a local password if the account has one, otherwise the
/// directory (which also refreshes the user's directory-granted roles).
async fn authenticate(state: &AppState, username: &str, pw: &str) -> Result<UserRow, ApiError> {
    let existing = db::users::by_username(&state.db, username).await?;
    if let Some(user) = &existing {
        if let Some(hash) = &user.password_hash {
            if !verify_password(pw, hash).await? {
                return Err(ApiError::Unauthorized(BAD_LOGIN.into()));
            }
            db::users::touch_login(&state.db, user.id).await?;
            return Ok(user.clone());
        }
    }
    let Some(directory) = &state.ldap else {
        verify_password(pw, &NO_ACCOUNT_HASH).await?;
        return Err(ApiError::Unauthorized(BAD_LOGIN.into()));
    };
    let found = directory
        .authenticate(username, pw)
        .await
        .map_err(|e| match e {
            LdapError::InvalidCredentials => ApiError::Unauthorized(BAD_LOGIN.into()),
            LdapError::Unavailable(detail) => {
                tracing::warn!(%detail, "directory login failed");
                ApiError::Unavailable("the directory cannot be reached; try again shortly".into())
            }
        })?;
    let platform_admin = found.grants.contains(&Grant::PlatformAdmin);
    let mut tx = state.db.begin().await?;
    let user = db::users::upsert_directory(
        &mut tx,
        username,
        &found.display_name,
        found.email.as_deref(),
        platform_admin,
    )
    .await
    .map_err(|e| match e {
        sqlx::Error::RowNotFound => ApiError::Unauthorized(BAD_LOGIN.into()),
        other => other.into(),
    })?;
    db::tenants::clear_directory_memberships(&mut tx, user.id).await?;
    let mut best: HashMap<String, Role> = HashMap::new();
    for grant in &found.grants {
        if let Grant::Tenant { tenant, role } = grant {
            let slot = best.entry(tenant.clone()).or_insert(*role);
            *slot = (*slot).max(*role);
        }
    }
    for (tenant_name, role) in best {
        match db::tenants::by_name(&mut tx, &tenant_name).await? {
            Some(t)
                if db::tenants::member_role(&mut tx, t.id, user.id)
                    .await?
                    .is_none() =>
            {
                db::tenants::put_member(&mut tx, t.id, user.id, role, true).await?;
            }
            Some(_) => {} // a membership granted by hand wins over the directory
            None => {
                tracing::warn!(tenant = %tenant_name, "a directory group maps to a tenant that does not exist")
            }
        }
    }
    tx.commit().await?;
    Ok(user)
}

/// A platform admin creates a local account (for sites without a directory).
pub async fn create_local(
    state: &AppState,
    caller: &Caller,
    req: CreateUser,
) -> Result<User, ApiError> {
    caller.require_platform_admin()?;
    let ok_name = (1..=64).contains(&req.username.len())
        && req
            .username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok_name {
        return Err(ApiError::field(
            "username",
            "use 1 to 64 letters, digits, dots, dashes or underscores",
        ));
    }
    if req.password.chars().count() < 8 {
        return Err(ApiError::field("password", "use at least 8 characters"));
    }
    let display = req
        .display_name
        .clone()
        .unwrap_or_else(|| req.username.clone());
    let pw = req.password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| ApiError::Internal(format!("password hash: {e}")))?;
    let mut tx = state.db.begin().await?;
    let user = User::from(
        db::users::insert_local(&mut tx, &req.username, &display, &hash, req.platform_admin)
            .await
            .map_err(|e| match ApiError::from(e) {
                ApiError::Conflict(_) => {
                    ApiError::Conflict(format!("a user named {:?} already exists", req.username))
                }
                other => other,
            })?,
    );
    Audit {
        action: "user.create",
        tenant_id: None,
        target_type: "user",
        target_id: user.username.clone(),
    }
    .record(&mut tx, caller, None::<&()>, Some(&user))
    .await?;
    tx.commit().await?;
    Ok(user)
}

pub async fn me(state: &AppState, caller: &Caller) -> Result<Me, ApiError> {
    let memberships = db::tenants::memberships_of(&state.db, &caller.roles).await?;
    Ok(Me {
        actor: caller.actor.to_string(),
        platform_admin: caller.platform_admin,
        memberships,
    })
}
