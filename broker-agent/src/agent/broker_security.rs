//! A secured broker's TLS files and config: the cluster CA, the broker's certificate and
//! key (readable by the agent's user only) beside its config, SASL_SSL for clients on its
//! port, the authorizer on, and the control plane's super user in SCRAM stored form. A
//! broker of several replicates on its replication port over mutual TLS, every broker of
//! the cluster (by its certificate's subject) being a super user.

use std::path::Path;

use tideway_api::agents::{BrokerAssignment, BrokerSecurity};

const FILES: [&str; 3] = ["ca.pem", "broker.pem", "broker-key.pem"];

/// Writes the PEM files into `dir` (only when they changed).
pub fn write_files(dir: &Path, security: &BrokerSecurity) -> Result<(), String> {
    let contents = [&security.ca_pem, &security.cert_pem, &security.key_pem];
    for (name, text) in FILES.iter().zip(contents) {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        tideway_engine::fsutil::write_atomic(&path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The port of the broker's main listener: the replication port for a secured broker of
/// several, else its client port.
pub fn main_port(a: &BrokerAssignment) -> u16 {
    a.security
        .as_ref()
        .and(a.cluster.as_ref())
        .and_then(|c| c.replication_port)
        .unwrap_or(a.port)
}

/// The top-level line with the main listener's protocol.
pub fn protocol_line(a: &BrokerAssignment) -> &'static str {
    if main_port(a) == a.port {
        "security-protocol = \"SASL_SSL\"\n"
    } else {
        "security-protocol = \"SSL\"\n"
    }
}

/// The subject brokers' certificates carry (see the control plane's cluster CA).
fn broker_principal(address: &str) -> String {
    format!("User:CN={address},O=Tideway")
}

/// The tables of a secured broker's config on a host reached at `address`.
pub fn tables(
    dir: &Path,
    a: &BrokerAssignment,
    security: &BrokerSecurity,
    address: &str,
) -> String {
    let admin = &security.admin;
    let mut supers = vec![format!("User:{}", admin.user)];
    let mut client_listener = String::new();
    let mut main_auth = "none";
    if main_port(a) != a.port {
        main_auth = "required";
        let voters = a.cluster.iter().flat_map(|c| &c.voters);
        supers.extend(voters.map(|v| broker_principal(&v.address)));
        let protocol = if security.plaintext_clients {
            "PLAINTEXT"
        } else {
            "SASL_SSL"
        };
        client_listener = format!(
            "[[listeners]]\nname = \"CLIENT\"\nprotocol = \"{protocol}\"\nlisten = \"0.0.0.0:{port}\"\nadvertised = \"{address}:{port}\"\nclient-auth = \"none\"\n\n",
            port = a.port
        );
    }
    // Plaintext clients are not logged in, so there is nothing to authorize them by; the
    // brokers among themselves are held apart by the mutual TLS of the main listener (and
    // the engine takes replication only there).
    let authorizer = !security.plaintext_clients;
    let supers: Vec<String> = supers.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "[tls]\ncert = {:?}\nkey = {:?}\nclient-ca = {:?}\nclient-auth = \"{main_auth}\"\n\n[authorizer]\nenabled = {authorizer}\nsuper-users = [{}]\n\n{client_listener}[[bootstrap-credentials]]\nuser = {:?}\nmechanism = {:?}\niterations = {}\nsalt = {:?}\nstored-key = {:?}\nserver-key = {:?}\n",
        dir.join(FILES[1]).display().to_string(),
        dir.join(FILES[2]).display().to_string(),
        dir.join(FILES[0]).display().to_string(),
        supers.join(", "),
        admin.user,
        admin.mechanism,
        admin.iterations,
        admin.salt,
        admin.stored_key,
        admin.server_key,
    )
}
