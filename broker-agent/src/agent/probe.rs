//! Is a broker answering? One ApiVersions request over the Kafka protocol, with a short
//! timeout; over TLS (checking the broker's certificate) for a secured broker.

use std::time::Duration;

use kafka_protocol::{messages::ApiVersionsRequest, protocol::StrBytes};
use tideway_engine::client::{ClientSecurity, ClientTls, KafkaConnection};

const TIMEOUT: Duration = Duration::from_secs(2);

/// How to reach a broker's client listener.
pub struct ProbeTarget<'a> {
    pub addr: String,
    /// For a secured broker: the CA and the name its certificate carries.
    pub tls: Option<(&'a str, &'a str)>,
}

/// `Ok(())` when the broker answers ApiVersions without an error code.
pub async fn api_versions(target: ProbeTarget<'_>) -> Result<(), String> {
    tokio::time::timeout(TIMEOUT, ask(target))
        .await
        .map_err(|_| "no answer to ApiVersions in time".to_owned())?
}

async fn ask(target: ProbeTarget<'_>) -> Result<(), String> {
    let security = ClientSecurity {
        tls: target.tls.map(|(ca, name)| ClientTls {
            ca_pem: ca.as_bytes().to_vec(),
            server_name: name.to_owned(),
            identity: None,
        }),
        sasl: None,
    };
    let mut conn = KafkaConnection::connect(&target.addr, "tideway-agent", &security)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("tideway-agent"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    let r = conn
        .send(&request, 3, TIMEOUT)
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    if r.error_code == 0 {
        Ok(())
    } else {
        Err(format!("ApiVersions answered error {}", r.error_code))
    }
}
