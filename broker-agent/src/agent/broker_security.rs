//! A secured broker's TLS files and config: the cluster CA, the broker's certificate and
//! key (readable by the agent's user only) beside its config, SASL_SSL on its port, the
//! authorizer on, and the control plane's super user in SCRAM stored form.

use std::{os::unix::fs::PermissionsExt, path::Path};

use tideway_api::agents::BrokerSecurity;
use tideway_engine::fsutil::write_atomic;

const FILES: [&str; 3] = ["ca.pem", "broker.pem", "broker-key.pem"];

/// Writes the PEM files into `dir` (only when they changed).
pub fn write_files(dir: &Path, security: &BrokerSecurity) -> Result<(), String> {
    let contents = [&security.ca_pem, &security.cert_pem, &security.key_pem];
    for (name, text) in FILES.iter().zip(contents) {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        write_atomic(&path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The top-level line that makes the main listener SASL_SSL.
pub const PROTOCOL_LINE: &str = "security-protocol = \"SASL_SSL\"\n";

/// The tables of a secured broker's config.
pub fn tables(dir: &Path, security: &BrokerSecurity) -> String {
    let a = &security.admin;
    format!(
        "[tls]\ncert = {:?}\nkey = {:?}\nclient-ca = {:?}\n\n[authorizer]\nenabled = true\nsuper-users = [\"User:{}\"]\n\n[[bootstrap-credentials]]\nuser = {:?}\nmechanism = {:?}\niterations = {}\nsalt = {:?}\nstored-key = {:?}\nserver-key = {:?}\n",
        dir.join(FILES[1]).display().to_string(),
        dir.join(FILES[2]).display().to_string(),
        dir.join(FILES[0]).display().to_string(),
        a.user,
        a.user,
        a.mechanism,
        a.iterations,
        a.salt,
        a.stored_key,
        a.server_key,
    )
}
