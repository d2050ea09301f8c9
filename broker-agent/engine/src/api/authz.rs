//! Authorization helpers for the request handlers (one question per resource type,
//! answered by the broker's authorizer for the request's principal and host), and the
//! one way security metadata is changed.

use std::sync::Arc;

use kafka_protocol::ResponseError;

use super::Client;
use crate::{
    broker::Broker,
    cluster::image::{Command, Outcome},
    security::{
        acl::{op, resource, CLUSTER_NAME},
        SecurityChange,
    },
};

impl Client {
    fn may(&self, broker: &Broker, operation: i8, resource_type: i8, name: &str) -> bool {
        broker.security.authorize(
            &self.principal,
            &self.peer.ip().to_string(),
            operation,
            resource_type,
            name,
        )
    }

    pub fn may_topic(&self, broker: &Broker, operation: i8, topic: &str) -> bool {
        self.may(broker, operation, resource::TOPIC, topic)
    }

    pub fn may_group(&self, broker: &Broker, operation: i8, group: &str) -> bool {
        self.may(broker, operation, resource::GROUP, group)
    }

    pub fn may_cluster(&self, broker: &Broker, operation: i8) -> bool {
        self.may(broker, operation, resource::CLUSTER, CLUSTER_NAME)
    }

    /// Creating a topic needs CREATE on the cluster or on the topic.
    pub fn may_create_topic(&self, broker: &Broker, topic: &str) -> bool {
        self.may_cluster(broker, op::CREATE) || self.may_topic(broker, op::CREATE, topic)
    }

    /// A replica's requests (replica fetch) need CLUSTER_ACTION and, in cluster mode, the
    /// main listener, which brokers replicate over: on any other listener a client could
    /// pose as a follower and move the high watermark past what the followers have.
    pub fn may_replicate(&self, broker: &Broker) -> bool {
        let inter_broker =
            broker.config.cluster.is_none() || self.listener.name == broker.config.protocol.name();
        inter_broker && self.may_cluster(broker, op::CLUSTER_ACTION)
    }
}

/// Makes a security change: through the metadata quorum in cluster mode (every broker
/// applies it), else locally and persisted. The Kafka error code and message on failure.
pub async fn change_security(
    broker: &Arc<Broker>,
    change: SecurityChange,
) -> Result<(), (i16, String)> {
    match broker.quorum() {
        Some(q) => match q.propose(Command::Security(change)).await {
            Ok(Outcome::Rejected { code, message }) => Err((code, message)),
            Ok(_) => Ok(()),
            Err(e) => Err((ResponseError::RequestTimedOut.code(), e)),
        },
        None => {
            let b = broker.clone();
            super::blocking(move || b.security.apply_local(&change))
                .await
                .map_err(|e| (ResponseError::InvalidRequest.code(), e))
        }
    }
}
