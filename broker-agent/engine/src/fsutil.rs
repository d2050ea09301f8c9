//! Small durable file helpers, and the lock that keeps a data dir to one broker.

use std::{fs, io, io::Write, path::Path};

/// Replaces `path` with `data` atomically and durably: write a temporary file, fsync it,
/// rename it over the old one, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
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
