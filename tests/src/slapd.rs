//! A private OpenLDAP server (slapd) for a test: its own directory, port and seed data.

use std::{path::Path, process::Command, time::Duration};

use anyhow::{bail, Context};

use crate::{free_port, run, Process};

pub const SUFFIX: &str = "dc=example,dc=com";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
pub const ADMIN_PW: &str = "adminpw";

/// Seed: alice (group admins), bob (group team-a), carol (no groups), and a user whose
/// login name is full of LDAP filter metacharacters.
pub const SEED: &str = "dn: dc=example,dc=com
objectClass: top
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: alice
cn: Alice Example
sn: Example
displayName: Alice Admin
mail: alice@example.com
userPassword: alicepw

dn: uid=bob,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: bob
cn: Bob Example
sn: Example
mail: bob@example.com
userPassword: bobpw

dn: uid=carol,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: carol
cn: Carol Example
sn: Example
userPassword: carolpw

dn: uid=j*ne(x)\\5c,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: j*ne(x)\\
cn: Jane Stars
sn: Stars
userPassword: janepw

dn: cn=admins,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,dc=example,dc=com

dn: cn=team-a,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: team-a
member: uid=bob,ou=people,dc=example,dc=com
member: uid=j*ne(x)\\5c,ou=people,dc=example,dc=com
";

/// The `--ldap-*` flags for a control plane using this directory, with admins as platform
/// admins and team-a members as members of tenant `team-a`.
pub fn control_plane_flags(url: &str) -> Vec<String> {
    [
        ("--ldap-url", url),
        ("--ldap-user-base", "ou=people,dc=example,dc=com"),
        ("--ldap-group-base", "ou=groups,dc=example,dc=com"),
        ("--ldap-bind-dn", ADMIN_DN),
        ("--ldap-bind-password", ADMIN_PW),
        (
            "--ldap-group-roles",
            "cn=admins,ou=groups,dc=example,dc=com=>platform-admin;cn=team-a,ou=groups,dc=example,dc=com=>team-a:member",
        ),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_owned(), v.to_owned()])
    .collect()
}

/// A running slapd.
pub struct Slapd {
    pub url: String,
    _process: Process,
    _dir: tempfile::TempDir,
}

fn slapd_binary() -> anyhow::Result<&'static str> {
    ["/usr/sbin/slapd", "/usr/local/sbin/slapd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .context("slapd is not installed (apt-get install slapd ldap-utils; ./tideway test does)")
}

impl Slapd {
    pub async fn start() -> anyhow::Result<Slapd> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        std::fs::create_dir_all(d.join("data"))?;
        let conf = format!(
            "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
database mdb
maxsize 104857600
suffix \"{SUFFIX}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PW}
directory {d}/data
index objectClass eq
index uid eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf)?;
        std::fs::write(d.join("seed.ldif"), SEED)?;
        let slapd = slapd_binary()?;
        run(Command::new("/usr/sbin/slapadd")
            .arg("-q")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-l")
            .arg(d.join("seed.ldif")))?;
        let port = free_port();
        let url = format!("ldap://127.0.0.1:{port}");
        let child = Command::new(slapd)
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .args(["-h", &format!("{url}/"), "-d", "0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("failed to start slapd")?;
        let process = Process {
            child,
            name: "slapd".into(),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(Slapd {
                    url,
                    _process: process,
                    _dir: dir,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("slapd did not listen on {url}")
    }
}
