//! Each secured cluster's own certificate authority (rcgen): the CA made when the
//! cluster is first placed, broker certificates for the hosts' addresses, and the
//! control plane's super-user SCRAM credential.

use std::net::IpAddr;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use rand::{distributions::Alphanumeric, Rng};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType,
};
use tideway_api::agents::ScramStoredCredential;
use tideway_engine::security::scram::{Credential, Mechanism};

/// The control plane's own Kafka user on every secured cluster.
pub const ADMIN_USER: &str = "tideway-admin";
/// How long a broker certificate is valid.
pub const BROKER_CERT_VALIDITY: time::Duration = time::Duration::days(365);
/// A broker certificate is renewed when it has less than this left.
pub const RENEW_BEFORE: time::Duration = time::Duration::days(30);

/// An organisation's CA that signs every secured cluster's broker certificates.
#[derive(Clone)]
pub struct OrganisationCa {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for OrganisationCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrganisationCa(key redacted)")
    }
}

impl OrganisationCa {
    /// Checks that the certificate is a CA's and the key can sign with it.
    pub fn check(&self) -> Result<(), String> {
        let params = CertificateParams::from_ca_cert_pem(&self.cert_pem)
            .map_err(|e| format!("the organisation CA certificate: {e}"))?;
        if !matches!(params.is_ca, IsCa::Ca(_)) {
            return Err("the organisation CA certificate is not a CA certificate".into());
        }
        issue_broker(
            &self.cert_pem,
            &self.key_pem,
            "127.0.0.1",
            time::Duration::days(1),
        )
        .map(drop)
        .map_err(|e| format!("the organisation CA key cannot sign with its certificate: {e}"))
    }
}

/// A new CA for `cluster`: (certificate PEM, key PEM).
pub fn new_ca(cluster: &str) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Tideway");
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{cluster} cluster CA"));
    params.not_before = time_now();
    params.not_after = time_now() + time::Duration::days(3650);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A broker certificate for `address` (an IP or a DNS name), valid for server and
/// client use (brokers present it to each other): (certificate PEM, key PEM).
pub fn issue_broker(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    address: &str,
    valid_for: time::Duration,
) -> Result<(String, String), rcgen::Error> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let ca = CertificateParams::from_ca_cert_pem(ca_cert_pem)?.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Tideway");
    params.distinguished_name.push(DnType::CommonName, address);
    params.subject_alt_names = vec![match address.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(address.try_into()?),
    }];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = time_now();
    params.not_after = time_now() + valid_for;
    let cert = params.signed_by(&key, &ca, &ca_key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Whether a certificate (PEM) expires within `RENEW_BEFORE` (or cannot be read).
pub fn renewal_due(cert_pem: &str) -> bool {
    expires_at(cert_pem).is_none_or(|not_after| {
        not_after - time_now().unix_timestamp() < RENEW_BEFORE.whole_seconds()
    })
}

/// When a certificate (PEM) expires, in seconds since the epoch; `None` if unreadable.
pub fn expires_at(cert_pem: &str) -> Option<i64> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// A random password for a Kafka user.
pub fn new_password() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// `password`'s SCRAM-SHA-512 credential in the stored form brokers are given.
pub fn stored_credential(user: &str, password: &str) -> ScramStoredCredential {
    let c = Credential::new(Mechanism::Sha512, password, 4096);
    ScramStoredCredential {
        user: user.to_owned(),
        mechanism: Mechanism::Sha512.sasl_name().to_owned(),
        iterations: c.iterations,
        salt: B64.encode(&c.salt),
        stored_key: B64.encode(&c.stored_key),
        server_key: B64.encode(&c.server_key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_certificates_chain_to_the_cluster_ca() {
        let (ca, ca_key) = new_ca("orders").expect("ca");
        let (cert, key) =
            issue_broker(&ca, &ca_key, "10.0.0.7", BROKER_CERT_VALIDITY).expect("broker");
        assert!(cert.contains("BEGIN CERTIFICATE") && key.contains("PRIVATE KEY"));
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert.as_bytes()).expect("pem");
        let parsed = pem.parse_x509().expect("x509");
        assert_eq!(
            parsed.issuer().to_string(),
            "O=Tideway, CN=orders cluster CA"
        );
        let (_, ca_pem) = x509_parser::pem::parse_x509_pem(ca.as_bytes()).expect("pem");
        let ca_parsed = ca_pem.parse_x509().expect("x509");
        parsed
            .verify_signature(Some(ca_parsed.public_key()))
            .expect("signed by the CA");
        assert!(issue_broker(&ca, &ca_key, "broker-1.example", BROKER_CERT_VALIDITY).is_ok());
    }

    #[test]
    fn certificates_near_their_end_are_due_for_renewal() {
        let (ca, ca_key) = new_ca("orders").expect("ca");
        let fresh = issue_broker(&ca, &ca_key, "10.0.0.7", BROKER_CERT_VALIDITY)
            .expect("cert")
            .0;
        let ending = issue_broker(&ca, &ca_key, "10.0.0.7", time::Duration::days(10))
            .expect("cert")
            .0;
        assert!(!renewal_due(&fresh));
        assert!(renewal_due(&ending));
        assert!(renewal_due("garbage"));
    }
}
