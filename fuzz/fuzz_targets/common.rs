//! Shared by the whole-engine targets: the fuzzer's bytes as the records of a pcap file.

use std::path::PathBuf;

/// Writes `data` behind a little-endian Ethernet pcap header into a per-process temporary
/// file (`tag` keeps targets apart) and returns its path.
pub fn pcap_file(tag: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("v6watch-fuzz-{tag}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("in.pcap");
    let mut file = Vec::with_capacity(24 + data.len());
    file.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    file.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0]);
    file.extend_from_slice(data);
    std::fs::write(&path, &file).unwrap();
    path
}
