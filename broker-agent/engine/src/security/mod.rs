//! Who may do what: the security metadata a broker enforces (SCRAM credentials, ACLs and
//! client quotas), how it changes, and where it is kept. A standalone broker keeps it in
//! `meta/security.json`; in cluster mode it lives in the metadata image, so every broker
//! enforces the same rules and they survive restarts either way.

pub mod acl;
pub mod cert_reload;
pub mod kerberos;
pub mod quota;
pub mod sasl;
pub mod scram;
pub mod tls;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use serde::{Deserialize, Serialize};

use self::{
    acl::{AclBinding, AclFilter, AuthorizerConfig},
    quota::{QuotaConfigs, QuotaEntity, QuotaUsage, QuotaValue},
    scram::{Credential, Mechanism},
};
use crate::fsutil::write_atomic;

/// The principal of a client that did not authenticate.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// The replicated (or, standalone, persisted) security metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityState {
    /// User name → mechanism → salted credential.
    pub credentials: BTreeMap<String, BTreeMap<Mechanism, Credential>>,
    pub acls: BTreeSet<AclBinding>,
    #[serde(with = "quota::as_list")]
    pub quotas: QuotaConfigs,
}

/// One change to the security metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityChange {
    UpsertCredential {
        user: String,
        mechanism: Mechanism,
        credential: Credential,
    },
    DeleteCredential {
        user: String,
        mechanism: Mechanism,
    },
    CreateAcls(Vec<AclBinding>),
    DeleteAcls(Vec<AclBinding>),
    /// Sets (`Some`) or removes (`None`) quota values of one entity.
    AlterQuotas {
        entity: QuotaEntity,
        values: Vec<(String, Option<QuotaValue>)>,
    },
}

impl SecurityState {
    /// Applies `change`; an error (a credential to delete that does not exist) leaves the
    /// state as it was.
    pub fn apply(&mut self, change: &SecurityChange) -> Result<(), String> {
        match change {
            SecurityChange::UpsertCredential {
                user,
                mechanism,
                credential,
            } => {
                self.credentials
                    .entry(user.clone())
                    .or_default()
                    .insert(*mechanism, credential.clone());
            }
            SecurityChange::DeleteCredential { user, mechanism } => {
                let removed = self
                    .credentials
                    .get_mut(user)
                    .and_then(|m| m.remove(mechanism));
                if removed.is_none() {
                    return Err(format!(
                        "user {user} has no {} credential",
                        mechanism.sasl_name()
                    ));
                }
                if self.credentials.get(user).is_some_and(|m| m.is_empty()) {
                    self.credentials.remove(user);
                }
            }
            SecurityChange::CreateAcls(bindings) => self.acls.extend(bindings.iter().cloned()),
            SecurityChange::DeleteAcls(bindings) => {
                for b in bindings {
                    self.acls.remove(b);
                }
            }
            SecurityChange::AlterQuotas { entity, values } => {
                let entry = self.quotas.entry(entity.clone()).or_default();
                for (key, value) in values {
                    match value {
                        Some(v) => entry.insert(key.clone(), *v),
                        None => entry.remove(key),
                    };
                }
                if entry.is_empty() {
                    self.quotas.remove(entity);
                }
            }
        }
        Ok(())
    }

    pub fn matching_acls(&self, filter: &AclFilter) -> Vec<AclBinding> {
        self.acls
            .iter()
            .filter(|b| filter.matches(b))
            .cloned()
            .collect()
    }
}

/// A broker's security: its settings, the current metadata, and quota usage.
pub struct Security {
    pub authorizer: AuthorizerConfig,
    state: RwLock<Arc<SecurityState>>,
    /// Where a standalone broker keeps the state; None in cluster mode (the image has it).
    file: Option<PathBuf>,
    pub usage: QuotaUsage,
}

const SECURITY_FILE: &str = "meta/security.json";

impl Security {
    /// Loads the standalone state from `data_dir` (or starts empty in cluster mode).
    pub fn open(
        data_dir: &Path,
        clustered: bool,
        authorizer: AuthorizerConfig,
    ) -> anyhow::Result<Security> {
        let file = (!clustered).then(|| data_dir.join(SECURITY_FILE));
        let state = match &file {
            Some(path) if path.exists() => {
                let bytes = std::fs::read(path)?;
                serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow::anyhow!("{} is damaged: {e}", path.display()))?
            }
            _ => SecurityState::default(),
        };
        Ok(Security {
            authorizer,
            state: RwLock::new(Arc::new(state)),
            file,
            usage: QuotaUsage::default(),
        })
    }

    /// The bootstrap credentials the state lacks, as changes to make.
    pub fn missing(&self, bootstrap: &[(String, Mechanism, Credential)]) -> Vec<SecurityChange> {
        let state = self.state();
        bootstrap
            .iter()
            .filter(|(user, m, _)| {
                state
                    .credentials
                    .get(user)
                    .is_none_or(|c| !c.contains_key(m))
            })
            .map(
                |(user, mechanism, credential)| SecurityChange::UpsertCredential {
                    user: user.clone(),
                    mechanism: *mechanism,
                    credential: credential.clone(),
                },
            )
            .collect()
    }

    pub fn state(&self) -> Arc<SecurityState> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the state with the image's (cluster mode).
    pub fn adopt(&self, state: &SecurityState) {
        let mut current = self.state.write().unwrap_or_else(|p| p.into_inner());
        if **current != *state {
            *current = Arc::new(state.clone());
        }
    }

    /// Applies a change locally and persists it (standalone mode).
    pub fn apply_local(&self, change: &SecurityChange) -> Result<(), String> {
        let mut current = self.state.write().unwrap_or_else(|p| p.into_inner());
        let mut next = (**current).clone();
        next.apply(change)?;
        if let Some(path) = &self.file {
            let bytes = serde_json::to_vec(&next).map_err(|e| e.to_string())?;
            write_atomic(path, &bytes).map_err(|e| format!("cannot persist the change: {e}"))?;
        }
        *current = Arc::new(next);
        Ok(())
    }

    /// May `principal` from `host` perform `operation` on this resource?
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        operation: i8,
        resource_type: i8,
        name: &str,
    ) -> bool {
        if !self.authorizer.enabled {
            return true;
        }
        let state = self.state();
        acl::authorize(
            &self.authorizer,
            &state.acls,
            principal,
            host,
            operation,
            resource_type,
            name,
        )
    }

    /// The SCRAM credential of `user` for `mechanism`.
    pub fn credential(&self, user: &str, mechanism: Mechanism) -> Option<Credential> {
        self.state().credentials.get(user)?.get(&mechanism).cloned()
    }
}
