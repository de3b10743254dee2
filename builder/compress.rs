//! Deterministic multi-threaded zstd for `disk.raw.zst`.
//!
//! zstd's multi-threaded output depends on its parameters, not on timing; the worker count is fixed (not taken
//! from the machine's core count) so every builder produces the same bytes, and the content size is recorded
//! in the frame header.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;

use crate::artifact::Staged;
use crate::ui::{Progress, ProgressReader};

/// zstd level: 3 (zstd's default) balances speed and size for sparse disk images.
pub const LEVEL: i32 = 3;
/// Fixed worker count (see module comment).
pub const WORKERS: u32 = 4;

/// Compresses `src` into `dst` atomically.
pub fn zstd_file(src: &Path, dst: &Path) -> anyhow::Result<()> {
    let len = std::fs::metadata(src)?.len();
    let progress = Progress::bytes(format!("compressing {}", src.display()), len);
    let input = std::fs::File::open(src).with_context(|| format!("opening {}", src.display()))?;
    let mut reader =
        ProgressReader::new(std::io::BufReader::with_capacity(1 << 20, input), &progress);
    let mut out = Staged::create(dst)?;
    {
        let mut enc = zstd::stream::write::Encoder::new(out.file(), LEVEL)?;
        enc.multithread(WORKERS)?;
        enc.include_contentsize(true)?;
        enc.set_pledged_src_size(Some(len))?;
        enc.include_checksum(true)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            enc.write_all(&buf[..n])?;
        }
        enc.finish()?;
    }
    out.commit()?;
    progress.finish(format!("{} bytes in", len));
    Ok(())
}
