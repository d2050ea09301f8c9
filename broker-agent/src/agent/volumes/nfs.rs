//! `nfs` volumes: a subdirectory of an NFS export per broker (a NetApp volume, say),
//! mounted on this host. Before mounting, the agent talks NFSv3 to the server itself
//! (the `nfs3_client` crate): is the server reachable, does the export have room for the
//! volume, create the broker's subdirectory. Release unmounts and deletes the
//! subdirectory on the server the same way, so no mount is needed to clean up.

use std::{
    net::{IpAddr, ToSocketAddrs},
    path::PathBuf,
    process::Command,
    time::Duration,
};

use nfs3_client::{
    nfs3_types::{
        nfs3::{
            cookieverf3, diropargs3, ftype3, nfs_fh3, nfsstat3, sattr3, set_mode3, FSSTAT3args,
            LOOKUP3args, MKDIR3args, Nfs3Option, Nfs3Result, READDIRPLUS3args, REMOVE3args,
            RMDIR3args,
        },
        rpc::{auth_unix, opaque_auth},
    },
    tokio::{TokioConnector, TokioIo},
    Nfs3Connection, Nfs3ConnectionBuilder,
};
use tideway_api::{agents::StorageCapacity, clusters::StorageBackend, BrokerId};

use super::{
    blockdev::{self, run},
    CapacityCache, VolumeDriver,
};

/// Mount options a broker volume gets unless the flag overrides them: NFSv4.1 over TCP,
/// hard mounts (a server outage blocks I/O instead of corrupting segments), long
/// timeouts, no atime updates.
const DEFAULT_OPTIONS: &[&str] = &[
    "vers=4.1",
    "proto=tcp",
    "hard",
    "timeo=600",
    "retrans=2",
    "noatime",
];
const NFS_PORT: u16 = 2049;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type Connection = Nfs3Connection<TokioIo<tokio::net::TcpStream>>;

/// `nfs=SERVER:/EXPORT[,MOUNT-OPTION...]`.
#[derive(Debug)]
pub struct NfsExport {
    server: String,
    export: String,
    options: Vec<String>,
    /// Volumes are mounted at `<mounts>/<broker>`.
    mounts: PathBuf,
    capacity: CapacityCache,
}

/// Runs a future on a runtime of its own, on a thread of its own, so the synchronous
/// driver interface can be called from inside the agent's runtime.
fn block_on<T: Send>(
    work: impl std::future::Future<Output = Result<T, String>> + Send,
) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start an NFS client runtime: {e}"))?
                .block_on(work)
        })
        .join()
        .map_err(|_| "the NFS client thread panicked".to_owned())?
    })
}

fn failed<E>(op: &str, name: &str, status: nfsstat3, _: E) -> String {
    format!("NFS {op} {name:?} failed: {status:?}")
}

impl NfsExport {
    pub fn parse(location: &str, mounts: PathBuf) -> Result<NfsExport, String> {
        let mut parts = location.split(',');
        let target = parts.next().unwrap_or_default();
        let Some((server, export)) = target
            .split_once(':')
            .filter(|(s, e)| !s.is_empty() && e.starts_with('/'))
        else {
            return Err(format!(
                "--storage nfs={location:?} must look like nfs=SERVER:/EXPORT[,MOUNT-OPTION...]"
            ));
        };
        let overrides: Vec<&str> = parts.filter(|o| !o.is_empty()).collect();
        let key = |o: &str| o.split('=').next().unwrap_or_default().to_owned();
        let mut options: Vec<String> = DEFAULT_OPTIONS
            .iter()
            .filter(|d| !overrides.iter().any(|o| key(o) == key(d)))
            .map(|d| (*d).to_owned())
            .collect();
        options.extend(overrides.iter().map(|o| (*o).to_owned()));
        Ok(NfsExport {
            server: server.to_owned(),
            export: export.trim_end_matches('/').to_owned(),
            options,
            mounts,
            capacity: CapacityCache::default(),
        })
    }

    fn subdir(broker: BrokerId) -> String {
        format!("tideway-{broker}")
    }

    /// What `mount` is given for a broker's volume.
    pub fn source(&self, broker: BrokerId) -> String {
        format!("{}:{}/{}", self.server, self.export, Self::subdir(broker))
    }

    pub fn mount_options(&self) -> String {
        self.options.join(",")
    }

    fn address(&self) -> Result<IpAddr, String> {
        (self.server.as_str(), NFS_PORT)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve NFS server {}: {e}", self.server))?
            .map(|a| a.ip())
            .find(IpAddr::is_ipv4)
            .ok_or_else(|| format!("NFS server {} has no IPv4 address", self.server))
    }

