//! SCRAM (RFC 5802 / RFC 7677) for SASL: salted credentials as stored (never the
//! password), and both sides of the two-round exchange for SCRAM-SHA-256 and
//! SCRAM-SHA-512 (the client side for Tideway's own admin connections). The primitives
//! (HMAC, PBKDF2, SHA-2) come from RustCrypto crates.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use hmac::{Mac, SimpleHmac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's minimum and maximum iteration counts for SCRAM credentials.
pub const MIN_ITERATIONS: i32 = 4096;
pub const MAX_ITERATIONS: i32 = 16384;

/// The two SCRAM mechanisms, with Kafka's numeric ids (ScramMechanism).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Mechanism {
    Sha256,
    Sha512,
}

impl Mechanism {
    pub fn from_code(code: i8) -> Option<Mechanism> {
        match code {
            1 => Some(Mechanism::Sha256),
            2 => Some(Mechanism::Sha512),
            _ => None,
        }
    }

    pub fn code(self) -> i8 {
        match self {
            Mechanism::Sha256 => 1,
            Mechanism::Sha512 => 2,
        }
    }

    pub fn sasl_name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => "SCRAM-SHA-256",
            Mechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<D: Digest + hmac::digest::core_api::BlockSizeUser>(
            key: &[u8],
            data: &[u8],
        ) -> Vec<u8> {
            let mut mac = <SimpleHmac<D> as Mac>::new_from_slice(key).expect("any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Mechanism::Sha256 => run::<Sha256>(key, data),
            Mechanism::Sha512 => run::<Sha512>(key, data),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => Sha256::digest(data).to_vec(),
            Mechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// Hi(password, salt, i) of RFC 5802: PBKDF2 with HMAC of this hash.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Mechanism::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// What the broker keeps for one user and mechanism: enough to verify a proof and to
/// prove itself, not enough to log in as the user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub salt: Vec<u8>,
    pub iterations: i32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl Credential {
    /// Derives the stored credential from a salted password (what AlterUserScramCredentials
    /// carries) and its salt.
    pub fn from_salted(
        mechanism: Mechanism,
        salted: &[u8],
        salt: &[u8],
        iterations: i32,
    ) -> Credential {
        let client_key = mechanism.hmac(salted, b"Client Key");
        Credential {
            salt: salt.to_vec(),
            iterations,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted, b"Server Key"),
        }
    }

    /// A credential for `password` with a fresh random salt.
    pub fn new(mechanism: Mechanism, password: &str, iterations: i32) -> Credential {
        let mut salt = vec![0u8; 24];
        rand::thread_rng().fill_bytes(&mut salt);
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations as u32);
        Credential::from_salted(mechanism, &salted, &salt, iterations)
    }

    /// Whether `password` is this credential's password (for SASL/PLAIN).
    pub fn verifies(&self, mechanism: Mechanism, password: &str) -> bool {
        let salted =
            mechanism.salted_password(password.as_bytes(), &self.salt, self.iterations as u32);
        let candidate = Credential::from_salted(mechanism, &salted, &self.salt, self.iterations);
        constant_time_eq(&candidate.stored_key, &self.stored_key)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a SCRAM exchange failed; the message goes to the client and the log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("authentication failed: invalid credentials")]
    BadCredentials,
}

/// The server's side of one exchange, between its first and final message.
pub struct ServerExchange {
    mechanism: Mechanism,
    user: String,
    credential: Option<Credential>,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// `n,,n=user,r=nonce` → (user, client nonce, client-first-message-bare).
fn parse_client_first(message: &str) -> Result<(String, String, String), ScramError> {
    let rest = message
        .strip_prefix("n,")
        .or_else(|| message.strip_prefix("y,"))
        .ok_or(ScramError::Malformed("channel binding is not supported"))?;
    let (_authzid, bare) = rest
        .split_once(',')
        .ok_or(ScramError::Malformed("no client-first-message-bare"))?;
    let mut user = None;
    let mut nonce = None;
    for field in bare.split(',') {
        if let Some(u) = field.strip_prefix("n=") {
            user = Some(u.replace("=2C", ",").replace("=3D", "="));
        } else if let Some(r) = field.strip_prefix("r=") {
            nonce = Some(r.to_owned());
        } else if field.starts_with("m=") {
            return Err(ScramError::Malformed(
                "mandatory extensions are not supported",
            ));
        }
    }
    let user = user
        .filter(|u| !u.is_empty())
        .ok_or(ScramError::Malformed("no user name"))?;
    let nonce = nonce
        .filter(|r| !r.is_empty())
        .ok_or(ScramError::Malformed("no nonce"))?;
    Ok((user, nonce, bare.to_owned()))
}

impl ServerExchange {
    /// Answers the client's first message. An unknown user gets a well-formed challenge
    /// (with a made-up salt) so that its existence is not revealed; it fails at the proof.
    pub fn start(
        mechanism: Mechanism,
        client_first: &[u8],
        lookup: impl FnOnce(&str) -> Option<Credential>,
    ) -> Result<(ServerExchange, Vec<u8>), ScramError> {
        let text =
            std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (user, client_nonce, client_first_bare) = parse_client_first(text)?;
        let credential = lookup(&user);
        let (salt, iterations) = match &credential {
            Some(c) => (c.salt.clone(), c.iterations),
            None => (
                mechanism.hash(user.as_bytes())[..16].to_vec(),
                MIN_ITERATIONS,
            ),
        };
        let mut extra = [0u8; 18];
        rand::thread_rng().fill_bytes(&mut extra);
        let nonce = format!("{client_nonce}{}", B64.encode(extra));
        let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(&salt));
        let reply = server_first.clone().into_bytes();
        Ok((
            ServerExchange {
                mechanism,
                user,
                credential,
                client_first_bare,
                server_first,
                nonce,
            },
            reply,
        ))
    }

