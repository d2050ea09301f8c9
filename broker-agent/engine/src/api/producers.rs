//! InitProducerId for idempotent producers. Transactions are not coordinated by this
//! broker, so a transactional id is refused with COORDINATOR_NOT_AVAILABLE (as
//! FindCoordinator does for transaction coordinators). An idempotent producer needs
//! IDEMPOTENT_WRITE on the cluster or WRITE on some topic (as in Kafka 3).

use std::sync::Arc;

use kafka_protocol::{
    messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId},
    ResponseError,
};

use super::blocking;
use crate::broker::Broker;

pub async fn init_producer_id(
    broker: &Arc<Broker>,
    req: InitProducerIdRequest,
    version: i16,
    client: &super::Client,
) -> InitProducerIdResponse {
    let refused = |code: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if req.transactional_id.is_some() {
        return refused(ResponseError::CoordinatorNotAvailable);
    }
    let may_write_somewhere = || {
        broker
            .topics()
            .iter()
            .any(|t| client.may_topic(broker, crate::security::acl::op::WRITE, &t.name))
    };
    if !client.may_cluster(broker, crate::security::acl::op::IDEMPOTENT_WRITE)
        && !may_write_somewhere()
    {
        return refused(ResponseError::ClusterAuthorizationFailed);
    }
    // A producer re-initialising (v3+) keeps its id with a bumped epoch.
    if version >= 3
        && req.producer_id.0 >= 0
        && req.producer_epoch >= 0
        && req.producer_epoch < i16::MAX - 1
    {
        return InitProducerIdResponse::default()
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    let b = broker.clone();
    match blocking(move || b.allocate_producer_id()).await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "failed to allocate a producer id");
            refused(ResponseError::KafkaStorageError)
        }
    }
}
