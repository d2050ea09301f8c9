//! A minimal Kafka-protocol client connection from one broker to another, used by
//! followers for Fetch and OffsetForLeaderEpoch. The codec is the `kafka-protocol`
//! crate's; one request is in flight at a time.

use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::{
    messages::{ApiKey, RequestHeader, ResponseHeader},
    protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Largest response accepted from a peer broker.
const MAX_RESPONSE: usize = 256 << 20;

/// One connection to a peer broker's client listener.
pub struct PeerConnection {
    stream: TcpStream,
    next_correlation: i32,
    client_id: StrBytes,
}

impl PeerConnection {
    pub async fn connect(addr: &str, node_id: i32) -> std::io::Result<PeerConnection> {
        let stream = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        stream.set_nodelay(true)?;
        Ok(PeerConnection {
            stream,
            next_correlation: 1,
            client_id: StrBytes::from_string(format!("tideway-replica-{node_id}")),
        })
    }

    /// Sends `request` at `version` and waits up to `timeout` for its response.
    pub async fn send<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> anyhow::Result<R::Response> {
        let correlation_id = self.next_correlation;
        self.next_correlation = self.next_correlation.wrapping_add(1);
        let api = ApiKey::try_from(R::KEY).map_err(|_| anyhow::anyhow!("unknown API key"))?;
        let mut buf = BytesMut::with_capacity(256);
        buf.put_i32(0);
        RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()))
            .encode(&mut buf, api.request_header_version(version))?;
        request.encode(&mut buf, version)?;
        let len = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        let exchange = async {
            self.stream.write_all(&buf).await?;
            let len = self.stream.read_i32().await?;
            anyhow::ensure!(
                (0..=MAX_RESPONSE as i32).contains(&len),
                "response of {len} bytes"
            );
            let mut body = vec![0u8; len as usize];
            self.stream.read_exact(&mut body).await?;
            anyhow::Ok(body)
        };
        let body = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("the peer did not answer within {timeout:?}"))??;
        let mut body = bytes::Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))?;
        anyhow::ensure!(
            header.correlation_id == correlation_id,
            "response to request {} arrived for {correlation_id}",
            header.correlation_id
        );
        let response = R::Response::decode(&mut body, version)?;
        if body.has_remaining() {
            tracing::debug!(extra = body.remaining(), "ignoring trailing response bytes");
        }
        Ok(response)
    }
}