    /// Checks the client's proof; on success the user name and the server's final message.
    pub fn finish(self, client_final: &[u8]) -> Result<(String, Vec<u8>), ScramError> {
        let text =
            std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut nonce = None;
        for field in without_proof.split(',') {
            if let Some(r) = field.strip_prefix("r=") {
                nonce = Some(r);
            }
        }
        // librdkafka before 2.6.1 repeats its own nonce in front of ours; Kafka accepts a
        // nonce that ends with the server's (KAFKA-17209), and so does this broker.
        if !nonce.is_some_and(|n| n.ends_with(self.nonce.as_str())) {
            return Err(ScramError::Malformed("the nonce does not match"));
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("the proof is not base64"))?;
        let credential = self.credential.ok_or(ScramError::BadCredentials)?;
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let signature = self
            .mechanism
            .hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(ScramError::BadCredentials);
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        if !constant_time_eq(&self.mechanism.hash(&client_key), &credential.stored_key) {
            return Err(ScramError::BadCredentials);
        }
        let server_signature = self
            .mechanism
            .hmac(&credential.server_key, auth_message.as_bytes());
        Ok((
            self.user,
            format!("v={}", B64.encode(server_signature)).into_bytes(),
        ))
    }
}

/// The client's side of one exchange.
pub struct ClientExchange {
    mechanism: Mechanism,
    password: String,
    client_first_bare: String,
    nonce: String,
}

impl ClientExchange {
    /// The client's first message.
    pub fn start(mechanism: Mechanism, user: &str, password: &str) -> (ClientExchange, Vec<u8>) {
        let mut raw = [0u8; 18];
        rand::thread_rng().fill_bytes(&mut raw);
        let nonce = B64.encode(raw);
        let name = user.replace('=', "=3D").replace(',', "=2C");
        let client_first_bare = format!("n={name},r={nonce}");
        let first = format!("n,,{client_first_bare}").into_bytes();
        let exchange = ClientExchange {
            mechanism,
            password: password.to_owned(),
            client_first_bare,
            nonce,
        };
        (exchange, first)
    }

