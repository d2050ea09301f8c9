//! Roles a principal can hold: platform-wide or within one tenant.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// A role. `PlatformAdmin` is global; the others hold within one tenant. Ordered from the
/// least to the most powerful, so `a >= b` means "a may do what b may".
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Viewer,
    Member,
    TenantAdmin,
    PlatformAdmin,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Viewer,
        Role::Member,
        Role::TenantAdmin,
        Role::PlatformAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::TenantAdmin => "tenant-admin",
            Role::PlatformAdmin => "platform-admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            format!("unknown role {s:?}; expected one of viewer, member, tenant-admin, platform-admin")
        })
    }
}

sqlx_text_enum!(Role);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_order() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!(Role::TenantAdmin > Role::Member && Role::Member > Role::Viewer);
        assert!("owner".parse::<Role>().is_err());
    }
}
