//! `local-ssd` volumes: a directory per broker on a local filesystem, or a real block
//! device per broker — an image file attached to a loop device, formatted on first use and
//! mounted (the way a local SSD partition or LUN is prepared).

use std::path::{Path, PathBuf};

use tideway_api::{agents::StorageCapacity, clusters::StorageBackend, BrokerId};

use super::{
    blockdev::{self, Filesystem},
    statvfs_capacity, VolumeDriver,
};

/// How a local-ssd backend lays out broker volumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalLayout {
    /// `local-ssd=PATH`: a directory per broker under PATH.
    Directory(PathBuf),
    /// `local-ssd=loop:PATH`: an image file per broker under PATH, attached to a loop
    /// device, formatted ext4 and mounted at PATH/<broker>.
    LoopDevice(PathBuf),
}

impl LocalLayout {
    /// Parses the LOCATION of `local-ssd=LOCATION`.
    pub fn parse(location: &str) -> Result<LocalLayout, String> {
        if location.is_empty() {
            return Err("local-ssd needs a path: local-ssd=PATH or local-ssd=loop:PATH".into());
        }
        Ok(match location.strip_prefix("loop:") {
            Some(path) => LocalLayout::LoopDevice(PathBuf::from(path)),
            None => LocalLayout::Directory(PathBuf::from(location)),
        })
    }

    pub fn root(&self) -> &Path {
        match self {
            LocalLayout::Directory(p) | LocalLayout::LoopDevice(p) => p,
        }
    }

    fn image(root: &Path, broker: BrokerId) -> PathBuf {
        root.join(format!("{broker}.img"))
    }
}

impl VolumeDriver for LocalLayout {
    fn backend(&self) -> StorageBackend {
        StorageBackend::LocalSsd
    }

    fn prepare(&self, broker: BrokerId, bytes: u64) -> Result<PathBuf, String> {
        let dir = blockdev::volume_dir(self.root(), broker);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
        let LocalLayout::LoopDevice(root) = self else {
            return Ok(dir);
        };
        if blockdev::mounted_source(&dir).is_some() {
            return Ok(dir);
        }
        let image = Self::image(root, broker);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&image)
            .map_err(|e| format!("failed to create {}: {e}", image.display()))?;
        if file.metadata().map(|m| m.len()).unwrap_or(0) < bytes {
            file.set_len(bytes)
                .map_err(|e| format!("failed to size {}: {e}", image.display()))?;
        }
        let device = blockdev::attach_loop(&image)?;
        blockdev::format_if_blank(&device, Filesystem::Ext4)?;
        blockdev::mount(&device, &dir)?;
        tracing::info!(%broker, device, "volume attached and mounted");
        Ok(dir)
    }

    fn release(&self, broker: BrokerId) -> Result<(), String> {
        let dir = blockdev::volume_dir(self.root(), broker);
        if let LocalLayout::LoopDevice(root) = self {
            blockdev::unmount(&dir)?;
            let image = Self::image(root, broker);
            if image.exists() {
                blockdev::detach_loop(&image)?;
                std::fs::remove_file(&image)
                    .map_err(|e| format!("failed to delete {}: {e}", image.display()))?;
            }
        }
        blockdev::remove_dir(&dir)
    }

    fn capacity(&self) -> Result<StorageCapacity, String> {
        statvfs_capacity(self.backend(), self.root())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blockdev::{mounted_source, run};
    use std::process::Command;

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
    /// a loop device, mounted, surviving a second prepare and a remount (never formatted
    /// twice), then unmounted and detached.
    #[test]
    fn loop_device_volumes_are_formatted_mounted_and_released() {
        let root = tempfile::tempdir().expect("dir");
        let layout = LocalLayout::LoopDevice(root.path().to_owned());
        let b = BrokerId::new();
        let dir = layout
            .prepare(b, 64 << 20)
            .expect("prepare (needs root and /dev/loop*)");
        let device = mounted_source(&dir).expect("mounted");
        assert!(device.starts_with("/dev/loop"), "{device}");
        let mounts = std::fs::read_to_string("/proc/mounts").expect("mounts");
        assert!(mounts
            .lines()
            .any(|l| l.contains(dir.to_str().expect("utf8")) && l.contains(" ext4 ")));
        std::fs::write(dir.join("segment"), b"data").expect("write");
        assert_eq!(layout.prepare(b, 64 << 20).expect("again"), dir);
        assert_eq!(
            mounted_source(&dir).as_deref(),
            Some(device.as_str()),
            "not mounted twice"
        );
        // As after a host reboot: unmounted, still attached; preparing remounts the data.
        blockdev::unmount(&dir).expect("umount");
        layout.prepare(b, 64 << 20).expect("remount");
        assert_eq!(
            std::fs::read(dir.join("segment")).expect("data kept"),
            b"data"
        );
        layout.release(b).expect("release");
        assert!(mounted_source(&dir).is_none() && !dir.exists());
        assert!(!root.path().join(format!("{b}.img")).exists());
        let attached = run(Command::new("losetup").arg("-a")).expect("losetup");
        assert!(
            !attached.contains(&format!("{b}.img")),
            "the loop device was detached: {attached}"
        );
    }
}
