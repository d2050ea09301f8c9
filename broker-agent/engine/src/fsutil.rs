//! Small durable file helpers, and the lock that keeps a data dir to one broker.

use std::{fs, io, io::Write, path::Path};

/// Replaces `path` with `data` atomically and durably: write a temporary file, fsync it,
/// rename it over the old one, fsync the directory. The file is readable by its owner only
/// (mode 0600), also while it is written: configs, credentials and metadata alike.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The lock file in a data dir.
pub const LOCK_FILE: &str = ".lock";

/// Takes the exclusive lock of a data dir for as long as the returned file is open (the
/// kernel drops it when the process ends, however it ends). A second broker on the same
/// data dir is refused instead of writing beside the first.
pub fn lock_dir(dir: &Path) -> io::Result<fs::File> {
    let path = dir.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(file),
        Err(fs4::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "{} is in use by another broker (it holds {}); two brokers never share a data dir",
                dir.display(),
                path.display()
            ),
        )),
        Err(fs4::TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_files_are_private_to_their_owner() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("broker.toml");
        std::fs::write(&path, "old").expect("an old world-readable file");
        super::write_atomic(&path, b"new").expect("write");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
    }
}
