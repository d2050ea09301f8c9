//! The Kafka wire protocol: frame decoding, the version table advertised in ApiVersions,
//! dispatch to one handler per API, and response encoding. The codec is the
//! `kafka-protocol` crate's.

mod acls;
mod admin;
pub(crate) mod authz;
mod config_catalog;
mod configs;
mod describe_topic_partitions;
mod epochs;
mod fetch;
mod group_offsets;
mod groups;
mod list_offsets;
mod log_dirs;
mod metadata;
mod produce;
mod producers;
mod quorum;
mod quotas;
mod reassignments;
mod scram;
pub mod session;

use std::{sync::Arc, time::Duration};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::{
    messages::{
        AlterClientQuotasRequest, AlterConfigsRequest, AlterPartitionReassignmentsRequest,
        AlterUserScramCredentialsRequest, ApiKey, ApiVersionsRequest, ApiVersionsResponse,
        CreateAclsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteAclsRequest,
        DeleteGroupsRequest, DeleteRecordsRequest, DeleteTopicsRequest, DescribeAclsRequest,
        DescribeClientQuotasRequest, DescribeClusterRequest, DescribeConfigsRequest,
        DescribeGroupsRequest, DescribeLogDirsRequest, DescribeQuorumRequest,
        DescribeTopicPartitionsRequest, DescribeUserScramCredentialsRequest, ElectLeadersRequest,
        FetchRequest, FindCoordinatorRequest, HeartbeatRequest, IncrementalAlterConfigsRequest,
        InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest,
        ListOffsetsRequest, ListPartitionReassignmentsRequest, MetadataRequest,
        OffsetCommitRequest, OffsetFetchRequest, OffsetForLeaderEpochRequest, ProduceRequest,
        RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslHandshakeRequest,
        SyncGroupRequest,
    },
    protocol::{Decodable, Encodable, HeaderVersion, StrBytes},
    ResponseError,
};

use self::session::{SaslOutcome, Session};
use crate::broker::Broker;

/// A protocol string from any text.
pub(crate) fn s(text: impl Into<String>) -> StrBytes {
    StrBytes::from_string(text.into())
}

/// The APIs and versions this broker implements, as advertised in ApiVersions (bar
/// Produce's lowest, see `api_versions`).
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    // v0 is listed because librdkafka before 2.1 looks for it; tokens must then come in
    // SaslAuthenticate (v1 framing), as every client that knows SaslAuthenticate sends them.
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
];

/// Who sent a request: the connection's peer, listener and principal, and the header's
/// client id.
pub struct Client {
    pub peer: std::net::SocketAddr,
    pub client_id: String,
    pub principal: String,
    pub listener: Arc<session::Listener>,
}

/// What answering a request produced.
#[derive(Default)]
pub struct Reply {
    /// The response frame; None when none is due (acks=0 produce).
    pub frame: Option<BytesMut>,
    /// Close the connection after sending it (failed authentication).
    pub close: bool,
    /// Read nothing more from the connection for this long (a quota was exceeded).
    pub throttle: Duration,
}

impl Reply {
    fn send(frame: BytesMut) -> Reply {
        Reply {
            frame: Some(frame),
            ..Default::default()
        }
    }
}

/// A request that cannot be answered: the connection that sent it is closed.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("the frame is too short for a request header")]
    Short,
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    #[error("{api:?} version {version} is not supported")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("malformed {api:?} request: {source}")]
    Decode { api: ApiKey, source: anyhow::Error },
    #[error("failed to encode the response: {0}")]
    Encode(anyhow::Error),
    #[error("{0:?} before SASL authentication")]
    Unauthenticated(ApiKey),
}

fn supported(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(k, _, _)| *k == api)
        .map(|(_, lo, hi)| (*lo, *hi))
}

/// Encodes a response frame: length, header, body.
fn frame<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    body: &R,
) -> Result<BytesMut, ProtocolError> {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, R::header_version(version))
        .map_err(ProtocolError::Encode)?;
    body.encode(&mut buf, version)
        .map_err(ProtocolError::Encode)?;
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

