//! A real MIT Kerberos KDC for a test (krb5kdc with a private realm, config and
//! database under a temp dir), with keytabs for the principals the test needs.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

pub const REALM: &str = "TEST.REALM";

/// A running KDC; killed when dropped.
pub struct Kdc {
    child: Child,
    pub dir: PathBuf,
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require(tool: &str) {
    let found = ["/usr/sbin", "/usr/bin"]
        .iter()
        .any(|d| Path::new(d).join(tool).exists());
    assert!(
        found,
        "{tool} is missing: this test needs a real KDC (apt: krb5-kdc krb5-admin-server krb5-user; `./tideway test` installs them)"
    );
}

fn env(dir: &Path) -> Vec<(String, String)> {
    vec![
        (
            "KRB5_CONFIG".into(),
            dir.join("krb5.conf").display().to_string(),
        ),
        (
            "KRB5_KDC_PROFILE".into(),
            dir.join("kdc.conf").display().to_string(),
        ),
    ]
}

fn run(dir: &Path, tool: &str, args: &[&str]) {
    let out = Command::new(tool)
        .envs(env(dir))
        .args(args)
        .output()
        .expect("run a KDC tool");
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Kdc {
    pub fn start(dir: &Path) -> Kdc {
        for tool in ["krb5kdc", "kdb5_util", "kadmin.local", "kinit"] {
            require(tool);
        }
        let port = super::cluster::free_port();
        std::fs::write(
            dir.join("krb5.conf"),
            format!(
                "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n udp_preference_limit = 1\n\n[realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n"
            ),
        )
        .expect("krb5.conf");
        std::fs::write(
            dir.join("kdc.conf"),
            format!(
                "[kdcdefaults]\n kdc_ports = {port}\n kdc_tcp_ports = {port}\n\n[realms]\n {REALM} = {{\n  database_name = {d}/principal\n  key_stash_file = {d}/stash\n  acl_file = {d}/kadm5.acl\n  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n }}\n",
                d = dir.display()
            ),
        )
        .expect("kdc.conf");
        std::fs::write(dir.join("kadm5.acl"), "").expect("acl");
        run(
            dir,
            "kdb5_util",
            &["create", "-s", "-P", "masterpw", "-r", REALM],
        );
        let child = Command::new("krb5kdc")
            .envs(env(dir))
            .arg("-n")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start krb5kdc");
        let kdc = Kdc {
            child,
            dir: dir.to_owned(),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the KDC did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        kdc
    }

    /// The environment the KDC tools, the broker and clients need.
    pub fn env(&self) -> Vec<(String, String)> {
        env(&self.dir)
    }

    /// Creates `principal` with a random key and returns its keytab.
    pub fn keytab(&self, principal: &str, file: &str) -> PathBuf {
        let path = self.dir.join(file);
        run(
            &self.dir,
            "kadmin.local",
            &["-q", &format!("addprinc -randkey {principal}@{REALM}")],
        );
        run(
            &self.dir,
            "kadmin.local",
            &[
                "-q",
                &format!("ktadd -k {} {principal}@{REALM}", path.display()),
            ],
        );
        path
    }
}
