//! InitProducerId for idempotent producers. Transactions are not coordinated by this
//! broker, so a transactional id is refused with COORDINATOR_NOT_AVAILABLE (as
//! FindCoordinator does for transaction coordinators). An idempotent producer needs
//! IDEMPOTENT_WRITE on the cluster or WRITE on some topic (as in Kafka 3). As Kafka does
//! without a transactional id, every request gets a new producer id at epoch 0, whatever
//! id and epoch it names: nobody can bump the epoch of, and so fence, a producer id that
//! is not theirs. Ids are unique across the cluster (see `producer_ids`).

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
    // A failure is the quorum's (retriable, as Kafka's when no id block is to be had) or
    // the data volume's.
    let allocated = match broker.quorum() {
        Some(q) => crate::producer_ids::allocate_from_quorum(
            &broker.quorum_producer_ids,
            q,
            broker.config.node_id,
        )
        .await
        .map_err(|e| (ResponseError::CoordinatorLoadInProgress, e)),
        None => {
            let b = broker.clone();
            blocking(move || b.allocate_producer_id())
                .await
                .map_err(|e| (ResponseError::KafkaStorageError, e.to_string()))
        }
    };
    match allocated {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err((code, e)) => {
            tracing::error!(error = %e, "failed to allocate a producer id");
            refused(code)
        }
    }
}
