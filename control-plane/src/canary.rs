//! The control plane's canary: over the Kafka protocol (rdkafka), make sure the canary
//! topic exists, produce a record with acks=all and read the same record back. A cluster
//! is Ready only when this passes.

use std::time::Duration;

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
    types::RDKafkaErrorCode,
    ClientConfig, Message, Offset, TopicPartitionList,
};

/// The topic the canary writes to on every cluster.
pub const CANARY_TOPIC: &str = "__tideway_canary";

fn config(base: &ClientConfig, timeout: Duration) -> ClientConfig {
    let ms = timeout.as_millis().to_string();
    let mut c = base.clone();
    c.set("socket.timeout.ms", &ms)
        .set("message.timeout.ms", &ms)
        .set("request.timeout.ms", &ms)
        .set("log_level", "3");
    c
}

/// Produces and consumes one record; the error says which step failed.
pub async fn probe(base: &ClientConfig, timeout: Duration) -> Result<(), String> {
    let cfg = config(base, timeout);
    let admin: AdminClient<DefaultClientContext> =
        cfg.create().map_err(|e| format!("client: {e}"))?;
    let topic = NewTopic::new(CANARY_TOPIC, 1, TopicReplication::Fixed(1));
    let created = admin
        .create_topics(
            [&topic],
            &AdminOptions::new().request_timeout(Some(timeout)),
        )
        .await
        .map_err(|e| format!("failed to reach the brokers: {e}"))?;
    match &created[0] {
        Ok(_) => {}
        Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
        Err((_, e)) => return Err(format!("failed to create the canary topic: {e}")),
    }
    let producer: FutureProducer = cfg
        .clone()
        .set("acks", "all")
        .create()
        .map_err(|e| format!("producer: {e}"))?;
    let payload = format!("canary {}", uuid::Uuid::new_v4());
    let delivered = producer
        .send(
            FutureRecord::to(CANARY_TOPIC)
                .key("canary")
                .payload(&payload)
                .partition(0),
            timeout,
        )
        .await
        .map_err(|(e, _)| format!("failed to produce the canary record: {e}"))?;
    let consumer: BaseConsumer = cfg
        .clone()
        .set("group.id", "tideway-canary")
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    tokio::task::spawn_blocking(move || {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(CANARY_TOPIC, 0, Offset::Offset(delivered.offset))
            .map_err(|e| e.to_string())?;
        consumer
            .assign(&tpl)
            .map_err(|e| format!("failed to assign the canary partition: {e}"))?;
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) if m.payload() == Some(payload.as_bytes()) => return Ok(()),
                Some(Err(e)) => return Err(format!("failed to consume the canary record: {e}")),
                _ => {}
            }
        }
        Err("the canary record was produced but could not be read back in time".to_owned())
    })
    .await
    .map_err(|e| format!("canary task: {e}"))?
}
