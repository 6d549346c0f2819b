//! Printers: terminal tables, JSON, JSON Lines and CSV. They only format what the engine
//! produced; every string that could come from a packet goes through [`term::clean`].

pub mod addr;
pub mod answers;
pub mod events;
pub mod export;
pub mod fleet;
pub mod flows;
pub mod health;
pub mod peers;
pub mod report;
pub mod snapshot;
pub mod summary;
pub mod term;
pub mod timeline;

/// Writes `path` whole (`-`: standard output). A regular file (or one about to be made) is
/// written under a temporary name beside it and renamed over it, so a reader (a browser
/// reloading a live report, node_exporter) sees the old file or the new one, never half of one,
/// and a full disk leaves the old file in place; through a symlink, the file it points to is
/// replaced and the link kept. Anything else (`/dev/null`, `/dev/stdout`, a named pipe) is
/// written into: renaming over it would replace the device with a file (as root, a report
/// written to `/dev/null` used to leave a regular file there).
pub fn replace_whole(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if path == std::path::Path::new("-") {
        let mut out = std::io::stdout().lock();
        return out.write_all(bytes).and_then(|_| out.flush());
    }
    let target = match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => {
            let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
            return f.write_all(bytes).and_then(|_| f.flush());
        }
        Ok(_) if std::fs::symlink_metadata(path)?.file_type().is_symlink() => std::fs::canonicalize(path)?,
        _ => path.to_path_buf(),
    };
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = target.with_file_name(format!(".{name}.{}.v6watch-tmp", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_data()));
    written.and_then(|_| std::fs::rename(&tmp, &target)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
