//! Login against a directory by LDAP simple bind: find the user's entry with a search
//! (escaping the login name), bind as that entry with the password, read the user's
//! groups, and map groups to roles by configuration.

use std::time::Duration;

use ldap3::{ldap_escape, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use tideway_api::Role;

/// Directory settings, validated at start.
#[derive(Clone, Debug)]
pub struct LdapSettings {
    pub url: String,
    pub bind_dn: Option<String>,
    pub bind_password: Option<String>,
    pub user_base: String,
    /// Contains `{username}`.
    pub user_filter: String,
    pub group_base: String,
    /// Contains `{dn}`.
    pub group_filter: String,
    pub group_grants: Vec<GroupGrant>,
    pub timeout: Duration,
}

/// What membership of one directory group grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupGrant {
    /// Lowercased, without spaces after commas, for comparison.
    pub group_dn: String,
    pub grant: Grant,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    PlatformAdmin,
    Tenant { tenant: String, role: Role },
}

impl GroupGrant {
    /// Parses `DN=>platform-admin;DN=>tenant:role;…`.
    pub fn parse_list(text: &str) -> Result<Vec<GroupGrant>, String> {
        text.split(';')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(Self::parse)
            .collect()
    }

    fn parse(entry: &str) -> Result<GroupGrant, String> {
        let (dn, grant) = entry
            .split_once("=>")
            .ok_or_else(|| format!("group role mapping {entry:?} must look like GROUP_DN=>ROLE"))?;
        let grant = match grant.trim() {
            "platform-admin" => Grant::PlatformAdmin,
            other => {
                let (tenant, role) = other.split_once(':').ok_or_else(|| {
                    format!("group role mapping {entry:?}: expected platform-admin or TENANT:ROLE")
                })?;
                let role: Role = role.trim().parse()?;
                if role == Role::PlatformAdmin {
                    return Err(format!(
                        "group role mapping {entry:?}: platform-admin is not a tenant role"
                    ));
                }
                Grant::Tenant {
                    tenant: tenant.trim().to_owned(),
                    role,
                }
            }
        };
        Ok(GroupGrant {
            group_dn: normalize_dn(dn),
            grant,
        })
    }
}

fn normalize_dn(dn: &str) -> String {
    dn.split(',')
        .map(|part| part.trim().to_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// A user the directory vouched for.
#[derive(Clone, Debug)]
pub struct DirectoryUser {
    pub dn: String,
    pub display_name: String,
    pub email: Option<String>,
    pub grants: Vec<Grant>,
}

/// Why a directory login failed.
#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("the directory is unavailable: {0}")]
    Unavailable(String),
}

const INVALID_CREDENTIALS_RC: u32 = 49;

impl From<ldap3::LdapError> for LdapError {
    fn from(e: ldap3::LdapError) -> Self {
        match &e {
            ldap3::LdapError::LdapResult { result } if result.rc == INVALID_CREDENTIALS_RC => {
                LdapError::InvalidCredentials
            }
            _ => LdapError::Unavailable(e.to_string()),
        }
    }
}

impl LdapSettings {
    /// Authenticates `username` with `password` by search and bind.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<DirectoryUser, LdapError> {
        // An empty password would be an unauthenticated bind, which directories accept.
        if password.is_empty() || username.is_empty() || username.chars().any(char::is_control) {
            return Err(LdapError::InvalidCredentials);
        }
        let settings = LdapConnSettings::new().set_conn_timeout(self.timeout);
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.url).await?;
        ldap3::drive!(conn);
        ldap.with_timeout(self.timeout);

        if let (Some(dn), Some(pw)) = (&self.bind_dn, &self.bind_password) {
            ldap.simple_bind(dn, pw).await?.success().map_err(|e| {
                LdapError::Unavailable(format!("the search account could not bind: {e}"))
            })?;
        }
        let filter = self
            .user_filter
            .replace("{username}", &ldap_escape(username));
        ldap.with_timeout(self.timeout);
        let (entries, _) = ldap
            .search(
                &self.user_base,
                Scope::Subtree,
                &filter,
                vec!["cn", "displayName", "mail"],
            )
            .await?
            .success()?;
        let [entry] = <[_; 1]>::try_from(entries).map_err(|found| {
            if found.len() > 1 {
                tracing::warn!(
                    count = found.len(),
                    "login name matches several directory entries"
                );
            }
            LdapError::InvalidCredentials
        })?;
        let entry = SearchEntry::construct(entry);

        ldap.with_timeout(self.timeout);
        ldap.simple_bind(&entry.dn, password).await?.success()?;

        let group_filter = self.group_filter.replace("{dn}", &ldap_escape(&entry.dn));
        ldap.with_timeout(self.timeout);
        let (groups, _) = ldap
            .search(&self.group_base, Scope::Subtree, &group_filter, vec!["cn"])
            .await?
            .success()?;
        let group_dns: Vec<String> = groups
            .into_iter()
            .map(|g| normalize_dn(&SearchEntry::construct(g).dn))
            .collect();
        let _ = ldap.unbind().await;

        let first = |name: &str| entry.attrs.get(name).and_then(|v| v.first()).cloned();
        Ok(DirectoryUser {
            display_name: first("displayName")
                .or_else(|| first("cn"))
                .unwrap_or_else(|| username.to_owned()),
            email: first("mail"),
            grants: self
                .group_grants
                .iter()
                .filter(|g| group_dns.contains(&g.group_dn))
                .map(|g| g.grant.clone())
                .collect(),
            dn: entry.dn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_mappings_parse_and_reject_nonsense() {
        let grants = GroupGrant::parse_list(
            "cn=Admins, ou=groups,dc=example,dc=com=>platform-admin; cn=team-a,ou=groups,dc=example,dc=com=>team-a:member",
        )
        .expect("valid");
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[0].group_dn, "cn=admins,ou=groups,dc=example,dc=com");
        assert_eq!(grants[0].grant, Grant::PlatformAdmin);
        assert_eq!(
            grants[1].grant,
            Grant::Tenant {
                tenant: "team-a".into(),
                role: Role::Member
            }
        );
        assert!(GroupGrant::parse_list("").expect("empty").is_empty());
        assert!(GroupGrant::parse_list("cn=x=>owner").is_err());
        assert!(GroupGrant::parse_list("cn=x=>team:owner").is_err());
        assert!(GroupGrant::parse_list("cn=x=>team:platform-admin").is_err());
        assert!(GroupGrant::parse_list("cn=x").is_err());
    }
}
