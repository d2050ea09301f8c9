//! The broker's own certificate, reread when its files change, so a renewed certificate
//! is served to new connections without a restart (connections already open keep the
//! one they started with). A renewal that cannot be loaded is logged and the previous
//! certificate stays in use.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, Instant, SystemTime},
};

use rustls::{
    crypto::CryptoProvider,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

/// How often the files' modification times are looked at (on handshakes).
const CHECK_EVERY: Duration = Duration::from_secs(1);

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The certificate chain and key in `cert` and `key` (PEM), checked to belong together.
pub fn load(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let private = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?;
    CertifiedKey::from_der(chain, private, provider)
        .map(Arc::new)
        .map_err(|e| {
            format!(
                "{}: the key does not fit the certificate: {e}",
                key.display()
            )
        })
}

fn stamp(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[derive(Debug)]
struct Loaded {
    stamps: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
    key: Arc<CertifiedKey>,
}

/// Serves the certificate in two files, reloading it when either changes.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Loaded>,
}

impl ReloadingCert {
    pub fn new(
        cert: &Path,
        key: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<ReloadingCert, String> {
        let loaded = Loaded {
            stamps: (stamp(cert), stamp(key)),
            checked: Instant::now(),
            key: load(cert, key, &provider)?,
        };
        Ok(ReloadingCert {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: RwLock::new(loaded),
        })
    }

    fn refresh(&self) {
        let due = {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            current.checked.elapsed() >= CHECK_EVERY
        };
        if !due {
            return;
        }
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        current.checked = Instant::now();
        let stamps = (stamp(&self.cert), stamp(&self.key));
        if stamps == current.stamps {
            return;
        }
        match load(&self.cert, &self.key, &self.provider) {
            Ok(key) => {
                tracing::info!(cert = %self.cert.display(), "serving a renewed certificate");
                current.key = key;
                current.stamps = stamps;
            }
            Err(e) => tracing::warn!("keeping the current certificate: {e}"),
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        Some(current.key.clone())
    }
}
