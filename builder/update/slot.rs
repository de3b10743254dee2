//! Writing into the slot's two partitions, and remembering how far, so a refused bundle is zeroed exactly there.
//!
//! The root's proven chunks are written with direct I/O (`O_DIRECT`) when the target takes it: measured on the
//! lab slot, `dd oflag=direct` wrote it in 0.72-0.76 s where buffered writes and `fdatasync` took 0.78-1.63 s,
//! because the page cache first copies everything and then writes it back in one burst at the sync, after the
//! hashing is over. Direct writes reach the disk while the next chunks are hashed, and on a host they do not push
//! the running VMs' pages out of the page cache with 1-2 GB nobody will read. The tree, the zeroing and any chunk
//! direct I/O refuses (a filesystem without it, a buffer or offset it finds misaligned: `EINVAL`) go through the
//! page cache; one `fdatasync` at the end covers both (the allocation of a sparse image's blocks, the disk's
//! write cache).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Context;

use super::gpt::SlotRegions;

/// The alignment direct I/O needs for buffers, offsets and lengths (the largest logical block size in use).
pub const DIRECT_ALIGN: usize = 4096;

/// The two partitions of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Root = 0,
    Verity = 1,
}

/// Writes into the slot (nothing on a dry run). Shared by the hashing threads, which write the chunks they
/// proved in any order: each partition's mark is the furthest byte written.
#[derive(Debug)]
pub struct SlotWriter<'a> {
    target: Option<&'a File>,
    /// The same target opened with `O_DIRECT`, while it accepts direct writes.
    direct: Option<File>,
    direct_ok: AtomicBool,
    regions: SlotRegions,
    written: [AtomicU64; 2],
}

