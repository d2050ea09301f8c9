//! A broker with security on, for tests: a throw-away CA (rcgen) with a server
//! certificate for 127.0.0.1 and client certificates, a TOML config with TLS and SASL
//! listeners and the authorizer, and a bootstrap admin whose SCRAM credential is written
//! in stored form. Clients: rdkafka over each listener and Tideway's own admin
//! connection (for ACLs, credentials and quotas, which rdkafka has no API for).

use std::path::{Path, PathBuf};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use rdkafka::ClientConfig;
use tideway_engine::{
    client::{ClientSecurity, ClientTls, KafkaConnection, SaslLogin},
    security::scram::{Credential, Mechanism},
};

use super::BrokerProcess;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-secret";

/// The CA and the files a secured broker and its clients use.
pub struct Pki {
    pub dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        let ca_key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Tideway test CA");
        let ca = params.self_signed(&ca_key).expect("CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write");
        let pki = Pki {
            dir: dir.to_owned(),
            ca,
            ca_key,
        };
        pki.issue("broker", "127.0.0.1", true, false);
        pki
    }

    /// Issues `<name>.pem` and `<name>-key.pem` for CN=`cn`; `expired` backdates it.
    pub fn issue(&self, name: &str, cn: &str, server: bool, expired: bool) {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        // In certificate order; Kafka's RFC 2253 name reads it backwards: CN=...,O=...
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Tideway Tests");
        params.distinguished_name.push(DnType::CommonName, cn);
        if server {
            params.subject_alt_names = vec![
                SanType::IpAddress([127, 0, 0, 1].into()),
                SanType::DnsName("localhost".try_into().expect("name")),
            ];
            // Brokers also present their certificate to each other as clients.
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
        } else {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign");
        std::fs::write(self.dir.join(format!("{name}.pem")), cert.pem()).expect("write");
        std::fs::write(
            self.dir.join(format!("{name}-key.pem")),
            key.serialize_pem(),
        )
        .expect("write");
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// The broker config: main listener SASL_SSL, an SSL listener with client
    /// certificates (MTLS), a SASL_PLAINTEXT listener (SASLPLAIN), the authorizer on
    /// with `admin` as super user, plus `extra` TOML.
    pub fn broker_config(&self, extra: &str) -> PathBuf {
        let listeners = r#"
[[listeners]]
name = "MTLS"
protocol = "SSL"
listen = "127.0.0.1:0"

[[listeners]]
name = "SASLPLAIN"
protocol = "SASL_PLAINTEXT"
listen = "127.0.0.1:0"
"#;
        let text = self.security_toml("SASL_SSL", "requested", &[], extra, listeners);
        let path = self.dir.join("broker.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Security settings: the main listener's protocol, TLS with `client_auth`, the
    /// authorizer with `admin` and `super_users`, the bootstrap admin credential;
    /// `top` goes before the tables, `tables` after them.
    pub fn security_toml(
        &self,
        protocol: &str,
        client_auth: &str,
        super_users: &[&str],
        top: &str,
        tables: &str,
    ) -> String {
        let cred = Credential::new(Mechanism::Sha512, ADMIN_PASSWORD, 4096);
        let supers: Vec<String> = std::iter::once(ADMIN)
            .chain(super_users.iter().copied())
            .map(|u| format!("\"User:{u}\""))
            .collect();
        format!(
            r#"security-protocol = "{protocol}"
{top}
[tls]
cert = "{cert}"
key = "{key}"
client-ca = "{ca}"
client-auth = "{client_auth}"

[authorizer]
enabled = true
super-users = [{supers}]
{tables}
[[bootstrap-credentials]]
user = "{ADMIN}"
mechanism = "SCRAM-SHA-512"
iterations = {iterations}
salt = "{salt}"
stored-key = "{stored}"
server-key = "{server}"
"#,
            cert = self.path("broker.pem"),
            key = self.path("broker-key.pem"),
            ca = self.path("ca.pem"),
            iterations = cred.iterations,
            salt = B64.encode(&cred.salt),
            stored = B64.encode(&cred.stored_key),
            server = B64.encode(&cred.server_key),
            supers = supers.join(", "),
        )
    }

    /// rdkafka settings for SASL_SSL as `user` with `mechanism`.
    pub fn sasl_ssl(
        &self,
        broker: &BrokerProcess,
        mechanism: &str,
        user: &str,
        password: &str,
    ) -> ClientConfig {
        let mut c = broker.config();
        c.set("security.protocol", "SASL_SSL")
            .set("ssl.ca.location", self.path("ca.pem"))
            .set("sasl.mechanisms", mechanism)
            .set("sasl.username", user)
            .set("sasl.password", password);
        c
    }

    /// rdkafka settings for the SSL listener with the client certificate `name`.
    pub fn mtls(&self, broker: &BrokerProcess, name: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", broker.listener("MTLS"))
            .set("security.protocol", "SSL")
            .set("ssl.ca.location", self.path("ca.pem"))
            .set(
                "ssl.certificate.location",
                self.path(&format!("{name}.pem")),
            )
            .set("ssl.key.location", self.path(&format!("{name}-key.pem")));
        c
    }

    /// Tideway's admin connection over SASL_SSL.
    pub async fn connect(
        &self,
        broker: &BrokerProcess,
        user: &str,
        password: &str,
    ) -> anyhow::Result<KafkaConnection> {
        self.connect_to(&broker.bootstrap, user, password).await
    }

    /// Tideway's admin connection over SASL_SSL to `addr`.
    pub async fn connect_to(
        &self,
        addr: &str,
        user: &str,
        password: &str,
    ) -> anyhow::Result<KafkaConnection> {
        let security = ClientSecurity {
            tls: Some(ClientTls {
                ca_pem: std::fs::read(self.dir.join("ca.pem"))?,
                server_name: "127.0.0.1".into(),
                identity: None,
            }),
            sasl: Some(SaslLogin {
                mechanism: "SCRAM-SHA-512".into(),
                user: user.into(),
                password: password.into(),
            }),
        };
        KafkaConnection::connect(addr, "tideway-test-admin", &security).await
    }
}
