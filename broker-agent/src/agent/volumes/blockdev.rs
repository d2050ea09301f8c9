//! The steps every block-device volume shares, each idempotent so that an agent can run
//! them again after a crash or restart: attach an image file to a loop device, put a
//! filesystem on a blank device, mount it, and undo all of that.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Runs a command; its trimmed stdout, or an error naming the command and its stderr.
pub fn run(cmd: &mut Command) -> Result<String, String> {
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

/// The device (or source) mounted at `dir`, if any (from /proc/mounts).
pub fn mounted_source(dir: &Path) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    let target = dir.to_str()?;
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (dev, at) = (f.next()?, f.next()?);
        (at == target).then(|| dev.to_owned())
    })
}

/// The filesystem a volume gets when it is blank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filesystem {
    Ext4,
    Xfs,
}

impl Filesystem {
    pub fn parse(text: &str) -> Result<Filesystem, String> {
        match text {
            "ext4" => Ok(Filesystem::Ext4),
            "xfs" => Ok(Filesystem::Xfs),
            other => Err(format!(
                "filesystem {other:?} is not supported; use ext4 or xfs"
            )),
        }
    }

    fn mkfs(self, device: &str) -> Command {
        let mut cmd;
        match self {
            Filesystem::Ext4 => {
                cmd = Command::new("mkfs.ext4");
                cmd.args(["-q", "-F", "-m", "0", device]);
            }
            Filesystem::Xfs => {
                cmd = Command::new("mkfs.xfs");
                cmd.args(["-q", "-f", device]);
            }
        }
        cmd
    }
}

/// The loop device `file` is attached to, if any.
fn loop_device_of(file: &Path) -> Result<Option<String>, String> {
    let listing = run(Command::new("losetup").arg("-j").arg(file))?;
    Ok(listing
        .lines()
        .next()
        .and_then(|l| l.split(':').next())
        .map(str::to_owned))
}

/// Attaches `file` to a loop device (or finds the one it is attached to already).
pub fn attach_loop(file: &Path) -> Result<String, String> {
    if let Some(device) = loop_device_of(file)? {
        return Ok(device);
    }
    run(Command::new("losetup").args(["--find", "--show"]).arg(file))
}

/// Detaches every loop device `file` is attached to.
pub fn detach_loop(file: &Path) -> Result<(), String> {
    while let Some(device) = loop_device_of(file)? {
        run(Command::new("losetup").args(["-d", &device]))?;
    }
    Ok(())
}

/// Makes a filesystem on `device` when it has none yet; a device that already carries
/// one (an agent restart, a moved volume) is never formatted again.
pub fn format_if_blank(device: &str, fs: Filesystem) -> Result<bool, String> {
    let probe = Command::new("blkid")
        .args(["-p", device])
        .output()
        .map_err(|e| format!("cannot run blkid: {e}"))?;
    match probe.status.code() {
        Some(0) => Ok(false),
        // blkid's "nothing found".
        Some(2) => run(&mut fs.mkfs(device)).map(|_| true),
        _ => Err(format!(
            "blkid {device} failed: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        )),
    }
}

/// Mounts `device` at `dir` unless something is mounted there already.
pub fn mount(device: &str, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if mounted_source(dir).is_some() {
        return Ok(());
    }
    run(Command::new("mount")
        .args(["-o", "noatime"])
        .arg(device)
        .arg(dir))
    .map(|_| ())
}

/// Unmounts `dir` if something is mounted there.
pub fn unmount(dir: &Path) -> Result<(), String> {
    if mounted_source(dir).is_some() {
        run(Command::new("umount").arg(dir))?;
    }
    Ok(())
}

/// Deletes a directory tree if it exists.
pub fn remove_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| format!("failed to delete {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Where the volume of `broker` is mounted under `root`.
pub fn volume_dir(root: &Path, broker: tideway_api::BrokerId) -> PathBuf {
    root.join(broker.to_string())
}
