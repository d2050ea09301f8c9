//! Security administration over a `KafkaConnection`: SCRAM users, ACLs and client quotas,
//! each checked for its per-item error so that a refusal is never silently lost.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::{
    messages::{
        alter_client_quotas_request::{EntityData, EntryData, OpData},
        alter_user_scram_credentials_request::{ScramCredentialDeletion, ScramCredentialUpsertion},
        create_acls_request::AclCreation,
        delete_acls_request::DeleteAclsFilter,
        AlterClientQuotasRequest, AlterUserScramCredentialsRequest, CreateAclsRequest,
        DeleteAclsRequest,
    },
    protocol::StrBytes,
};
use rand::RngCore;

use super::KafkaConnection;
use crate::security::{
    acl::{self, AclBinding},
    scram::{Mechanism, MIN_ITERATIONS},
};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// RESOURCE_NOT_FOUND: deleting what is already gone.
const RESOURCE_NOT_FOUND: i16 = 91;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

fn check(code: i16, message: Option<&StrBytes>, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        code == 0,
        "{what} failed with error {code}: {}",
        message.map(|m| m.as_str()).unwrap_or("no message")
    );
    Ok(())
}

impl KafkaConnection {
    /// Creates or replaces `user`'s SCRAM credential; only the salted password leaves
    /// this process.
    pub async fn upsert_scram_user(
        &mut self,
        user: &str,
        mechanism: Mechanism,
        password: &str,
    ) -> anyhow::Result<()> {
        let mut salt = vec![0u8; 24];
        rand::thread_rng().fill_bytes(&mut salt);
        let salted = mechanism.salted_password(password.as_bytes(), &salt, MIN_ITERATIONS as u32);
        let upsertion = ScramCredentialUpsertion::default()
            .with_name(s(user))
            .with_mechanism(mechanism.code())
            .with_iterations(MIN_ITERATIONS)
            .with_salt(Bytes::from(salt))
            .with_salted_password(Bytes::from(salted));
        let request = AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsertion]);
        let response = self.send(&request, 0, ADMIN_TIMEOUT).await?;
        for r in &response.results {
            check(
                r.error_code,
                r.error_message.as_ref(),
                "setting a SCRAM credential",
            )?;
        }
        Ok(())
    }

    /// Removes `user`'s credential for `mechanism`; a user without one is not an error.
    pub async fn delete_scram_user(
        &mut self,
        user: &str,
        mechanism: Mechanism,
    ) -> anyhow::Result<()> {
        let deletion = ScramCredentialDeletion::default()
            .with_name(s(user))
            .with_mechanism(mechanism.code());
        let request = AlterUserScramCredentialsRequest::default().with_deletions(vec![deletion]);
        let response = self.send(&request, 0, ADMIN_TIMEOUT).await?;
        for r in &response.results {
            if r.error_code != RESOURCE_NOT_FOUND {
                check(
                    r.error_code,
                    r.error_message.as_ref(),
                    "deleting a SCRAM credential",
                )?;
            }
        }
        Ok(())
    }

    /// Deletes every ACL of `principal`; how many there were.
    pub async fn delete_acls_of(&mut self, principal: &str) -> anyhow::Result<usize> {
        let filter = DeleteAclsFilter::default()
            .with_resource_type_filter(acl::resource::ANY)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(acl::pattern::ANY)
            .with_principal_filter(Some(s(principal)))
            .with_host_filter(None)
            .with_operation(acl::op::ANY)
            .with_permission_type(acl::permission::ANY);
        let request = DeleteAclsRequest::default().with_filters(vec![filter]);
        let response = self.send(&request, 3, ADMIN_TIMEOUT).await?;
        let mut deleted = 0;
        for r in &response.filter_results {
            check(r.error_code, r.error_message.as_ref(), "deleting ACLs")?;
            deleted += r.matching_acls.len();
        }
        Ok(deleted)
    }

    /// Creates ACLs.
    pub async fn create_acls(&mut self, bindings: &[AclBinding]) -> anyhow::Result<()> {
        let creations = bindings
            .iter()
            .map(|b| {
                AclCreation::default()
                    .with_resource_type(b.resource_type)
                    .with_resource_name(s(&b.resource_name))
                    .with_resource_pattern_type(b.pattern_type)
                    .with_principal(s(&b.principal))
                    .with_host(s(&b.host))
                    .with_operation(b.operation)
                    .with_permission_type(b.permission)
            })
            .collect();
        let response = self
            .send(
                &CreateAclsRequest::default().with_creations(creations),
                3,
                ADMIN_TIMEOUT,
            )
            .await?;
        for r in &response.results {
            check(r.error_code, r.error_message.as_ref(), "creating an ACL")?;
        }
        Ok(())
    }

    /// Sets (or with `None` removes) quota values of the entity made of `entity` parts
    /// (`("user", Some("alice"))`, `("client-id", None)` for the default, ...).
    pub async fn alter_quota(
        &mut self,
        entity: &[(&str, Option<&str>)],
        values: &[(&str, Option<f64>)],
    ) -> anyhow::Result<()> {
        let entity = entity
            .iter()
            .map(|(t, n)| {
                EntityData::default()
                    .with_entity_type(s(t))
                    .with_entity_name(n.map(s))
            })
            .collect();
        let ops = values
            .iter()
            .map(|(k, v)| {
                OpData::default()
                    .with_key(s(k))
                    .with_value(v.unwrap_or_default())
                    .with_remove(v.is_none())
            })
            .collect();
        let request = AlterClientQuotasRequest::default()
            .with_entries(vec![EntryData::default().with_entity(entity).with_ops(ops)]);
        let response = self.send(&request, 1, ADMIN_TIMEOUT).await?;
        for r in &response.entries {
            check(r.error_code, r.error_message.as_ref(), "altering a quota")?;
        }
        Ok(())
    }
}