    /// Checks the server answers on the NFS port, then mounts the export over NFSv3.
    async fn connect(&self) -> Result<Connection, String> {
        let ip = self.address()?;
        let probe = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((ip, NFS_PORT)),
        )
        .await;
        match probe {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(format!(
                    "NFS server {} is not reachable on port {NFS_PORT}: {e}",
                    self.server
                ))
            }
            Err(_) => {
                return Err(format!(
                    "NFS server {} did not answer on port {NFS_PORT} within {CONNECT_TIMEOUT:?}",
                    self.server
                ))
            }
        }
        let builder = Nfs3ConnectionBuilder::new(TokioConnector, ip.to_string(), &self.export)
            .credential(opaque_auth::auth_unix(&auth_unix::default()));
        tokio::time::timeout(CONNECT_TIMEOUT * 2, builder.mount())
            .await
            .map_err(|_| {
                format!(
                    "NFS server {} did not mount {} in time",
                    self.server, self.export
                )
            })?
            .map_err(|e| {
                format!(
                    "NFS server {} refused to mount {}: {e}",
                    self.server, self.export
                )
            })
    }

    async fn free_bytes(c: &mut Connection) -> Result<(u64, u64), String> {
        let root = c.root_nfs_fh3();
        match c
            .fsstat(&FSSTAT3args { fsroot: root })
            .await
            .map_err(|e| format!("NFS FSSTAT failed: {e}"))?
        {
            Nfs3Result::Ok(ok) => Ok((ok.tbytes, ok.abytes)),
            Nfs3Result::Err((status, e)) => Err(failed("FSSTAT", "/", status, e)),
        }
    }

    /// Creates the broker's subdirectory after checking the export has room for it.
    async fn create_subdir(&self, broker: BrokerId, bytes: u64) -> Result<(), String> {
        let mut c = self.connect().await?;
        let (_, free) = Self::free_bytes(&mut c).await?;
        if free < bytes {
            return Err(format!(
                "export {}:{} has {free} bytes free; the volume needs {bytes}",
                self.server, self.export
            ));
        }
        let name = Self::subdir(broker);
        let args = MKDIR3args {
            where_: diropargs3 {
                dir: c.root_nfs_fh3(),
                name: name.as_bytes().into(),
            },
            attributes: sattr3 {
                mode: set_mode3::Some(0o750),
                ..sattr3::default()
            },
        };
        match c
            .mkdir(&args)
            .await
            .map_err(|e| format!("NFS MKDIR failed: {e}"))?
        {
            Nfs3Result::Ok(_) | Nfs3Result::Err((nfsstat3::NFS3ERR_EXIST, _)) => {}
            Nfs3Result::Err((status, e)) => return Err(failed("MKDIR", &name, status, e)),
        }
        let _ = c.unmount().await;
        Ok(())
    }

    /// Deletes the broker's subdirectory and everything in it, on the server.
    async fn delete_subdir(&self, broker: BrokerId) -> Result<(), String> {
        let mut c = self.connect().await?;
        let root = c.root_nfs_fh3();
        let name = Self::subdir(broker);
        let Some(handle) = lookup(&mut c, &root, &name).await? else {
            return Ok(());
        };
        // Depth first, without recursion: a directory is removed once a listing finds it
        // empty; its subdirectories are pushed and emptied first.
        let mut stack = vec![(root, name, handle)];
        while let Some((parent, name, dir)) = stack.last().cloned() {
            let mut subdirs = Vec::new();
            for (entry, is_dir, handle) in list(&mut c, &dir).await? {
                if is_dir {
                    let handle = match handle {
                        Some(h) => Some(h),
                        None => lookup(&mut c, &dir, &entry).await?,
                    };
                    subdirs.extend(handle.map(|h| (dir.clone(), entry, h)));
                } else {
                    let args = REMOVE3args {
                        object: diropargs3 {
                            dir: dir.clone(),
                            name: entry.as_bytes().into(),
                        },
                    };
                    match c
                        .remove(&args)
                        .await
                        .map_err(|e| format!("NFS REMOVE failed: {e}"))?
                    {
                        Nfs3Result::Ok(_) | Nfs3Result::Err((nfsstat3::NFS3ERR_NOENT, _)) => {}
                        Nfs3Result::Err((status, e)) => {
                            return Err(failed("REMOVE", &entry, status, e))
                        }
                    }
                }
            }
            if subdirs.is_empty() {
                let args = RMDIR3args {
                    object: diropargs3 {
                        dir: parent,
                        name: name.as_bytes().into(),
                    },
                };
                match c
                    .rmdir(&args)
                    .await
                    .map_err(|e| format!("NFS RMDIR failed: {e}"))?
                {
                    Nfs3Result::Ok(_) | Nfs3Result::Err((nfsstat3::NFS3ERR_NOENT, _)) => {}
                    Nfs3Result::Err((status, e)) => return Err(failed("RMDIR", &name, status, e)),
                }
                stack.pop();
            } else {
                stack.extend(subdirs);
            }
        }
        let _ = c.unmount().await;
        Ok(())
    }
}

