//! InitProducerId for idempotent producers. Transactions are not coordinated by this
//! broker, so a transactional id is refused with COORDINATOR_NOT_AVAILABLE (as
//! FindCoordinator does for transaction coordinators).

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
