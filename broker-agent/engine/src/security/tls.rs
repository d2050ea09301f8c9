//! TLS for SSL and SASL_SSL listeners (rustls on ring): the server certificate and key
//! from PEM files (reread when they change), optional client-certificate authentication against a CA, and the
//! principal a client certificate stands for (`User:` + its subject in RFC 2253 form, as
//! Kafka names it).

use std::{path::PathBuf, sync::Arc};

use rustls::{
    pki_types::CertificateDer, server::WebPkiClientVerifier, RootCertStore, ServerConfig,
};
use rustls_pki_types::pem::PemObject;

use super::cert_reload::ReloadingCert;
use crate::client::{rustls_client_config, ClientTls, PemIdentity};

/// Whether clients must present a certificate (`ssl.client.auth`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    #[default]
    None,
    Requested,
    Required,
}

/// `[tls]` in the broker's TOML file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TlsConfig {
    /// PEM: the broker's certificate chain.
    pub cert: PathBuf,
    /// PEM: its private key.
    pub key: PathBuf,
    /// PEM: CAs whose client certificates are accepted.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    #[serde(default)]
    pub client_auth: ClientAuth,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

impl TlsConfig {
    /// The rustls server config; the message names the file or setting that is wrong.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, String> {
        self.server_config_with(self.client_auth)
    }

    /// The rustls server config with a listener's own client-certificate policy.
    pub fn server_config_with(&self, client_auth: ClientAuth) -> Result<Arc<ServerConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let resolver = ReloadingCert::new(&self.cert, &self.key, provider.clone())?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match (client_auth, &self.client_ca) {
            (ClientAuth::None, _) => builder.with_no_client_auth(),
            (_, None) => return Err("[tls] client-auth needs client-ca".into()),
            (mode, Some(ca)) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&read(ca)?) {
                    let cert = cert.map_err(|e| format!("{}: {e}", ca.display()))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("{}: unusable CA certificate: {e}", ca.display()))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if mode == ClientAuth::Requested {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
            }
        };
        Ok(Arc::new(builder.with_cert_resolver(Arc::new(resolver))))
    }
}

impl TlsConfig {
    /// The CA that verifies peer brokers and this broker's own certificate and key, PEM.
    fn peer_pems(&self) -> Result<(Vec<u8>, PemIdentity), String> {
        let ca = self
            .client_ca
            .as_ref()
            .ok_or("[tls] client-ca is needed to verify peer brokers")?;
        Ok((read(ca)?, (read(&self.cert)?, read(&self.key)?)))
    }

    /// How this broker connects to a peer broker at `server_name`: trusting `client-ca`,
    /// presenting its own certificate.
    pub fn peer_tls(&self, server_name: &str) -> Result<ClientTls, String> {
        let (ca_pem, identity) = self.peer_pems()?;
        Ok(ClientTls {
            ca_pem,
            server_name: server_name.to_owned(),
            identity: Some(identity),
        })
    }

    /// The same as a rustls client config (for connections that name the server later).
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        let (ca_pem, identity) = self.peer_pems()?;
        rustls_client_config(&ca_pem, Some(&identity)).map_err(|e| format!("[tls]: {e}"))
    }
}

/// `User:CN=alice,OU=payments,O=Example` for a client certificate; None if unparsable.
pub fn principal_of(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let registry = x509_parser::objects::oid_registry();
    let mut parts = Vec::new();
    for rdn in parsed.subject().iter() {
        let attrs: Vec<String> = rdn
            .iter()
            .map(|a| {
                let key = x509_parser::objects::oid2abbrev(a.attr_type(), registry)
                    .map(str::to_owned)
                    .unwrap_or_else(|_| a.attr_type().to_id_string());
                let value = a.as_str().unwrap_or_default();
                format!("{key}={}", escape_rfc2253(value))
            })
            .collect();
        parts.push(attrs.join("+"));
    }
    parts.reverse();
    Some(format!("User:{}", parts.join(",")))
}

fn escape_rfc2253(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == value.len() - 1 && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_principal_is_its_subject_in_rfc2253_order() {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        // In certificate order; the RFC 2253 form (like `openssl -nameopt RFC2253` and
        // Java's X500Principal) reads it backwards.
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme, Inc");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "carol");
        let cert = params.self_signed(&key).expect("cert");
        assert_eq!(
            principal_of(cert.der()).as_deref(),
            Some("User:CN=carol,O=Acme\\, Inc")
        );
    }
}