/// The ApiVersions answer listing `SUPPORTED`.
fn api_versions(error: i16) -> ApiVersionsResponse {
    let keys = SUPPORTED
        .iter()
        .map(|(k, lo, hi)| {
            // Like Kafka 4, Produce is advertised from version 0 though only 3 on is
            // served: older librdkafka releases require it (KAFKA-18659).
            let advertised_min = if *k == ApiKey::Produce { 0 } else { *lo };
            kafka_protocol::messages::api_versions_response::ApiVersion::default()
                .with_api_key(*k as i16)
                .with_min_version(advertised_min)
                .with_max_version(*hi)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error)
        .with_api_keys(keys)
}

/// Answers one request frame of `session`'s connection.
pub async fn handle(
    broker: &Arc<Broker>,
    session: &mut Session,
    frame_bytes: Bytes,
) -> Result<Reply, ProtocolError> {
    let started = std::time::Instant::now();
    let api = frame_bytes
        .get(..2)
        .and_then(|k| ApiKey::try_from(i16::from_be_bytes([k[0], k[1]])).ok());
    let (mut reply, client_id) = dispatch(broker, session, frame_bytes).await?;
    let took = started.elapsed();
    if let Some(api) = api {
        broker.traffic.metrics.answered(&format!("{api:?}"), took);
    }
    let busy = took.as_secs_f64() * 100.0;
    let cpu = broker.security.usage.record(
        &broker.security.state().quotas,
        principal_name(&session.principal),
        &client_id,
        crate::security::quota::REQUEST_PERCENTAGE,
        busy,
    );
    reply.throttle = reply.throttle.max(cpu);
    Ok(reply)
}

/// The user name of a `User:name` principal (what quotas are configured for).
pub(crate) fn principal_name(principal: &str) -> &str {
    principal.strip_prefix("User:").unwrap_or(principal)
}

/// Answers the request; the reply and the header's client id (for the request quota).
async fn dispatch(
    broker: &Arc<Broker>,
    session: &mut Session,
    mut frame_bytes: Bytes,
) -> Result<(Reply, String), ProtocolError> {
    if frame_bytes.len() < 8 {
        return Err(ProtocolError::Short);
    }
    let key = (&frame_bytes[0..2]).get_i16();
    let version = (&frame_bytes[2..4]).get_i16();
    let correlation_id = (&frame_bytes[4..8]).get_i32();
    let api = ApiKey::try_from(key).map_err(|_| ProtocolError::UnknownApi(key))?;
    let Some((lo, hi)) = supported(api) else {
        return Err(ProtocolError::UnknownApi(key));
    };
    if !(lo..=hi).contains(&version) {
        if api == ApiKey::ApiVersions {
            // A newer client: answer in v0 with the versions we have, so it can retry.
            let body = api_versions(ResponseError::UnsupportedVersion.code());
            let reply = Reply::send(frame(correlation_id, 0, &body)?);
            return Ok((reply, Default::default()));
        }
        return Err(ProtocolError::UnsupportedVersion { api, version });
    }
    if !session.admits(api) {
        session.failed(broker, &format!("{api:?} sent before authenticating"));
        return Err(ProtocolError::Unauthenticated(api));
    }
    let decode_err = |source| ProtocolError::Decode { api, source };
    let header = RequestHeader::decode(&mut frame_bytes, api.request_header_version(version))
        .map_err(decode_err)?;
    let buf = &mut frame_bytes;
    let id = header.correlation_id;
    let client = Client {
        peer: session.peer,
        client_id: header
            .client_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        principal: session.principal.clone(),
        listener: session.listener.clone(),
    };
    macro_rules! answer {
        ($req:ty, |$r:ident| $body:expr) => {{
            let $r = <$req>::decode(buf, version).map_err(decode_err)?;
            frame(id, version, &$body).map(Reply::send)
        }};
    }
    macro_rules! sasl {
        ($req:ty, $step:ident) => {{
            let r = <$req>::decode(buf, version).map_err(decode_err)?;
            let (body, close) = match session.$step(broker, r) {
                SaslOutcome::Answer(b) => (b, false),
                SaslOutcome::AnswerAndClose(b) => (b, true),
            };
            let mut reply = Reply::send(frame(id, version, &body)?);
            reply.close = close;
            Ok(reply)
        }};
    }
    let reply = match api {
        ApiKey::SaslHandshake => sasl!(SaslHandshakeRequest, handshake),
        ApiKey::SaslAuthenticate => sasl!(SaslAuthenticateRequest, authenticate),
        ApiKey::CreateAcls => answer!(CreateAclsRequest, |r| acls::create_acls(broker, r, &client)
            .await),
        ApiKey::DescribeAcls => answer!(DescribeAclsRequest, |r| acls::describe_acls(
            broker, r, &client
        )),
        ApiKey::DeleteAcls => answer!(DeleteAclsRequest, |r| acls::delete_acls(broker, r, &client)
            .await),
        ApiKey::DescribeUserScramCredentials => {
            answer!(DescribeUserScramCredentialsRequest, |r| {
                scram::describe(broker, r, &client)
            })
        }
        ApiKey::AlterUserScramCredentials => answer!(AlterUserScramCredentialsRequest, |r| {
            scram::alter(broker, r, &client).await
        }),
        ApiKey::DescribeClientQuotas => answer!(DescribeClientQuotasRequest, |r| {
            quotas::describe(broker, r, &client)
        }),
        ApiKey::AlterClientQuotas => answer!(AlterClientQuotasRequest, |r| {
            quotas::alter(broker, r, &client).await
        }),
        ApiKey::ApiVersions => answer!(ApiVersionsRequest, |_r| api_versions(0)),
        ApiKey::Metadata => answer!(MetadataRequest, |r| metadata::metadata(
            broker, r, version, &client
        )
        .await),
        ApiKey::AlterPartitionReassignments => answer!(AlterPartitionReassignmentsRequest, |r| {
            reassignments::alter_partition_reassignments(broker, r, &client).await
        }),
        ApiKey::ListPartitionReassignments => answer!(ListPartitionReassignmentsRequest, |r| {
            reassignments::list_partition_reassignments(broker, r, &client)
        }),
        ApiKey::ElectLeaders => answer!(ElectLeadersRequest, |r| {
            reassignments::elect_leaders(broker, r, version, &client).await
        }),
        ApiKey::DescribeCluster => answer!(DescribeClusterRequest, |r| metadata::describe_cluster(
            broker, r, version, &client
        )),
        ApiKey::DescribeQuorum => answer!(DescribeQuorumRequest, |r| {
            quorum::describe_quorum(broker, r, version, &client)
        }),
        ApiKey::DescribeLogDirs => answer!(DescribeLogDirsRequest, |r| {
            log_dirs::describe_log_dirs(broker, r, version, &client)
        }),
        ApiKey::DescribeTopicPartitions => answer!(DescribeTopicPartitionsRequest, |r| {
            describe_topic_partitions::describe_topic_partitions(broker, r, &client)
        }),
        ApiKey::CreateTopics => answer!(CreateTopicsRequest, |r| admin::create_topics(
            broker, r, version, &client
        )
        .await),
        ApiKey::DeleteTopics => answer!(DeleteTopicsRequest, |r| admin::delete_topics(
            broker, r, version, &client
        )
        .await),
        ApiKey::CreatePartitions => answer!(CreatePartitionsRequest, |r| admin::create_partitions(
            broker, r, &client
        )
        .await),
        ApiKey::ListOffsets => answer!(ListOffsetsRequest, |r| list_offsets::list_offsets(
            broker, r, version, &client
        )
        .await),
        ApiKey::DescribeConfigs => answer!(DescribeConfigsRequest, |r| configs::describe_configs(
            broker, r, version, &client
        )),
        ApiKey::AlterConfigs => answer!(AlterConfigsRequest, |r| configs::alter_configs(
            broker, r, &client
        )
        .await),
        ApiKey::IncrementalAlterConfigs => {
            answer!(IncrementalAlterConfigsRequest, |r| {
                configs::incremental_alter_configs(broker, r, &client).await
            })
        }
        ApiKey::InitProducerId => answer!(InitProducerIdRequest, |r| producers::init_producer_id(
            broker, r, &client
        )
        .await),
        ApiKey::DeleteRecords => {
            answer!(DeleteRecordsRequest, |r| configs::delete_records(
                broker, r, &client
            )
            .await)
        }
        ApiKey::OffsetForLeaderEpoch => answer!(OffsetForLeaderEpochRequest, |r| {
            epochs::offset_for_leader_epoch(broker, r, version, &client)
        }),
        ApiKey::FindCoordinator => answer!(FindCoordinatorRequest, |r| groups::find_coordinator(
            broker, r, version, &client
        )),
        ApiKey::JoinGroup => answer!(JoinGroupRequest, |r| groups::join_group(
            broker, r, version, &client
        )
        .await),
        ApiKey::SyncGroup => answer!(SyncGroupRequest, |r| groups::sync_group(
            broker, r, version, &client
        )
        .await),
        ApiKey::Heartbeat => answer!(HeartbeatRequest, |r| groups::heartbeat(broker, r, &client)),
        ApiKey::LeaveGroup => answer!(LeaveGroupRequest, |r| groups::leave_group(
            broker, r, version, &client
        )),
        ApiKey::OffsetCommit => answer!(OffsetCommitRequest, |r| group_offsets::offset_commit(
            broker, r, &client
        )
        .await),
        ApiKey::OffsetFetch => answer!(OffsetFetchRequest, |r| group_offsets::offset_fetch(
            broker, r, version, &client
        )),
        ApiKey::DescribeGroups => answer!(DescribeGroupsRequest, |r| groups::describe_groups(
            broker, r, version, &client
        )),
        ApiKey::ListGroups => answer!(ListGroupsRequest, |r| groups::list_groups(
            broker, r, version, &client
        )),
        ApiKey::DeleteGroups => answer!(DeleteGroupsRequest, |r| groups::delete_groups(
            broker, r, &client
        )
        .await),
        ApiKey::Produce => {
            let r = ProduceRequest::decode(buf, version).map_err(decode_err)?;
            let acks = r.acks;
            let (body, throttle) = produce::produce(broker, r, version, &client).await;
            let frame = if acks == 0 {
                None
            } else {
                Some(frame(id, version, &body)?)
            };
            Ok(Reply {
                frame,
                close: false,
                throttle,
            })
        }
        ApiKey::Fetch => {
            let r = FetchRequest::decode(buf, version).map_err(decode_err)?;
            let (body, throttle) = fetch::fetch(broker, r, version, &client).await;
            let mut reply = Reply::send(frame(id, version, &body)?);
            reply.throttle = throttle;
            Ok(reply)
        }
        other => Err(ProtocolError::UnknownApi(other as i16)),
    }?;
    Ok((reply, client.client_id))
}

/// Runs blocking log work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The Kafka error code for a log failure.
pub(crate) fn log_error_code(e: &crate::log::LogError) -> i16 {
    use crate::log::{batch::BatchError, producers::SequenceError, LogError};
    match e {
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange.code(),
        LogError::RecordTooLarge { .. } => ResponseError::MessageTooLarge.code(),
        LogError::Batch(BatchError::UnsupportedMagic(_)) => {
            ResponseError::UnsupportedForMessageFormat.code()
        }
        LogError::Batch(BatchError::Invalid(_)) => ResponseError::InvalidRecord.code(),
        LogError::Batch(_) => ResponseError::CorruptMessage.code(),
        LogError::Io(_) => ResponseError::KafkaStorageError.code(),
        LogError::ReplicaGap { .. } => ResponseError::OffsetOutOfRange.code(),
        LogError::Sequence(SequenceError::OutOfOrder { .. }) => {
            ResponseError::OutOfOrderSequenceNumber.code()
        }
        LogError::Sequence(SequenceError::Fenced { .. }) => {
            ResponseError::InvalidProducerEpoch.code()
        }
    }
}
