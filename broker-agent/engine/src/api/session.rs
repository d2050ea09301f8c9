//! One connection's security session: the listener it came in on, its principal, and
//! SaslHandshake/SaslAuthenticate. On a SASL listener nothing but ApiVersions and the
//! SASL requests is answered before authentication succeeds; a failed or skipped
//! authentication is logged (never with the secret), counted, and closes the connection.

use std::net::SocketAddr;

use bytes::Bytes;
use kafka_protocol::{
    messages::{
        ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
        SaslHandshakeResponse,
    },
    protocol::StrBytes,
    ResponseError,
};

use crate::{
    broker::Broker,
    config::SecurityProtocol,
    security::{
        sasl::{Exchange, Step},
        ANONYMOUS,
    },
};

/// A listener as its connections see it.
#[derive(Clone, Debug)]
pub struct Listener {
    pub name: String,
    pub protocol: SecurityProtocol,
}

enum Phase {
    /// No SASL on this listener, or authentication finished.
    Open,
    /// A SASL listener before SaslHandshake.
    AwaitingHandshake,
    /// Mechanism chosen; tokens are exchanged.
    Authenticating(Exchange),
}

/// The state of one client connection.
pub struct Session {
    pub peer: SocketAddr,
    pub listener: std::sync::Arc<Listener>,
    /// Who the client is; ANONYMOUS until SASL or a client certificate says otherwise.
    pub principal: String,
    phase: Phase,
}

/// What a SASL request did to the session.
pub enum SaslOutcome<T> {
    /// Answer and go on.
    Answer(T),
    /// Answer, then close the connection.
    AnswerAndClose(T),
}

impl Session {
    /// A new connection; `certificate_principal` is the TLS client certificate's.
    pub fn new(
        peer: SocketAddr,
        listener: std::sync::Arc<Listener>,
        certificate_principal: Option<String>,
    ) -> Session {
        let phase = if listener.protocol.sasl() {
            Phase::AwaitingHandshake
        } else {
            Phase::Open
        };
        let principal = match listener.protocol {
            SecurityProtocol::Ssl => certificate_principal.unwrap_or_else(|| ANONYMOUS.into()),
            _ => ANONYMOUS.into(),
        };
        Session {
            peer,
            listener,
            principal,
            phase,
        }
    }

    /// Whether the client has logged in (or needs no login on this listener).
    pub fn logged_in(&self) -> bool {
        matches!(self.phase, Phase::Open)
    }

    /// Whether `api` may be served now.
    pub fn admits(&self, api: ApiKey) -> bool {
        matches!(self.phase, Phase::Open)
            || matches!(
                api,
                ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
            )
    }

    /// Records and logs a failed authentication.
    pub fn failed(&self, broker: &Broker, reason: &str) {
        broker.traffic.authentication_failed();
        tracing::warn!(peer = %self.peer, listener = %self.listener.name, "authentication failed: {reason}");
    }

    pub fn handshake(
        &mut self,
        broker: &Broker,
        req: SaslHandshakeRequest,
    ) -> SaslOutcome<SaslHandshakeResponse> {
        let offered = &broker.config.sasl_mechanisms;
        let listed = offered
            .iter()
            .map(|m| StrBytes::from_string(m.clone()))
            .collect();
        let response = SaslHandshakeResponse::default().with_mechanisms(listed);
        if !matches!(self.phase, Phase::AwaitingHandshake) {
            self.failed(broker, "SaslHandshake outside of a SASL handshake");
            return SaslOutcome::AnswerAndClose(
                response.with_error_code(ResponseError::IllegalSaslState.code()),
            );
        }
        match Exchange::start(&req.mechanism, offered, broker.config.kerberos.as_ref()) {
            Ok(exchange) => {
                self.phase = Phase::Authenticating(exchange);
                SaslOutcome::Answer(response)
            }
            Err(reason) => {
                self.failed(broker, &reason);
                SaslOutcome::AnswerAndClose(
                    response.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
                )
            }
        }
    }

    pub fn authenticate(
        &mut self,
        broker: &Broker,
        req: SaslAuthenticateRequest,
    ) -> SaslOutcome<SaslAuthenticateResponse> {
        let fail = |session: &Session, code: ResponseError, reason: String| {
            session.failed(broker, &reason);
            SaslOutcome::AnswerAndClose(
                SaslAuthenticateResponse::default()
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(reason))),
            )
        };
        let Phase::Authenticating(exchange) = &mut self.phase else {
            return fail(
                self,
                ResponseError::IllegalSaslState,
                "SaslAuthenticate before SaslHandshake".into(),
            );
        };
        match exchange.step(&req.auth_bytes, &broker.security) {
            Step::Continue(token) => SaslOutcome::Answer(
                SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(token)),
            ),
            Step::Done { principal, reply } => {
                tracing::debug!(peer = %self.peer, %principal, "authenticated");
                self.principal = principal;
                self.phase = Phase::Open;
                SaslOutcome::Answer(
                    SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(reply)),
                )
            }
            Step::Failed(reason) => fail(self, ResponseError::SaslAuthenticationFailed, reason),
        }
    }
}
