//! Broker volumes on local storage, behind one interface: a directory per broker, or a
//! real block device per broker — an image file attached to a loop device, formatted
//! ext4 on first use and mounted (the way a local SSD partition or LUN is prepared).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use tideway_api::BrokerId;

/// How a local-ssd backend lays out broker volumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalLayout {
    /// `local-ssd=PATH`: a directory per broker under PATH.
    Directory(PathBuf),
    /// `local-ssd=loop:PATH`: an image file per broker under PATH, attached to a loop
    /// device, formatted ext4 and mounted at PATH/<broker>.
    LoopDevice(PathBuf),
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The device mounted at `dir`, if any (from /proc/mounts).
fn mounted_device(dir: &Path) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    let target = dir.to_str()?;
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (dev, at) = (f.next()?, f.next()?);
        (at == target).then(|| dev.to_owned())
    })
}

impl LocalLayout {
    pub fn root(&self) -> &Path {
        match self {
            LocalLayout::Directory(p) | LocalLayout::LoopDevice(p) => p,
        }
    }

    /// Prepares the volume of `broker` (`bytes` big) and returns where its data goes.
    /// Preparing an already prepared volume changes nothing (agents restart).
    pub fn prepare(&self, broker: BrokerId, bytes: u64) -> Result<PathBuf, String> {
        let dir = self.root().join(broker.to_string());
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
        let LocalLayout::LoopDevice(root) = self else {
            return Ok(dir);
        };
        if mounted_device(&dir).is_some() {
            return Ok(dir);
        }
        let image = root.join(format!("{broker}.img"));
        let fresh = !image.exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&image)
            .map_err(|e| format!("failed to create {}: {e}", image.display()))?;
        file.set_len(bytes)
            .map_err(|e| format!("failed to size {}: {e}", image.display()))?;
        let device = run(Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&image))?;
        if fresh {
            run(Command::new("mkfs.ext4").args(["-q", "-F", "-m", "0", &device]))?;
        }
        run(Command::new("mount").arg(&device).arg(&dir)).inspect_err(|_| {
            let _ = run(Command::new("losetup").args(["-d", &device]));
        })?;
        tracing::info!(%broker, device, "volume attached and mounted");
        Ok(dir)
    }

    /// Releases the volume of `broker`: unmounts and detaches it, and deletes its data.
    pub fn release(&self, broker: BrokerId) -> Result<(), String> {
        let dir = self.root().join(broker.to_string());
        if let LocalLayout::LoopDevice(root) = self {
            if let Some(device) = mounted_device(&dir) {
                run(Command::new("umount").arg(&dir))?;
                run(Command::new("losetup").args(["-d", &device]))?;
            }
            let image = root.join(format!("{broker}.img"));
            if image.exists() {
                std::fs::remove_file(&image)
                    .map_err(|e| format!("failed to delete {}: {e}", image.display()))?;
            }
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("failed to delete {}: {e}", dir.display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_volumes_are_created_and_released() {
        let root = tempfile::tempdir().expect("dir");
        let layout = LocalLayout::Directory(root.path().to_owned());
        let b = BrokerId::new();
        let dir = layout.prepare(b, 1 << 30).expect("prepare");
        std::fs::write(dir.join("data"), b"x").expect("write");
        assert_eq!(
            layout.prepare(b, 1 << 30).expect("again"),
            dir,
            "idempotent"
        );
        assert!(dir.join("data").exists(), "preparing again keeps the data");
        layout.release(b).expect("release");
        assert!(!dir.exists());
    }

    /// Needs root and loop devices (the CI machines have both): a real ext4 filesystem on
    /// a loop device, mounted, surviving a second prepare, then unmounted and detached.
    #[test]
    fn loop_device_volumes_are_formatted_mounted_and_released() {
        let root = tempfile::tempdir().expect("dir");
        let layout = LocalLayout::LoopDevice(root.path().to_owned());
        let b = BrokerId::new();
        let dir = layout
            .prepare(b, 64 << 20)
            .expect("prepare (needs root and /dev/loop*)");
        let device = mounted_device(&dir).expect("mounted");
        assert!(device.starts_with("/dev/loop"), "{device}");
        let mounts = std::fs::read_to_string("/proc/mounts").expect("mounts");
        assert!(mounts
            .lines()
            .any(|l| l.contains(dir.to_str().expect("utf8")) && l.contains(" ext4 ")));
        std::fs::write(dir.join("segment"), b"data").expect("write");
        assert_eq!(layout.prepare(b, 64 << 20).expect("again"), dir);
        assert_eq!(
            mounted_device(&dir).as_deref(),
            Some(device.as_str()),
            "not mounted twice"
        );
        layout.release(b).expect("release");
        assert!(mounted_device(&dir).is_none() && !dir.exists());
        assert!(!root.path().join(format!("{b}.img")).exists());
        let attached = run(Command::new("losetup").arg("-a")).expect("losetup");
        assert!(
            !attached.contains(&format!("{b}.img")),
            "the loop device was detached: {attached}"
        );
    }
}