    /// Answers the server's first message: the final message, and the server signature
    /// the server's last message must carry.
    pub fn respond(&self, server_first: &[u8]) -> Result<(Vec<u8>, Vec<u8>), ScramError> {
        let text =
            std::str::from_utf8(server_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for field in text.split(',') {
            if let Some(v) = field.strip_prefix("r=") {
                nonce = Some(v);
            } else if let Some(v) = field.strip_prefix("s=") {
                salt = B64.decode(v).ok();
            } else if let Some(v) = field.strip_prefix("i=") {
                iterations = v.parse::<u32>().ok();
            }
        }
        let nonce = nonce
            .filter(|n| n.starts_with(&self.nonce))
            .ok_or(ScramError::Malformed(
                "the server nonce does not extend ours",
            ))?;
        let salt = salt.ok_or(ScramError::Malformed("no salt"))?;
        let iterations = iterations
            .filter(|i| *i >= MIN_ITERATIONS as u32)
            .ok_or(ScramError::Malformed("bad iteration count"))?;
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key");
        let expected = m.hmac(&server_key, auth_message.as_bytes());
        let message = format!("{without_proof},p={}", B64.encode(proof)).into_bytes();
        Ok((message, format!("v={}", B64.encode(expected)).into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(
        m: Mechanism,
        stored_password: &str,
        tried_password: &str,
    ) -> Result<String, ScramError> {
        let cred = Credential::new(m, stored_password, 4096);
        let (client, first) = ClientExchange::start(m, "alice", tried_password);
        let (server, server_first) =
            ServerExchange::start(m, &first, |u| (u == "alice").then(|| cred.clone()))?;
        let (client_final, expected) = client.respond(&server_first)?;
        let (user, server_final) = server.finish(&client_final)?;
        assert_eq!(server_final, expected, "the client can verify the server");
        Ok(user)
    }

    #[test]
    fn right_password_passes_wrong_fails_for_both_mechanisms() {
        for m in [Mechanism::Sha256, Mechanism::Sha512] {
            assert_eq!(exchange(m, "s3cret", "s3cret"), Ok("alice".into()));
            assert_eq!(
                exchange(m, "s3cret", "guess"),
                Err(ScramError::BadCredentials)
            );
        }
    }

    /// RFC 7677's SCRAM-SHA-256 example: user "user", password "pencil".
    #[test]
    fn rfc7677_example_verifies() {
        let m = Mechanism::Sha256;
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let server = ServerExchange {
            mechanism: m,
            user: "user".into(),
            credential: Some(Credential::from_salted(m, &salted, &salt, 4096)),
            client_first_bare: "n=user,r=rOprNGfwEbeRWgbNEkqO".into(),
            server_first: format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
            nonce: nonce.into(),
        };
        let client_final =
            format!("c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        let (user, server_final) = server.finish(client_final.as_bytes()).expect("valid proof");
        assert_eq!(user, "user");
        assert_eq!(
            server_final,
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    /// librdkafka before 2.6.1 sends client nonce + server nonce in its final message.
    #[test]
    fn a_final_nonce_with_the_client_nonce_repeated_is_accepted() {
        let m = Mechanism::Sha512;
        let cred = Credential::new(m, "pw", 4096);
        let (server, server_first) =
            ServerExchange::start(m, b"n,,n=u,r=abc", |_| Some(cred.clone())).expect("first");
        let server_first = String::from_utf8(server_first).expect("utf8");
        let nonce = &server_first.split(',').next().expect("r")[2..];
        let salted = m.salted_password(b"pw", &cred.salt, 4096);
        let client_key = m.hmac(&salted, b"Client Key");
        let without_proof = format!("c=biws,r=abc{nonce}");
        let auth = format!("n=u,r=abc,{server_first},{without_proof}");
        let sig = m.hmac(&m.hash(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(sig).map(|(a, b)| a ^ b).collect();
        let last = format!("{without_proof},p={}", B64.encode(proof));
        assert!(server.finish(last.as_bytes()).is_ok());
    }

    #[test]
    fn plain_verification_uses_the_stored_credential() {
        let cred = Credential::new(Mechanism::Sha512, "pw", 4096);
        assert!(cred.verifies(Mechanism::Sha512, "pw"));
        assert!(!cred.verifies(Mechanism::Sha512, "pW"));
        assert!(!cred.stored_key.is_empty() && cred.salt.len() == 24);
    }

    #[test]
    fn malformed_first_messages_are_refused() {
        let none = |_: &str| None;
        for bad in [&b"p=tls-unique,,n=a,r=x"[..], b"n,,r=x", b"n,,n=a", b"\xff"] {
            assert!(matches!(
                ServerExchange::start(Mechanism::Sha256, bad, none),
                Err(ScramError::Malformed(_))
            ));
        }
    }
}