impl<'a> SlotWriter<'a> {
    /// A writer into `target` (`path`, opened for writing by the caller; `None` for a dry run).
    pub fn new(target: Option<&'a File>, path: &Path, regions: SlotRegions) -> Self {
        let direct = target.and_then(|_| {
            OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
                .inspect_err(|e| {
                    log::debug!(
                        "{}: no direct I/O ({e}); writing through the page cache",
                        path.display()
                    )
                })
                .ok()
        });
        SlotWriter {
            target,
            direct_ok: AtomicBool::new(direct.is_some()),
            direct,
            regions,
            written: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    fn region(&self, part: Part) -> super::gpt::Region {
        match part {
            Part::Root => self.regions.root,
            Part::Verity => self.regions.verity,
        }
    }

    /// Writes `bytes` at `at` in `part` (callers have checked they fit the partition).
    pub fn put(&self, part: Part, at: u64, bytes: &[u8]) -> anyhow::Result<()> {
        let Some(t) = self.target else { return Ok(()) };
        let offset = self.region(part).offset + at;
        // Marked before the write: a write that fails halfway is zeroed too.
        self.written[part as usize].fetch_max(at + bytes.len() as u64, Ordering::SeqCst);
        if let Some(d) = &self.direct
            && part == Part::Root
            && self.direct_ok.load(Ordering::Relaxed)
            && aligned(bytes, offset)
        {
            match d.write_all_at(bytes, offset) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    log::debug!("direct I/O refused ({e}); writing through the page cache");
                    self.direct_ok.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(e).context("writing the slot"),
            }
        }
        t.write_all_at(bytes, offset).context("writing the slot")
    }

    /// True while root chunks go to the disk with direct I/O.
    pub fn direct(&self) -> bool {
        self.direct.is_some() && self.direct_ok.load(Ordering::Relaxed)
    }

    pub fn any_written(&self) -> bool {
        self.written.iter().any(|n| n.load(Ordering::SeqCst) > 0)
    }

    /// Bytes written into both partitions.
    pub fn bytes_written(&self) -> u64 {
        self.written.iter().map(|n| n.load(Ordering::SeqCst)).sum()
    }

    /// Makes everything written durable (data written directly, the page cache's, the file's metadata).
    pub fn sync(&self) -> anyhow::Result<()> {
        if let Some(t) = self.target {
            t.sync_data().context("syncing the target")?;
        }
        Ok(())
    }

    /// Zeroes what was written of the slot, and syncs.
    pub fn zero(&self) -> anyhow::Result<()> {
        let Some(t) = self.target else { return Ok(()) };
        const STEP: u64 = 4 << 20;
        let zeros = vec![0u8; STEP as usize];
        for part in [Part::Root, Part::Verity] {
            let n = self.written[part as usize].swap(0, Ordering::SeqCst);
            let base = self.region(part).offset;
            let mut at = 0;
            while at < n {
                let k = (n - at).min(STEP);
                t.write_all_at(&zeros[..k as usize], base + at)?;
                at += k;
            }
        }
        t.sync_data()?;
        Ok(())
    }
}

/// True when direct I/O can take `bytes` at `offset` as they are.
fn aligned(bytes: &[u8], offset: u64) -> bool {
    bytes.as_ptr() as usize % DIRECT_ALIGN == 0
        && bytes.len() % DIRECT_ALIGN == 0
        && offset % DIRECT_ALIGN as u64 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::gpt::Region;

    fn regions() -> SlotRegions {
        SlotRegions {
            root: Region {
                offset: 1 << 20,
                len: 1 << 20,
            },
            verity: Region {
                offset: 3 << 20,
                len: 1 << 20,
            },
            esp: Region {
                offset: 0,
                len: 1 << 20,
            },
        }
    }

    #[test]
    fn aligned_and_unaligned_writes_land_and_are_zeroed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::write(&path, vec![0xEEu8; 4 << 20]).unwrap();
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let w = SlotWriter::new(Some(&f), &path, regions());
        // An aligned 8 KiB chunk (direct where the filesystem has it), an unaligned one, the tree.
        let mut buf = vec![0x11u8; 8192 + DIRECT_ALIGN];
        let off = buf.as_ptr().align_offset(DIRECT_ALIGN);
        let chunk = &mut buf[off..off + 8192];
        w.put(Part::Root, 8192, chunk).unwrap();
        // Direct I/O wherever the filesystem under the test's temp folder has it (tmpfs has not).
        let has_direct = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .is_ok();
        assert_eq!(w.direct(), has_direct);
        w.put(Part::Root, 100, &[0x22; 10]).unwrap();
        w.put(Part::Verity, 0, &[0x33; 4096]).unwrap();
        w.sync().unwrap();
        let disk = std::fs::read(&path).unwrap();
        let root = &disk[1 << 20..2 << 20];
        assert!(root[8192..16384].iter().all(|&b| b == 0x11));
        assert!(root[100..110].iter().all(|&b| b == 0x22));
        assert_eq!(root[99], 0xEE);
        assert!(disk[3 << 20..(3 << 20) + 4096].iter().all(|&b| b == 0x33));
        assert_eq!(w.bytes_written(), 16384 + 4096);
        // Zeroed up to the furthest byte written in each partition, nothing beyond.
        w.zero().unwrap();
        let disk = std::fs::read(&path).unwrap();
        assert!(disk[1 << 20..(1 << 20) + 16384].iter().all(|&b| b == 0));
        assert_eq!(disk[(1 << 20) + 16384], 0xEE);
        assert!(disk[3 << 20..(3 << 20) + 4096].iter().all(|&b| b == 0));
        assert_eq!(disk[(3 << 20) + 4096], 0xEE);
        assert_eq!(disk[(1 << 20) - 1], 0xEE);
        assert!(!w.any_written());
    }

    #[test]
    fn a_dry_run_writes_nothing() {
        let w = SlotWriter::new(None, Path::new("/nonexistent"), regions());
        w.put(Part::Root, 0, &[1; 4096]).unwrap();
        assert!(!w.any_written());
        w.sync().unwrap();
        w.zero().unwrap();
    }
}
