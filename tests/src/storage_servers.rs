//! Real storage servers for a test: a single-host Ceph cluster (monitor, manager, one
//! BlueStore OSD; `tests/servers/ceph.sh`) and an NFS-Ganesha server exporting a
//! directory from a network namespace of its own, as a filer would.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};

use crate::{netns::Netns, run, Process};

/// A running single-host Ceph cluster; its daemons are killed when dropped.
pub struct Ceph {
    pub dir: PathBuf,
    pub conf: PathBuf,
}

impl Ceph {
    pub fn start(dir: &Path) -> anyhow::Result<Ceph> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("servers/ceph.sh");
        let out = run(Command::new(script).arg(dir)).context("starting Ceph")?;
        let conf = PathBuf::from(
            out.lines()
                .last()
                .context("ceph.sh printed nothing")?
                .trim(),
        );
        Ok(Ceph {
            dir: dir.to_owned(),
            conf,
        })
    }

    /// `rbd ARGS` against this cluster.
    pub fn rbd(&self, args: &[&str]) -> anyhow::Result<String> {
        run(Command::new("rbd").arg("-c").arg(&self.conf).args(args))
    }
}

impl Drop for Ceph {
    fn drop(&mut self) {
        let Ok(pids) = std::fs::read_dir(self.dir.join("run")) else {
            return;
        };
        for pid in pids
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
        {
            if let Ok(pid) = std::fs::read_to_string(pid.path()) {
                let _ = Command::new("kill").args(["-9", pid.trim()]).output();
            }
        }
    }
}

/// NFS-Ganesha (NFSv3 and v4 over TCP, rpcbind beside it) in a namespace of its own,
/// exporting `export` (the same path for v3 mounts and the v4 pseudo filesystem).
pub struct Ganesha {
    pub export: PathBuf,
    pub ns: Netns,
    _rpcbind: Process,
    _ganesha: Process,
}

impl Ganesha {
    pub fn start(dir: &Path) -> anyhow::Result<Ganesha> {
        let ns = Netns::create()?;
        let export = dir.join("export");
        std::fs::create_dir_all(&export)?;
        std::fs::create_dir_all(dir.join("recovery"))?;
        let conf = dir.join("ganesha.conf");
        std::fs::write(
            &conf,
            format!(
                "NFS_CORE_PARAM {{ NFS_Port = 2049; MNT_Port = 20048; Enable_NLM = false; \
                 Enable_RQUOTA = false; Protocols = 3, 4; Bind_addr = {ip}; }}\n\
                 NFSV4 {{ Graceless = true; RecoveryBackend = fs; RecoveryRoot = {recovery}; }}\n\
                 NFS_KRB5 {{ Active_krb5 = false; }}\n\
                 EXPORT {{ Export_Id = 1; Path = {export}; Pseudo = {export}; Access_Type = RW; \
                 Squash = No_Root_Squash; Protocols = 3, 4; Transports = TCP; SecType = sys; \
                 FSAL {{ Name = VFS; }} }}\n\
                 LOG {{ Default_Log_Level = EVENT; }}\n",
                ip = ns.ip,
                recovery = dir.join("recovery").display(),
                export = export.display(),
            ),
        )?;
        let rpcbind = Process {
            child: ns
                .command("rpcbind")
                .args(["-w", "-f"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting rpcbind")?,
            name: "rpcbind".into(),
        };
        let ganesha = Process {
            child: ns
                .command("ganesha.nfsd")
                .args(["-F", "-f"])
                .arg(&conf)
                .arg("-L")
                .arg(dir.join("ganesha.log"))
                .arg("-p")
                .arg(dir.join("ganesha.pid"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting ganesha.nfsd")?,
            name: "ganesha".into(),
        };
        let server = Ganesha {
            export,
            ns,
            _rpcbind: rpcbind,
            _ganesha: ganesha,
        };
        // Ready when a real NFS client (libnfs) can list the export.
        let url = format!("nfs://{}{}", server.ns.ip, server.export.display());
        let deadline = Instant::now() + Duration::from_secs(20);
        while run(Command::new("nfs-ls").arg(&url)).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "NFS-Ganesha never served {url}; see {}",
                    dir.join("ganesha.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(server)
    }
}
