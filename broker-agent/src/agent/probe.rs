//! Is a broker answering? One ApiVersions request over the Kafka protocol (codec from
//! `kafka-protocol`), with a short timeout.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::{
    messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader},
    protocol::{Decodable, Encodable, StrBytes},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const TIMEOUT: Duration = Duration::from_secs(2);

/// `Ok(())` when the broker at `addr` answers ApiVersions without an error code.
pub async fn api_versions(addr: &str) -> Result<(), String> {
    tokio::time::timeout(TIMEOUT, ask(addr))
        .await
        .map_err(|_| "no answer to ApiVersions in time".to_owned())?
}

async fn ask(addr: &str) -> Result<(), String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let version = 3;
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("tideway-agent")));
    let mut body = BytesMut::new();
    header
        .encode(
            &mut body,
            ApiKey::ApiVersions.request_header_version(version),
        )
        .map_err(|e| e.to_string())?;
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("tideway-agent"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")))
        .encode(&mut body, version)
        .map_err(|e| e.to_string())?;
    let mut frame = BytesMut::with_capacity(body.len() + 4);
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    s.write_all(&frame)
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    let len = s.read_i32().await.map_err(|e| format!("no answer: {e}"))?;
    let mut resp = vec![0u8; len.max(0) as usize];
    s.read_exact(&mut resp)
        .await
        .map_err(|e| format!("short answer: {e}"))?;
    let mut buf = bytes::Bytes::from(resp);
    ResponseHeader::decode(
        &mut buf,
        ApiKey::ApiVersions.response_header_version(version),
    )
    .map_err(|e| e.to_string())?;
    let r = ApiVersionsResponse::decode(&mut buf, version).map_err(|e| e.to_string())?;
    if r.error_code == 0 {
        Ok(())
    } else {
        Err(format!("ApiVersions answered error {}", r.error_code))
    }
}
