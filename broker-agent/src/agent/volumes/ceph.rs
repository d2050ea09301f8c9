//! `ceph-rbd` volumes: an RBD image per broker in a pool, attached to this host, formatted
//! on first use and mounted. Attach methods: the kernel rbd module (`krbd`), `rbd-nbd`, or
//! `rbd-fuse` exposing the image as a file that a loop device turns into a block device —
//! for hosts whose kernel has neither rbd nor nbd. `auto` picks the first one the host has.
//! Release unmounts, detaches and deletes the image.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use tideway_api::{agents::StorageCapacity, clusters::StorageBackend, BrokerId};

use super::{
    blockdev::{self, run, Filesystem},
    CapacityCache, VolumeDriver,
};

/// Timeouts handed to every Ceph client, so an unreachable cluster fails fast.
const CLIENT_TIMEOUTS: &str =
    "--rados_mon_op_timeout=15 --rados_osd_op_timeout=30 --client_mount_timeout=15";

/// How images become block devices on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    Krbd,
    Nbd,
    Fuse,
}

impl Attach {
    fn parse(text: &str) -> Result<Attach, String> {
        match text {
            "auto" => Attach::detect(),
            "krbd" => Ok(Attach::Krbd),
            "nbd" => Ok(Attach::Nbd),
            "fuse" => Ok(Attach::Fuse),
            other => Err(format!(
                "attach={other:?} is not known; use auto, krbd, nbd or fuse"
            )),
        }
    }

    /// The first method this host supports.
    fn detect() -> Result<Attach, String> {
        if Path::new("/sys/bus/rbd").exists() {
            Ok(Attach::Krbd)
        } else if Path::new("/sys/block/nbd0").exists() && on_path("rbd-nbd") {
            Ok(Attach::Nbd)
        } else if Path::new("/dev/fuse").exists() && on_path("rbd-fuse") {
            Ok(Attach::Fuse)
        } else {
            Err(
                "no way to attach RBD images on this host: no kernel rbd module (/sys/bus/rbd), \
                 no nbd devices with rbd-nbd, no /dev/fuse with rbd-fuse"
                    .into(),
            )
        }
    }

