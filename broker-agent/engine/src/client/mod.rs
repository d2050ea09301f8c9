//! A minimal Kafka-protocol client connection: followers use it for Fetch and
//! OffsetForLeaderEpoch, Tideway's admin tooling for what rdkafka has no API for (ACLs,
//! SCRAM credentials, client quotas). Plaintext or TLS (rustls), optionally logged in
//! with SASL PLAIN or SCRAM. The codec is the `kafka-protocol` crate's; one request is
//! in flight at a time.

pub mod admin;

use std::{sync::Arc, time::Duration};

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::{
    messages::{
        ApiKey, RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslHandshakeRequest,
    },
    protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes},
};
use rustls::{pki_types::ServerName, ClientConfig, RootCertStore};
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};

use crate::security::scram::{ClientExchange, Mechanism};

/// Largest response accepted.
const MAX_RESPONSE: usize = 256 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate chain and its private key, PEM.
pub type PemIdentity = (Vec<u8>, Vec<u8>);

/// TLS towards the broker.
#[derive(Clone, Debug)]
pub struct ClientTls {
    /// PEM: the CA that signed the broker's certificate.
    pub ca_pem: Vec<u8>,
    /// The name the broker's certificate must carry (a DNS name or an IP address).
    pub server_name: String,
    /// PEM certificate and key, for client-certificate authentication.
    pub identity: Option<PemIdentity>,
}

/// A SASL login: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
#[derive(Clone)]
pub struct SaslLogin {
    pub mechanism: String,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SaslLogin({} as {})", self.mechanism, self.user)
    }
}

/// How to reach and log in to a listener.
#[derive(Clone, Debug, Default)]
pub struct ClientSecurity {
    pub tls: Option<ClientTls>,
    pub sasl: Option<SaslLogin>,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One connection to a broker.
pub struct KafkaConnection {
    stream: Box<dyn Stream>,
    next_correlation: i32,
    client_id: StrBytes,
}

/// A rustls client config trusting `ca_pem`, presenting `identity` (certificate and key
/// PEM) when given.
pub fn rustls_client_config(
    ca_pem: &[u8],
    identity: Option<&PemIdentity>,
) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert).collect::<Result<Vec<_>, _>>()?;
            builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(key)?)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

impl KafkaConnection {
    /// Connects (and logs in) to the listener at `addr`.
    pub async fn connect(
        addr: &str,
        client_id: &str,
        security: &ClientSecurity,
    ) -> anyhow::Result<KafkaConnection> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow::anyhow!("connecting to {addr} timed out"))??;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Stream> = match &security.tls {
            None => Box::new(tcp),
            Some(tls) => {
                let connector = tokio_rustls::TlsConnector::from(rustls_client_config(
                    &tls.ca_pem,
                    tls.identity.as_ref(),
                )?);
                let name = ServerName::try_from(tls.server_name.clone())?;
                Box::new(connector.connect(name, tcp).await?)
            }
        };
        let mut connection = KafkaConnection {
            stream,
            next_correlation: 1,
            client_id: StrBytes::from_string(client_id.to_owned()),
        };
        if let Some(login) = &security.sasl {
            connection.login(login).await?;
        }
        Ok(connection)
    }

    async fn login(&mut self, login: &SaslLogin) -> anyhow::Result<()> {
        let handshake = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_string(login.mechanism.clone()));
        let r = self.send(&handshake, 1, LOGIN_TIMEOUT).await?;
        anyhow::ensure!(
            r.error_code == 0,
            "the broker does not offer {} (error {})",
            login.mechanism,
            r.error_code
        );
        let scram = match login.mechanism.as_str() {
            "PLAIN" => None,
            "SCRAM-SHA-256" => Some(Mechanism::Sha256),
            "SCRAM-SHA-512" => Some(Mechanism::Sha512),
            other => anyhow::bail!("this client cannot log in with {other}"),
        };
        let Some(mechanism) = scram else {
            let token = format!("\0{}\0{}", login.user, login.password);
            self.authenticate(token.into_bytes()).await?;
            return Ok(());
        };
        let (exchange, first) = ClientExchange::start(mechanism, &login.user, &login.password);
        let server_first = self.authenticate(first).await?;
        let (last, expected) = exchange.respond(&server_first)?;
        let server_final = self.authenticate(last).await?;
        anyhow::ensure!(
            server_final == expected,
            "the broker could not prove it knows the credential"
        );
        Ok(())
    }

    async fn authenticate(&mut self, token: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(token.into());
        let r = self.send(&request, 2, LOGIN_TIMEOUT).await?;
        anyhow::ensure!(
            r.error_code == 0,
            "authentication failed: {}",
            r.error_message.as_deref().unwrap_or("no reason given")
        );
        Ok(r.auth_bytes.to_vec())
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