/// The handle of `name` in `dir`, or `None` when it does not exist.
async fn lookup(c: &mut Connection, dir: &nfs_fh3, name: &str) -> Result<Option<nfs_fh3>, String> {
    let args = LOOKUP3args {
        what: diropargs3 {
            dir: dir.clone(),
            name: name.as_bytes().into(),
        },
    };
    match c
        .lookup(&args)
        .await
        .map_err(|e| format!("NFS LOOKUP failed: {e}"))?
    {
        Nfs3Result::Ok(ok) => Ok(Some(ok.object)),
        Nfs3Result::Err((nfsstat3::NFS3ERR_NOENT, _)) => Ok(None),
        Nfs3Result::Err((status, e)) => Err(failed("LOOKUP", name, status, e)),
    }
}

/// One page of `dir` (enough, since callers delete what they list and ask again):
/// names with whether each is a directory and its handle when the server sent one.
async fn list(
    c: &mut Connection,
    dir: &nfs_fh3,
) -> Result<Vec<(String, bool, Option<nfs_fh3>)>, String> {
    let args = READDIRPLUS3args {
        dir: dir.clone(),
        cookie: 0,
        cookieverf: cookieverf3::default(),
        dircount: 64 * 1024,
        maxcount: 256 * 1024,
    };
    let page = match c
        .readdirplus(&args)
        .await
        .map_err(|e| format!("NFS READDIRPLUS failed: {e}"))?
    {
        Nfs3Result::Ok(ok) => ok.reply.entries.into_inner(),
        Nfs3Result::Err((status, e)) => return Err(failed("READDIRPLUS", "", status, e)),
    };
    Ok(page
        .into_iter()
        .filter_map(|e| {
            let name = String::from_utf8_lossy(e.name.0.as_ref()).into_owned();
            if name == "." || name == ".." {
                return None;
            }
            let is_dir =
                matches!(&e.name_attributes, Nfs3Option::Some(a) if a.type_ == ftype3::NF3DIR);
            let handle = match e.name_handle {
                Nfs3Option::Some(h) => Some(h),
                Nfs3Option::None => None,
            };
            Some((name, is_dir, handle))
        })
        .collect())
}

impl VolumeDriver for NfsExport {
    fn backend(&self) -> StorageBackend {
        StorageBackend::Nfs
    }

    fn prepare(&self, broker: BrokerId, bytes: u64) -> Result<PathBuf, String> {
        let dir = blockdev::volume_dir(&self.mounts, broker);
        if blockdev::mounted_source(&dir).is_some() {
            return Ok(dir);
        }
        block_on(self.create_subdir(broker, bytes))?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        run(Command::new("mount")
            .args([
                "-t",
                "nfs",
                "-o",
                &self.mount_options(),
                &self.source(broker),
            ])
            .arg(&dir))
        .map_err(|e| format!("mounting {} failed: {e}", self.source(broker)))?;
        tracing::info!(%broker, source = self.source(broker), "NFS volume mounted");
        Ok(dir)
    }

    fn release(&self, broker: BrokerId) -> Result<(), String> {
        let dir = blockdev::volume_dir(&self.mounts, broker);
        blockdev::unmount(&dir)?;
        block_on(self.delete_subdir(broker))?;
        blockdev::remove_dir(&dir)?;
        tracing::info!(%broker, source = self.source(broker), "NFS volume released");
        Ok(())
    }

    fn capacity(&self) -> Result<StorageCapacity, String> {
        self.capacity.get(|| {
            let (total, free) = block_on(async {
                let mut c = self.connect().await?;
                let space = Self::free_bytes(&mut c).await;
                let _ = c.unmount().await;
                space
            })?;
            Ok(StorageCapacity {
                backend: StorageBackend::Nfs,
                total_bytes: total,
                free_bytes: free,
            })
        })
    }
}
