//! PLAINTEXT against SASL_SSL (SCRAM-SHA-512 over TLS 1.3) on the same broker in the same
//! run: one broker with both listeners, the same topic settings, the same client code.
//! Prints throughput and latency for each and the SASL_SSL/PLAINTEXT ratios.

use std::path::Path;

use anyhow::Context;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rdkafka::ClientConfig;
use tideway_engine::security::scram::{Credential, Mechanism};

use super::{create_topic, latency, plaintext, produce_throughput, start_broker_with};

const USER: &str = "bench";
const PASSWORD: &str = "bench-secret";

/// A CA and a certificate for 127.0.0.1 under `dir`: (ca.pem, cert, key) paths.
fn certificates(dir: &Path) -> anyhow::Result<[String; 3]> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "bench CA");
    let ca = ca.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(Vec::<String>::new())?;
    leaf.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
    let leaf = leaf.signed_by(&key, &ca, &ca_key)?;
    let paths =
        ["ca.pem", "broker.pem", "broker-key.pem"].map(|f| dir.join(f).display().to_string());
    std::fs::write(&paths[0], ca.pem())?;
    std::fs::write(&paths[1], leaf.pem())?;
    std::fs::write(&paths[2], key.serialize_pem())?;
    Ok(paths)
}

fn config(dir: &Path, [ca, cert, key]: &[String; 3]) -> anyhow::Result<String> {
    let cred = Credential::new(Mechanism::Sha512, PASSWORD, 4096);
    let text = format!(
        r#"[tls]
cert = "{cert}"
key = "{key}"
client-ca = "{ca}"

[[listeners]]
name = "SECURE"
protocol = "SASL_SSL"
listen = "127.0.0.1:0"

[[bootstrap-credentials]]
user = "{USER}"
mechanism = "SCRAM-SHA-512"
iterations = {}
salt = "{}"
stored-key = "{}"
server-key = "{}"
"#,
        cred.iterations,
        B64.encode(&cred.salt),
        B64.encode(&cred.stored_key),
        B64.encode(&cred.server_key)
    );
    let path = dir.join("secure.toml");
    std::fs::write(&path, text)?;
    Ok(path.display().to_string())
}

pub fn run(dir: &Path, count: u64) -> anyhow::Result<()> {
    let dir = dir.join("secure");
    std::fs::create_dir_all(&dir)?;
    let certs = certificates(&dir)?;
    let config = config(&dir, &certs)?;
    let broker = start_broker_with(&dir.join("data"), "127.0.0.1:0", &["--config", &config])?;
    let secure_addr = broker
        .listeners
        .iter()
        .find(|(n, _)| n == "SECURE")
        .map(|(_, a)| a.clone())
        .context("the SECURE listener")?;
    let mut secure = ClientConfig::new();
    secure
        .set("bootstrap.servers", &secure_addr)
        .set("security.protocol", "SASL_SSL")
        .set("ssl.ca.location", &certs[0])
        .set("sasl.mechanisms", "SCRAM-SHA-512")
        .set("sasl.username", USER)
        .set("sasl.password", PASSWORD);
    println!(
        "\none broker, two listeners: PLAINTEXT {} and SASL_SSL (SCRAM-SHA-512) {secure_addr}",
        broker.bootstrap
    );
    println!(
        "{:>10} {:>12} {:>12} {:>10} {:>10}",
        "listener", "produce MB/s", "records/s", "p50 ms", "p99 ms"
    );
    let mut rows = Vec::new();
    for (name, client) in [
        ("PLAINTEXT", plaintext(&broker.bootstrap)),
        ("SASL_SSL", secure),
    ] {
        let topic = format!("secure-bench-{name}");
        create_topic(&client, &topic)?;
        let (mbs, rps) = produce_throughput(&client, &topic, count, 1024, "1")?;
        let lt = format!("secure-lat-{name}");
        create_topic(&client, &lt)?;
        let l = latency(&client, &lt, 1024, 1000, 5, "1")?;
        let (p50, p99) = (l.p50, l.p99);
        println!(
            "{name:>10} {mbs:>12.1} {rps:>12.0} {:>10.2} {:>10.2}",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
        rows.push((mbs, p99.as_secs_f64()));
    }
    println!(
        "SASL_SSL / PLAINTEXT (1 KiB, acks=1): throughput {:.2}x, p99 latency {:.2}x",
        rows[1].0 / rows[0].0,
        rows[1].1 / rows[0].1
    );
    Ok(())
}