    fn device_type(self) -> &'static str {
        match self {
            Attach::Krbd => "krbd",
            Attach::Nbd => "nbd",
            Attach::Fuse => "fuse",
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// `ceph-rbd=CONF,POOL[,attach=auto|krbd|nbd|fuse][,id=USER][,fs=ext4|xfs]`.
#[derive(Debug)]
pub struct CephRbd {
    conf: PathBuf,
    pool: String,
    user: String,
    attach: Attach,
    fs: Filesystem,
    /// Volumes are mounted at `<mounts>/<broker>`; rbd-fuse exposes images under
    /// `<mounts>/.rbd-fuse/<broker>`.
    mounts: PathBuf,
    capacity: CapacityCache,
}

impl CephRbd {
    pub fn parse(location: &str, mounts: PathBuf) -> Result<CephRbd, String> {
        let usage = "ceph-rbd=CONF,POOL[,attach=auto|krbd|nbd|fuse][,id=USER][,fs=ext4|xfs]";
        let mut parts = location.split(',');
        let conf = parts.next().filter(|c| !c.is_empty());
        let pool = parts.next().filter(|p| !p.is_empty());
        let (Some(conf), Some(pool)) = (conf, pool) else {
            return Err(format!(
                "--storage ceph-rbd needs a config and a pool: {usage}"
            ));
        };
        let mut driver = CephRbd {
            conf: PathBuf::from(conf),
            pool: pool.to_owned(),
            user: "admin".into(),
            attach: Attach::Fuse,
            fs: Filesystem::Ext4,
            mounts,
            capacity: CapacityCache::default(),
        };
        let mut attach = "auto";
        for option in parts {
            match option.split_once('=') {
                Some(("attach", v)) => attach = v,
                Some(("id", v)) if !v.is_empty() => driver.user = v.to_owned(),
                Some(("fs", v)) => driver.fs = Filesystem::parse(v)?,
                _ => return Err(format!("ceph-rbd option {option:?} is not known: {usage}")),
            }
        }
        driver.attach = Attach::parse(attach)?;
        Ok(driver)
    }

    fn image(broker: BrokerId) -> String {
        format!("tideway-{broker}")
    }

    fn spec(&self, broker: BrokerId) -> String {
        format!("{}/{}", self.pool, Self::image(broker))
    }

    /// A Ceph client command bound to this cluster, user and timeouts.
    fn ceph(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("-c")
            .arg(&self.conf)
            .env("CEPH_ARGS", format!("--id {} {CLIENT_TIMEOUTS}", self.user));
        cmd
    }

    fn fuse_dir(&self, broker: BrokerId) -> PathBuf {
        self.mounts.join(".rbd-fuse").join(broker.to_string())
    }

    /// Creates the image unless it exists.
    fn ensure_image(&self, broker: BrokerId, bytes: u64) -> Result<(), String> {
        if run(self.ceph("rbd").args(["info", &self.spec(broker)])).is_ok() {
            return Ok(());
        }
        let mib = bytes.div_ceil(1 << 20).max(1);
        run(self
            .ceph("rbd")
            .args(["create", "--size", &mib.to_string(), &self.spec(broker)]))?;
        tracing::info!(%broker, image = self.spec(broker), mib, "RBD image created");
        Ok(())
    }

    /// The kernel device of an image mapped with krbd or rbd-nbd, if mapped.
    fn mapped_device(&self, broker: BrokerId) -> Result<Option<String>, String> {
        let listing = run(self.ceph("rbd").args([
            "device",
            "list",
            "-t",
            self.attach.device_type(),
            "--format",
            "json",
        ]))?;
        let devices: Vec<serde_json::Value> = serde_json::from_str(&listing)
            .map_err(|e| format!("rbd device list printed no JSON: {e}"))?;
        let image = Self::image(broker);
        Ok(devices.iter().find_map(|d| {
            (d["pool"] == self.pool.as_str() && d["name"] == image.as_str())
                .then(|| d["device"].as_str().map(str::to_owned))
                .flatten()
        }))
    }

    /// Attaches the image and returns its block device.
    fn attach(&self, broker: BrokerId) -> Result<String, String> {
        if self.attach == Attach::Fuse {
            let fuse_dir = self.fuse_dir(broker);
            std::fs::create_dir_all(&fuse_dir)
                .map_err(|e| format!("cannot create {}: {e}", fuse_dir.display()))?;
            if blockdev::mounted_source(&fuse_dir).is_none() {
                run(self
                    .ceph("rbd-fuse")
                    .args(["-p", &self.pool, "-r", &Self::image(broker)])
                    .arg(&fuse_dir))?;
            }
            return blockdev::attach_loop(&fuse_dir.join(Self::image(broker)));
        }
        if let Some(device) = self.mapped_device(broker)? {
            return Ok(device);
        }
        run(self.ceph("rbd").args([
            "device",
            "map",
            "-t",
            self.attach.device_type(),
            &self.spec(broker),
        ]))
    }

    fn detach(&self, broker: BrokerId) -> Result<(), String> {
        if self.attach == Attach::Fuse {
            let fuse_dir = self.fuse_dir(broker);
            blockdev::detach_loop(&fuse_dir.join(Self::image(broker)))?;
            blockdev::unmount(&fuse_dir)?;
            return blockdev::remove_dir(&fuse_dir);
        }
        while let Some(device) = self.mapped_device(broker)? {
            run(self.ceph("rbd").args([
                "device",
                "unmap",
                "-t",
                self.attach.device_type(),
                &device,
            ]))?;
        }
        Ok(())
    }

    /// Deletes the image; an image already gone is fine. A watcher that has not let go
    /// yet (the detached client closing) gets a few seconds.
    fn delete_image(&self, broker: BrokerId) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match run(self
                .ceph("rbd")
                .args(["rm", "--no-progress", &self.spec(broker)]))
            {
                Ok(_) => return Ok(()),
                Err(e) if e.contains("No such file") || e.contains("does not exist") => {
                    return Ok(())
                }
                Err(e) if e.contains("watchers") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn read_capacity(&self) -> Result<StorageCapacity, String> {
        let out = run(self.ceph("ceph").args(["df", "--format", "json"]))?;
        let df: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| format!("ceph df printed no JSON: {e}"))?;
        let stats = df["pools"]
            .as_array()
            .and_then(|pools| pools.iter().find(|p| p["name"] == self.pool.as_str()))
            .map(|p| &p["stats"])
            .ok_or_else(|| format!("ceph df does not list pool {:?}", self.pool))?;
        let free = stats["max_avail"].as_u64().unwrap_or(0);
        let stored = stats["stored"].as_u64().unwrap_or(0);
        Ok(StorageCapacity {
            backend: StorageBackend::CephRbd,
            total_bytes: free + stored,
            free_bytes: free,
        })
    }
}

impl VolumeDriver for CephRbd {
    fn backend(&self) -> StorageBackend {
        StorageBackend::CephRbd
    }

    fn prepare(&self, broker: BrokerId, bytes: u64) -> Result<PathBuf, String> {
        let dir = blockdev::volume_dir(&self.mounts, broker);
        if blockdev::mounted_source(&dir).is_some() {
            return Ok(dir);
        }
        self.ensure_image(broker, bytes)?;
        let device = self.attach(broker)?;
        if blockdev::format_if_blank(&device, self.fs)? {
            tracing::info!(%broker, device, fs = ?self.fs, "RBD volume formatted");
        }
        blockdev::mount(&device, &dir)?;
        tracing::info!(%broker, device, attach = ?self.attach, "RBD volume attached and mounted");
        Ok(dir)
    }

    fn release(&self, broker: BrokerId) -> Result<(), String> {
        let dir = blockdev::volume_dir(&self.mounts, broker);
        blockdev::unmount(&dir)?;
        self.detach(broker)?;
        self.delete_image(broker)?;
        blockdev::remove_dir(&dir)?;
        tracing::info!(%broker, image = self.spec(broker), "RBD volume released");
        Ok(())
    }

    fn capacity(&self) -> Result<StorageCapacity, String> {
        self.capacity.get(|| self.read_capacity())
    }
}
