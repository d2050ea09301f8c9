//! SASL on a connection: the mechanisms a listener offers and one exchange in progress.
//! PLAIN checks the password against the user's stored SCRAM credential (so no password
//! is ever stored); SCRAM-SHA-256/512 run the RFC 5802 exchange; GSSAPI is Kerberos.

use super::{
    scram::{Mechanism, ScramError, ServerExchange},
    Security,
};

pub const PLAIN: &str = "PLAIN";
pub const GSSAPI: &str = "GSSAPI";
/// Every mechanism this broker implements.
pub const KNOWN_MECHANISMS: &[&str] = &[PLAIN, "SCRAM-SHA-256", "SCRAM-SHA-512", GSSAPI];
/// The mechanisms a SASL listener offers unless its config names some.
pub const DEFAULT_MECHANISMS: &[&str] = &[PLAIN, "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// What one authentication step produced.
#[derive(Debug)]
pub enum Step {
    /// Send this token and wait for the client's next one.
    Continue(Vec<u8>),
    /// Authenticated as `principal`; send `reply` (possibly empty) as the last token.
    Done { principal: String, reply: Vec<u8> },
    /// Authentication failed; the reason is for the client and the log (never a secret).
    Failed(String),
}

/// A SASL exchange in progress on one connection.
pub enum Exchange {
    Plain,
    Scram(Mechanism, Option<ServerExchange>),
    Gssapi(Box<super::kerberos::GssExchange>),
}

impl Exchange {
    /// Starts `mechanism` if `offered` lists it.
    pub fn start(
        mechanism: &str,
        offered: &[String],
        kerberos: Option<&super::kerberos::KerberosConfig>,
    ) -> Result<Exchange, String> {
        if !offered.iter().any(|m| m == mechanism) {
            return Err(format!(
                "mechanism {mechanism} is not enabled on this listener"
            ));
        }
        match mechanism {
            PLAIN => Ok(Exchange::Plain),
            "SCRAM-SHA-256" => Ok(Exchange::Scram(Mechanism::Sha256, None)),
            "SCRAM-SHA-512" => Ok(Exchange::Scram(Mechanism::Sha512, None)),
            GSSAPI => kerberos
                .map(|k| Exchange::Gssapi(Box::new(super::kerberos::GssExchange::new(k))))
                .ok_or_else(|| "GSSAPI is not configured on this broker".to_owned()),
            other => Err(format!("unknown mechanism {other}")),
        }
    }

    /// Consumes the client's next token.
    pub fn step(&mut self, token: &[u8], security: &Security) -> Step {
        match self {
            Exchange::Plain => plain(token, security),
            Exchange::Scram(mechanism, state) => match state.take() {
                None => {
                    let lookup = |user: &str| security.credential(user, *mechanism);
                    match ServerExchange::start(*mechanism, token, lookup) {
                        Ok((exchange, reply)) => {
                            *state = Some(exchange);
                            Step::Continue(reply)
                        }
                        Err(e) => Step::Failed(e.to_string()),
                    }
                }
                Some(exchange) => match exchange.finish(token) {
                    Ok((user, reply)) => Step::Done {
                        principal: format!("User:{user}"),
                        reply,
                    },
                    // Kafka's words, so clients show the same message for both.
                    Err(ScramError::BadCredentials) => Step::Failed(format!(
                        "Authentication failed during authentication due to invalid \
                         credentials with SASL mechanism {}",
                        mechanism.sasl_name()
                    )),
                    Err(e) => Step::Failed(e.to_string()),
                },
            },
            Exchange::Gssapi(exchange) => exchange.step(token),
        }
    }
}

/// `authzid NUL user NUL password` (RFC 4616).
fn plain(token: &[u8], security: &Security) -> Step {
    let mut parts = token.split(|b| *b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Step::Failed("malformed PLAIN message: expected authzid, user and password".into());
    };
    let (Ok(authzid), Ok(user), Ok(password)) = (
        std::str::from_utf8(authzid),
        std::str::from_utf8(user),
        std::str::from_utf8(password),
    ) else {
        return Step::Failed("malformed PLAIN message: not UTF-8".into());
    };
    if user.is_empty() || password.is_empty() {
        return Step::Failed("PLAIN needs a user name and a password".into());
    }
    if !authzid.is_empty() && authzid != user {
        return Step::Failed("PLAIN: acting for another user is not allowed".into());
    }
    let verified = [Mechanism::Sha512, Mechanism::Sha256].into_iter().any(|m| {
        security
            .credential(user, m)
            .is_some_and(|c| c.verifies(m, password))
    });
    if verified {
        Step::Done {
            principal: format!("User:{user}"),
            reply: Vec::new(),
        }
    } else {
        Step::Failed("authentication failed: invalid user name or password".into())
    }
}
